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
