package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Invalid UTF-8 and NUL are refused where text comes in, with the field or
// the line; other control characters are stored as they came.
func TestInvalidUTF8AndNULAreRefusedOtherControlsKept(t *testing.T) {
	s := fxOpen(t)
	csv := "email,name,city\n" +
		"ann@example.com,Ann,Oslo\n" +
		"bob@example.com,B\xf6b,Bergen\n" + // Latin-1, not UTF-8
		"cy@example.com,Cy,Li\x00ma\n" +
		"dee@example.com,Dee\x1b]52;c;aGk=\x07,Rome\n"
	rep, err := s.ImportCSV(context.Background(), strings.NewReader(csv), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 2 || rep.Invalid != 2 || len(rep.Problems) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if p := rep.Problems[0]; p.Line != 3 || !strings.Contains(p.Reason, "the name column is not UTF-8") {
		t.Errorf("problem %+v", p)
	}
	if p := rep.Problems[1]; p.Line != 4 || !strings.Contains(p.Reason, "the city column holds a NUL byte") {
		t.Errorf("problem %+v", p)
	}
	dee, err := s.ContactByAddress("dee@example.com")
	if err != nil || dee.Name != "Dee\x1b]52;c;aGk=\x07" {
		t.Errorf("a name with escapes: %q %v, want it stored as it came", dee.Name, err)
	}

	for _, tc := range []struct {
		c     Campaign
		field string
	}{
		{Campaign{Name: "N\xe9", Body: "b"}, "name"},
		{Campaign{Name: "n", Subject: "a\x00b", Body: "b"}, "subject"},
		{Campaign{Name: "n", Body: "b\xff"}, "body"},
		{Campaign{Name: "n", Body: "b", Tags: []string{"v\xffip"}}, "tags"},
	} {
		tc.c.Channel = ChannelFile
		var ve *ValidationError
		if err := tc.c.Validate(); !errors.As(err, &ve) || ve.Field(tc.field) == nil {
			t.Errorf("%+v: %v, want an error on %s", tc.c, err, tc.field)
		}
	}
	ok := Campaign{Name: "Esc\x1b[2J in a name", Channel: ChannelFile, Body: "b"}
	if err := ok.Validate(); err != nil {
		t.Errorf("a name with an escape sequence: %v, want it stored", err)
	}
	if _, _, err := s.AddContact("t", Contact{Address: "x@example.com", Name: "X\xff"}); err == nil || !strings.Contains(err.Error(), "not UTF-8") {
		t.Errorf("AddContact with a Latin-1 name: %v", err)
	}
	if _, err := s.Suppress("t", "y@example.com", "bounced\x00"); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("Suppress with a NUL in the reason: %v", err)
	}
}
