package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestDecodeContactMatchesEncodingJSON(t *testing.T) {
	now := time.Date(2026, 11, 28, 21, 0, 0, 123456789, time.UTC)
	cases := []Contact{
		{ID: 1, Address: "a@example.com", CreatedAt: now, UpdatedAt: now},
		{ID: 2, Address: "b@example.com", Name: "Bée \"quoted\" <tag> & co\n\t\u2028", Fields: map[string]string{"city": "Zürich", "x": "\\", "emoji": "😀"},
			Tags: []string{"a", "b"}, CreatedAt: now, UpdatedAt: now.Add(time.Hour), ImportID: "abc", ImportRow: 12},
		{ID: 3, Address: "+4712345678", Fields: map[string]string{}, Tags: []string{}, CreatedAt: now.In(time.FixedZone("x", 3600)), UpdatedAt: now},
	}
	for _, c := range cases {
		raw, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		var want, got Contact
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if err := fastDecodeContact(raw, &got); err != nil {
			t.Fatalf("fast path refused %s: %v", raw, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decode %s:\n got %#v\nwant %#v", raw, got, want)
		}
		addr, err := contactAddress(raw)
		if err != nil || addr != c.Address {
			t.Errorf("contactAddress = %q, %v", addr, err)
		}
	}
	// Unknown or malformed input falls back to encoding/json and its errors.
	var c Contact
	if err := decodeContact([]byte(`{"id":1,"address":"a@b.c","extra":{"n":1}}`), &c); err != nil || c.Address != "a@b.c" {
		t.Errorf("fallback: %+v %v", c, err)
	}
	if err := decodeContact([]byte(`{"id":`), &c); err == nil {
		t.Error("a truncated record decoded")
	}
}

func FuzzDecodeContact(f *testing.F) {
	f.Add([]byte(`{"id":2,"address":"b@example.com","name":"B","fields":{"k":"v"},"tags":["t"],"created_at":"2026-11-28T21:00:00Z","updated_at":"2026-11-28T21:00:00Z"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var fast, slow Contact
		errFast := fastDecodeContact(raw, &fast)
		errSlow := json.Unmarshal(raw, &slow)
		if errFast == nil && errSlow == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast %#v != json %#v for %q", fast, slow, raw)
		}
	})
}
