package store

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"tui/internal/jsonstr"
)

// The hand-made contact encoder must write exactly what json.Marshal writes.

var jsonStrings = []string{
	"", "plain", "Ada Lovelace", `quote " and backslash \`, "<b>&amp;</b>", "tab\there\nnew\rline",
	"\b\f\x00\x01\x1f\x7f", "é ü 日本 🎉", "\u2028\u2029", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate",
	"{{.name}}", "a,b;c", "\ufeffbom", "\ufffd",
}

func checkContactJSON(t *testing.T, c *Contact) {
	t.Helper()
	want, wantErr := json.Marshal(c)
	got, err := appendContact([]byte("prefix"), c)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("error %v, json.Marshal's %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("encoded\n%s\njson.Marshal\n%s", got[len("prefix"):], want)
	}
}

func TestAppendContactMatchesEncodingJSON(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 30, 15, 123456789, time.UTC)
	cases := []Contact{
		{},
		{ID: 1, Address: "a@example.com", Tags: []string{}, CreatedAt: now, UpdatedAt: now},
		{ID: 1<<64 - 1, Address: "+4420", Name: "N", Fields: map[string]string{}, Tags: []string{"a", "b"},
			CreatedAt: now, UpdatedAt: now.Add(time.Hour), ImportID: "abc", ImportRow: 1 << 40},
		{ID: 2, Fields: map[string]string{"z": "1", "a": "2", "é": "3", "A": "4", "<": ">", "": "empty"}},
		{CreatedAt: time.Date(2025, 3, 1, 9, 30, 0, 0, time.FixedZone("x", 5*3600+1800))},
		{CreatedAt: time.Date(2025, 3, 1, 9, 30, 0, 0, time.FixedZone("odd", 3600+7))},
		{UpdatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{UpdatedAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{CreatedAt: now.Local()},
		{ImportRow: -3},
	}
	for _, c := range cases {
		checkContactJSON(t, &c)
	}
	for _, s := range jsonStrings {
		c := Contact{Address: s, Name: s, Fields: map[string]string{s: s, "k": s}, Tags: []string{s}, ImportID: s}
		checkContactJSON(t, &c)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return jsonStrings[rng.IntN(len(jsonStrings))] }
	for i := 0; i < 2000; i++ {
		c := Contact{ID: rng.Uint64(), Address: pick(), Kind: []AddressKind{"", KindEmail, KindPhone, KindPSID}[rng.IntN(4)], Name: pick(), ImportID: pick(), ImportRow: rng.IntN(3) * rng.Int(),
			CreatedAt: now.Add(time.Duration(rng.Int64N(1 << 50))), UpdatedAt: now.Add(-time.Duration(rng.Int64N(1 << 50)))}
		if rng.IntN(4) > 0 {
			c.Fields = map[string]string{}
			for j := rng.IntN(6); j > 0; j-- {
				c.Fields[pick()+pick()] = pick() + pick()
			}
		}
		if rng.IntN(4) > 0 {
			c.Tags = []string{}
			for j := rng.IntN(3); j > 0; j-- {
				c.Tags = append(c.Tags, pick())
			}
		}
		checkContactJSON(t, &c)
	}
}

// The import's encoder for new contacts writes what the general one writes
// for the same contact.
func TestAppendNewContactMatchesAppendContact(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 30, 15, 5, time.UTC)
	for _, names := range [][]string{nil, {"name"}, {"zip", "city", "name", "Ünïcode", "<x>"}} {
		for _, tags := range [][]string{{}, {"a", "b<"}} {
			for _, value := range jsonStrings {
				w := &importWriter{tags: tags, importID: "imp1", nameIdx: -1}
				w.fieldNames = names
				c := Contact{ID: 7, Address: "x@example.com", Kind: KindEmail, Tags: tags, CreatedAt: now, UpdatedAt: now, ImportID: "imp1", ImportRow: 3}
				values := make([]string, len(names))
				for i, n := range names {
					values[i] = value + n
					if c.Fields == nil {
						c.Fields = map[string]string{}
					}
					c.Fields[n] = values[i]
					if n == "name" {
						w.nameIdx = i
						c.Name = values[i]
					}
				}
				// What newImportWriter prepares, by hand.
				w.order = sortedOrder(names)
				for _, i := range w.order {
					w.shared.fieldKeys = append(w.shared.fieldKeys, jsonstr.Append(nil, names[i]))
				}
				w.shared.tags = appendTagsJSON(nil, tags)
				w.shared.importID = appendImportIDJSON(nil, "imp1")
				w.shared.times = appendTimesJSON(nil, now, now)
				sorted := make([]string, len(values))
				for j, k := range w.order {
					sorted[j] = values[k]
				}
				got := appendNewContact(nil, &w.shared, 7, c.Address, c.Kind, c.Name, sorted, 3)
				want, _ := json.Marshal(&c)
				if !bytes.Equal(got, want) {
					t.Fatalf("names %v value %q:\n got %s\nwant %s", names, value, got, want)
				}
			}
		}
	}
}

func sortedOrder(names []string) []int {
	order := make([]int, len(names))
	for i := range order {
		order[i] = i
	}
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && names[order[j]] < names[order[j-1]]; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	return order
}

// decodeContact must read exactly what json.Unmarshal reads, whatever the
// bytes: a damaged record must not decode differently on the fast path.
func FuzzDecodeContactExact(f *testing.F) {
	now := time.Date(2025, 3, 1, 9, 30, 15, 5, time.UTC)
	for _, c := range []Contact{
		{ID: 1, Address: "a@example.com", Name: "A", Fields: map[string]string{"city": "Paris"}, Tags: []string{"x"}, CreatedAt: now, UpdatedAt: now, ImportID: "i", ImportRow: 2},
		{ID: 2, Address: "+4420", Tags: []string{}},
	} {
		raw, _ := json.Marshal(&c)
		f.Add(raw)
	}
	for _, raw := range []string{`{}`, `{}x`, "{}\x00", `{"id":00}`, `{"id":1}` + "\x00", `{"fields":{"a":"1"},"fields":{"b":"2"}}`, `{"import_row":-1}`} {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want Contact
		wantErr := json.Unmarshal(raw, &want)
		var got Contact
		err := decodeContact(raw, &got)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, json.Unmarshal's %v", raw, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", raw, got, want)
		}
	})
}
