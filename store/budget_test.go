package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// exponentialTemplate is t0 … t59, each calling the one below twice: a few
// lines that would write 2^60 bytes.
func exponentialTemplate(call string) string {
	var b strings.Builder
	b.WriteString(`{{define "t0"}}xx{{end}}`)
	for i := 1; i < 60; i++ {
		fmt.Fprintf(&b, `{{define "t%d"}}{{template "t%d" .}}{{template "t%d" .}}{{end}}`, i, i-1, i-1)
	}
	b.WriteString(call)
	return b.String()
}

// runaways are templates that would run away without the render budget,
// and the limit each must hit.
var runaways = []struct {
	name, body, limit string
}{
	{"exponential output", exponentialTemplate(`Hi {{template "t59" .}}`), "steps"},
	{"exponential, no output", strings.ReplaceAll(exponentialTemplate(`{{template "t59" .}}`), "xx", ""), "steps"},
	{"a loop that writes nothing", `{{range 100000000000}}{{end}}`, "steps"},
	{"a loop that writes", `{{range 1000000}}{{$.name}} is a long line of text that repeats {{end}}`, "1 MiB"},
	{"a string that doubles", `{{$x := "ab"}}{{range 64}}{{$x = print $x $x}}{{end}}{{$x}}`, "value the template builds"},
	{"a huge printf width", `{{printf "%0999999d%0999999d%0999999d" 1 2 3}}`, "value the template builds"},
	{"printf widths from a variable format", `{{$f := "%0999999d"}}{{range 20}}{{$f = print $f $f}}{{end}}{{printf $f 1}}`, "value the template builds"},
	{"html of a growing value", `{{$x := "<<<<"}}{{range 64}}{{$x = html $x $x}}{{end}}`, "value the template builds"},
}

func TestRunawayTemplatesStopAtTheRenderBudget(t *testing.T) {
	ct := &Contact{ID: 1, Address: "ann@example.com", Name: "Ann", Fields: map[string]string{"name": "Ann"}}
	for _, tc := range runaways {
		t.Run(tc.name, func(t *testing.T) {
			c := &Campaign{Name: "x", Subject: "s", Body: tc.body}
			r, err := NewRenderer(c)
			if err != nil {
				t.Fatalf("NewRenderer: %v", err)
			}
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err = r.Render(ct)
			took := time.Since(start)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrRenderBudget) || fe.Field != "body" {
				t.Fatalf("Render: %v (%T), want a body *FieldError over the render budget", err, err)
			}
			// Under -race, CPU time may run out first.
			if !(strings.Contains(fe.Msg, tc.limit) || strings.Contains(fe.Msg, "more than 1s of CPU")) || !strings.Contains(fe.Msg, "render budget") {
				t.Errorf("the message %q does not name the limit (%s)", fe.Msg, tc.limit)
			}
			// The time it took is logged, not asserted: under -race on a
			// busy machine the clock says little. The real binary's CPU
			// time is asserted in the end-to-end tests.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<20 {
				t.Errorf("allocated %d MB on the way", grew>>20)
			}
			t.Logf("%v in %v: %s", fe.Field, took, fe.Error())

			// Saving the campaign finds the same, for a contact that has every field.
			vc := Campaign{Name: "x", Channel: ChannelFile, Subject: "s", Body: tc.body}
			verr := vc.Validate()
			var ve *ValidationError
			if !errors.As(verr, &ve) || ve.Field("body") == nil || !errors.Is(ve.Field("body"), ErrRenderBudget) {
				t.Errorf("Validate: %v, want the body over the render budget", verr)
			}
		})
	}
}

func TestRenderBudgetSparesOrdinaryTemplates(t *testing.T) {
	ct := &Contact{ID: 1, Address: "ann@example.com", Fields: map[string]string{"name": "Ann", "city": "Oslo", "plan": "gold"}}
	body := `{{define "sig"}}-- {{.name}}{{end}}Hi {{.name}}{{if eq .plan "gold"}}, gold member{{end}}
{{range $k, $v := .}}{{$k}}={{$v}} {{end}}
{{printf "%-10s|%5.2f" .city 3.14159}} {{html "<b>"}} {{js "it's"}} {{urlquery "a b"}} {{len .name}}
{{range 100}}.{{end}}
{{template "sig" .}}`
	c := Campaign{Name: "x", Channel: ChannelFile, Subject: "Hello {{.name}}", Body: body}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(&c)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := r.Render(ct)
	if err != nil {
		t.Fatal(err)
	}
	want := "Hi Ann, gold member\naddress=ann@example.com city=Oslo name=Ann plan=gold \nOslo      | 3.14 &lt;b&gt; it\\'s a+b 3\n" + strings.Repeat(".", 100) + "\n-- Ann"
	if msg.Body != want {
		t.Errorf("body\n got %q\nwant %q", msg.Body, want)
	}
	// Just under the limits renders; just over fails.
	big := strings.Repeat("a", MaxBodyBytes-4)
	if _, err := renderBody(t, "{{.big}}1234", map[string]string{"big": big}); err != nil {
		t.Errorf("a body of exactly the limit: %v", err)
	}
	if _, err := renderBody(t, "{{.big}}12345", map[string]string{"big": big}); !errors.Is(err, ErrRenderBudget) {
		t.Errorf("a body one byte over the limit: %v", err)
	}
	if _, err := renderBody(t, "{{if .big}}{{.big}}12345{{end}}", map[string]string{"big": big}); !errors.Is(err, ErrRenderBudget) {
		t.Errorf("a body one byte over the limit (text/template): %v", err)
	}
}

func renderBody(t *testing.T, body string, fields map[string]string) (Message, error) {
	t.Helper()
	r, err := NewRenderer(&Campaign{Subject: "s", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return r.Render(&Contact{Address: "a@example.com", Fields: fields})
}

func TestRecursiveTemplatesAreRefused(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`, `template "a" calls itself`},
		{"{{define \"a\"}}x{{template \"b\" .}}{{end}}\n{{define \"b\"}}{{if .x}}{{template \"a\" .}}{{end}}{{end}}{{template \"a\" .}}",
			`"a" → "b" → "a"`},
	} {
		fe := CheckTemplate("body", tc.body)
		if fe == nil || !strings.Contains(fe.Msg, tc.want) || fe.Line == 0 {
			t.Errorf("%q: %v, want %q with a line", tc.body, fe, tc.want)
		}
	}
}

func TestCancelledRenderingStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := NewRenderer(&Campaign{Subject: "s", Body: `{{range 50}}{{.name}}{{end}}`})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.WithContext(ctx).Render(&Contact{Fields: map[string]string{"name": "x"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
