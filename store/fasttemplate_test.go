package store

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// The fast renderer must be indistinguishable from text/template: same
// output, same errors with the same line and column.
func TestFastRenderMatchesTextTemplate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	texts := []string{"Hello ", "é ", "\n", "—line\n\n", "{{/* c */}}", "{{- \" x \" -}}", "  ", "ä\tb"}
	fields := []string{"name", "city", "address", "zip", "first_name"}
	contacts := []Contact{
		{Address: "a@example.com", Name: "Ann", Fields: map[string]string{"city": "Oslo", "zip": "0150"}},
		{Address: "b@example.com", Fields: map[string]string{"name": "Bob", "city": "Zürich", "first_name": "B", "zip": "8000", "address": "ignored"}},
		{Address: "c@example.com"},
	}
	fastSeen, slowOnly := 0, 0
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		for j := rng.IntN(8); j >= 0; j-- {
			if rng.IntN(2) == 0 {
				b.WriteString(texts[rng.IntN(len(texts))])
			} else {
				sp := []string{"", " ", "- ", " -"}[rng.IntN(4)]
				fmt.Fprintf(&b, "{{%s.%s%s}}", strings.TrimSuffix(sp, "-"), fields[rng.IntN(len(fields))], strings.TrimPrefix(sp, "-"))
				if sp == "- " {
					b.Reset()
					b.WriteString("x {{- .name}}")
				}
			}
		}
		body := b.String()
		c := Campaign{Subject: "S {{.name}}", Body: body}
		r, err := NewRenderer(&c)
		if err != nil {
			continue
		}
		if r.fastBody != nil {
			fastSeen++
		} else {
			slowOnly++
		}
		for k := range contacts {
			fast, errFast := r.Render(&contacts[k])
			slow, errSlow := r.renderSlow(&contacts[k])
			if fast != slow || !reflect.DeepEqual(errFast, errSlow) {
				t.Fatalf("template %q, contact %d:\nfast %q %#v\nslow %q %#v", body, k, fast, errFast, slow, errSlow)
			}
		}
	}
	if fastSeen < 1000 {
		t.Fatalf("only %d of the templates took the fast path (%d did not)", fastSeen, slowOnly)
	}
	// Anything else goes through text/template.
	for _, body := range []string{"{{if .name}}x{{end}}", "{{.name | printf \"%q\"}}", "{{$x := .name}}{{$x}}", "{{.a.b}}", "{{define \"t\"}}x{{end}}y"} {
		c := Campaign{Body: body}
		r, err := NewRenderer(&c)
		if err != nil {
			continue
		}
		if r.fastBody != nil {
			t.Errorf("%q took the fast path", body)
		}
	}
}

// rawRecords are contact records as stored, and oddities the raw path must
// either read exactly as decoding does or leave to decoding.
var rawRecords = []string{
	`{"id":1,"address":"a@example.com","name":"Ann","fields":{"city":"Oslo","zip":"0150"},"tags":["all"],"created_at":"2026-11-28T21:00:00Z","updated_at":"2026-11-28T21:00:00Z"}`,
	`{"id":2,"address":"b@example.com","fields":{"address":"ignored","city":"Zürich","first_name":"B","name":"Bob","zip":"8000"},"tags":[],"created_at":"x","updated_at":"y","import_id":"i","import_row":7}`,
	`{"id":3,"address":"c@example.com"}`,
	`{"id":4,"address":"d@example.com","name":"","fields":null,"tags":null}`,
	` { "id" : 5 , "address" : "e@example.com" , "name" : "Eve" , "fields" : { "city" : "Bergen" } } `,
	`{"id":6,"address":"f@example.com","name":"Fé \"q\"","fields":{"city":"a\nb"}}`,
	`{"id":7,"address":"g@example.com","fields":{"ci\u0074y":"Rome","name":"N"}}`,
	`{"id":8,"address":"h@example.com","fields":{"city":"x","city":"y"},"name":"H","name":"I"}`,
	`{"id":9,"address":"i@example.com","fields":{"city":"x"},"fields":{"zip":"1"}}`,
	`{"id":10,"address":"j@example.com","extra":1,"fields":{"city":"x"}}`,
	`{"id":12345678901234567890,"address":"k@example.com","fields":{"city":"x"}}`,
	`{"id":011,"address":"l@example.com"}`,
	`{"id":-1,"address":"m@example.com"}`,
	`{"id":1,"address":"n@example.com","fields":{"city":"\xff"}}`,
	`{"id":1,"address":"o@example.com","fields":{"city":"tab	in"}}`,
	`{"id":1,"address":"p@example.com","fields":{"city":1}}`,
	`{"id":1,"address":"q@example.com","import_row":-3,"fields":{"city":"😀"}}`,
	`{"id":1,"address":"r@example.com"} x`,
	`{"id":1,"address":"s@example.com",}`,
	`{}`,
	`{"id":`,
	`[]`,
	``,
}

// decodeAndRender is the path RenderRaw must match: decode the record,
// then render it.
func decodeAndRender(r *Renderer, raw RawContact) (Message, error) {
	ct, err := raw.DecodeForMessage()
	if err != nil {
		return Message{}, err
	}
	return r.Render(&ct)
}

// RenderRaw and CheckRaw must be indistinguishable from decoding the record
// and rendering it: the same message, the same error.
func TestRenderRawMatchesDecodeAndRender(t *testing.T) {
	templates := []string{"Hello {{.name}} from {{.city}}", "{{.address}}: {{.zip}}", "plain", "{{.first_name}}{{.name}}{{.name}}",
		"{{.missing}}", "{{if .name}}x{{end}}", "é {{.city}}\n{{.address}}"}
	rawSeen := 0
	for _, subject := range templates {
		for _, body := range templates {
			r, err := NewRenderer(&Campaign{Subject: subject, Body: body})
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range rawRecords {
				raw := RawContact(rec)
				want, wantErr := decodeAndRender(r, raw)
				got, err := r.RenderRaw(raw)
				if got != want || !reflect.DeepEqual(err, wantErr) {
					t.Fatalf("subject %q body %q record %s:\nraw     %q %#v\ndecoded %q %#v", subject, body, rec, got, err, want, wantErr)
				}
				if err := r.CheckRaw(raw); !reflect.DeepEqual(err, wantErr) {
					t.Fatalf("subject %q body %q record %s: CheckRaw %#v, want %#v", subject, body, rec, err, wantErr)
				}
				var scanned rawRecord
				if _, _, ok := r.rawSizes(raw, &scanned); ok {
					rawSeen++
				}
			}
		}
	}
	if rawSeen < 50 {
		t.Fatalf("only %d renders took the raw path", rawSeen)
	}
}

func FuzzRenderRaw(f *testing.F) {
	for _, rec := range rawRecords {
		f.Add([]byte(rec))
	}
	r, err := NewRenderer(&Campaign{Subject: "Hi {{.name}}", Body: "{{.address}} {{.city}} {{.zip}}"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		raw := RawContact(rec)
		want, wantErr := decodeAndRender(r, raw)
		got, err := r.RenderRaw(raw)
		if got != want || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("record %q:\nraw     %q %v\ndecoded %q %v", rec, got, err, want, wantErr)
		}
	})
}
