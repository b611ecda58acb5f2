package store

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestCheckTemplatePositions(t *testing.T) {
	cases := []struct {
		text      string
		line, col int
		msg       string
	}{
		{"Hi {{.name", 1, 0, "unclosed action"},
		{"Hello\nthere {{if .vip}}", 2, 0, "unexpected EOF"},
		{"a\n\n  {{.x | shout}}", 3, 0, `function "shout" not defined`},
		{"one\ntwo\n{{end}}", 3, 0, "unexpected {{end}}"},
		{"{{range}}", 1, 0, "missing value for range"},
	}
	for _, tc := range cases {
		fe := CheckTemplate("body", tc.text)
		if fe == nil {
			t.Errorf("%q: no error", tc.text)
			continue
		}
		if fe.Field != "body" || fe.Line != tc.line || fe.Col != tc.col || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("%q: got field %s line %d col %d msg %q; want body line %d col %d msg containing %q",
				tc.text, fe.Field, fe.Line, fe.Col, fe.Msg, tc.line, tc.col, tc.msg)
		}
		if strings.Contains(fe.Msg, "template: body") {
			t.Errorf("%q: message %q repeats the Go prefix", tc.text, fe.Msg)
		}
	}
	for _, ok := range []string{"", "plain", "Hi {{.name}}, {{if .city}}from {{.city}}{{end}}"} {
		if fe := CheckTemplate("body", ok); fe != nil {
			t.Errorf("%q: %v", ok, fe)
		}
	}
}

// An action left open is reported where the template ends; the line it
// started on comes as data, not as text/template's "started at body:2".
func TestCheckTemplateActionStart(t *testing.T) {
	fe := CheckTemplate("body", "x\n{{ (\n}}")
	if fe == nil {
		t.Fatal("no error")
	}
	if fe.Line != 3 || fe.StartLine != 2 || fe.Msg != "unclosed left paren in action" {
		t.Errorf("got line %d start %d msg %q; want line 3 start 2 msg %q", fe.Line, fe.StartLine, fe.Msg, "unclosed left paren in action")
	}
	if fe := CheckTemplate("body", "Hello\nthere {{if .vip}}"); fe == nil || fe.StartLine != 0 {
		t.Errorf("a closed action has a start line: %+v", fe)
	}
}

func TestFieldErrorMessage(t *testing.T) {
	cases := []struct {
		fe   FieldError
		want string
	}{
		{FieldError{Field: "body", Msg: "boom", Line: 3, Col: 7}, "body: line 3, column 7: boom"},
		{FieldError{Field: "body", Msg: "boom", Line: 3}, "body: line 3: boom"},
		{FieldError{Field: "name", Msg: "a name is required"}, "name: a name is required"},
		{FieldError{Field: "body", Msg: "unclosed left paren", Line: 3, StartLine: 2}, "body: line 3: unclosed left paren started on line 2"},
	}
	for _, tc := range cases {
		if got := tc.fe.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestRenderMissingFieldNamesFieldLineAndColumn(t *testing.T) {
	cases := []struct {
		field     string
		subject   string
		body      string
		line, col int // 1-based; the column is in characters and points at the field
	}{
		{"body", "Hi", "{{.zip}}", 1, 3},
		{"body", "Hi", "Dear {{.name}},\nyour code: {{ .zip }}", 2, 15},
		{"body", "Hi", "Grüße\nàà {{.zip}}", 2, 6},
		{"subject", "Hi {{.name}} from {{.zip}}", "body", 1, 21},
	}
	for _, tc := range cases {
		c := Campaign{Subject: tc.subject, Body: tc.body}
		r, err := NewRenderer(&c)
		if err != nil {
			t.Fatal(err)
		}
		ct := Contact{Address: "ada@example.com", Name: "Ada", Fields: map[string]string{"city": "Paris"}}
		_, err = r.Render(&ct)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("%q: got %v, want *FieldError", tc.body, err)
		}
		if fe.Field != tc.field || fe.Line != tc.line || fe.Col != tc.col {
			t.Errorf("%q/%q: field %s line %d col %d, want %s line %d col %d", tc.subject, tc.body, fe.Field, fe.Line, fe.Col, tc.field, tc.line, tc.col)
		}
		if !strings.Contains(fe.Msg, `no field "zip"`) {
			t.Errorf("message %q does not name the missing field", fe.Msg)
		}
	}
}

func TestRenderUsesContactFields(t *testing.T) {
	c := Campaign{Subject: "Hi {{.name}}", Body: "{{.address}} in {{.city}}"}
	r, err := NewRenderer(&c)
	if err != nil {
		t.Fatal(err)
	}
	// Name comes from the contact when the fields lack it; a field "name"
	// wins over it, as the CSV had it.
	ct := Contact{Address: "ada@example.com", Name: "Ada", Fields: map[string]string{"city": "Paris"}}
	m, err := r.Render(&ct)
	if err != nil || m.Subject != "Hi Ada" || m.Body != "ada@example.com in Paris" {
		t.Errorf("got %+v, %v", m, err)
	}
	ct.Fields["name"] = "Ada L."
	if m, _ := r.Render(&ct); m.Subject != "Hi Ada L." {
		t.Errorf("subject %q", m.Subject)
	}
	// Rendering from many goroutines at once is allowed.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ct
			if _, err := r.Render(&c); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func TestNewRendererReportsParseErrors(t *testing.T) {
	_, err := NewRenderer(&Campaign{Subject: "{{", Body: "ok"})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "subject" || fe.Line != 1 {
		t.Errorf("subject: %v", err)
	}
	_, err = NewRenderer(&Campaign{Subject: "ok", Body: "x\n{{.a"})
	if !errors.As(err, &fe) || fe.Field != "body" || fe.Line != 2 {
		t.Errorf("body: %v", err)
	}
}
