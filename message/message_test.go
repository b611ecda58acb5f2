package message

import (
	"strings"
	"testing"
)

func TestTokensVerifyAndRefuseAnyChange(t *testing.T) {
	s, err := NewSigner("0123456789abcdef-secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Token{{Campaign: 1, Contact: 2}, {Campaign: 1 << 40, Contact: 1<<63 + 5}, {Campaign: 9, Contact: 4, Test: true}} {
		tok := s.Sign(want)
		got, err := s.Verify(tok)
		if err != nil || got != want {
			t.Fatalf("Verify(Sign(%+v)) = %+v, %v", want, got, err)
		}
		// Every single-character change is refused, the last character's
		// unused bits included.
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		for i := range tok {
			for _, c := range []byte(alphabet) {
				if tok[i] == c {
					continue
				}
				bad := tok[:i] + string(c) + tok[i+1:]
				if _, err := s.Verify(bad); err == nil {
					t.Fatalf("a token changed at %d (%q) verified", i, bad)
				}
			}
		}
		if _, err := s.Verify(tok + "A"); err == nil {
			t.Fatal("a token with a character added verified")
		}
	}
	other, _ := NewSigner("another secret of enough length")
	if _, err := other.Verify(s.Sign(Token{Campaign: 1, Contact: 2})); err == nil {
		t.Fatal("a token verified under another secret")
	}
	for _, bad := range []string{"", "x", "!!!!", strings.Repeat("A", 200)} {
		if _, err := s.Verify(bad); err == nil {
			t.Fatalf("%q verified", bad)
		}
	}
	if _, err := NewSigner("short"); err == nil {
		t.Fatal("a 5-character secret was accepted")
	}
}

// A database's tag verifies only beside the token it was made for, under
// the same secret; any other segment (a path's own, such as "u") names no
// database.
func TestDatabaseTagsVerifyOnlyWithTheirToken(t *testing.T) {
	s, _ := NewSigner("0123456789abcdef-secret")
	tok, other := s.Sign(Token{Campaign: 3, Contact: 7}), s.Sign(Token{Campaign: 3, Contact: 8})
	tag, ok := s.SignDatabase("0a1b2c3d4e5f6071", tok)
	if !ok || len(tag) != 24 {
		t.Fatalf("SignDatabase: %q, %v", tag, ok)
	}
	if id, ok := s.VerifyDatabase(tag, tok); !ok || id != "0a1b2c3d4e5f6071" {
		t.Fatalf("VerifyDatabase: %q, %v", id, ok)
	}
	if _, ok := s.VerifyDatabase(tag, other); ok {
		t.Error("a tag verified beside another recipient's token")
	}
	moved := "0a1b2c3d4e5f6072"
	forged, _ := s.SignDatabase(moved, other)
	if _, ok := s.VerifyDatabase(forged[:11]+tag[11:], tok); ok {
		t.Error("a tag with another database's ID verified")
	}
	second, _ := NewSigner("another secret of enough length")
	if _, ok := second.VerifyDatabase(tag, tok); ok {
		t.Error("a tag verified under another secret")
	}
	for _, seg := range []string{"", "u", "unsubscribe", tag[:23], tag + "A", strings.Repeat("A", 24)} {
		if _, ok := s.VerifyDatabase(seg, tok); ok {
			t.Errorf("%q verified as a tag", seg)
		}
	}
	for _, id := range []string{"", "xyz", "0a1b2c3d4e5f60", "0a1b2c3d4e5f607182"} {
		if _, ok := s.SignDatabase(id, tok); ok {
			t.Errorf("SignDatabase(%q) made a tag", id)
		}
	}
}

func TestMarkdownPartsComeFromOneSource(t *testing.T) {
	src := "# Hello\n\nDear **Ann**, see [the shop](https://shop.example.com) & <b>more</b>.\n\n" +
		"- one\n- two\n\n1. first\n2. second\n\n> quoted\n\n    code\n\n[x](javascript:alert(1))\n"
	p := Split(FormatMarkdown, src)
	for _, want := range []string{"<h1>Hello</h1>", "<strong>Ann</strong>", `<a href="https://shop.example.com">the shop</a>`,
		"&amp;", "<li>one</li>", "<blockquote>", "<!DOCTYPE html>", `<meta charset="utf-8">`} {
		if !strings.Contains(p.HTML, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, p.HTML)
		}
	}
	for _, bad := range []string{"<b>more</b>", "javascript:"} {
		if strings.Contains(p.HTML, bad) {
			t.Errorf("HTML part carries %q, which Markdown must not pass through:\n%s", bad, p.HTML)
		}
	}
	for _, line := range []string{"Hello\n=====", "Dear Ann, see the shop (https://shop.example.com) &", "- one\n- two", "1. first\n2. second", "> quoted", "    code"} {
		if !strings.Contains(p.Text, line) {
			t.Errorf("text part lacks %q:\n%s", line, p.Text)
		}
	}
	if strings.Contains(p.Text, "**") || strings.Contains(p.Text, "<b>") {
		t.Errorf("text part keeps markup:\n%s", p.Text)
	}
}

func TestHTMLBodiesGetATextPart(t *testing.T) {
	src := `<html><head><title>T</title><style>p{color:red}</style></head><body>
<h1>Spring   sale</h1><p>Hello <b>Ann</b>,<br>see <a href="https://shop.example.com">the shop</a>.</p>
<ul><li>one</li><li>two</li></ul><script>x()</script><img src="a.png" alt="Logo">
<p><a href="https://u.example.com/u/t">https://u.example.com/u/t</a></p></body></html>`
	p := Split(FormatHTML, src)
	if p.HTML != src {
		t.Fatal("the HTML part must be the body as written")
	}
	for _, want := range []string{"Spring sale", "Hello Ann,\nsee the shop (https://shop.example.com).", "- one\n- two", "[Logo]", "https://u.example.com/u/t"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, p.Text)
		}
	}
	for _, bad := range []string{"color:red", "x()", "<", "T\n"} {
		if strings.Contains(p.Text, bad) {
			t.Errorf("text part carries %q:\n%s", bad, p.Text)
		}
	}
	if strings.Count(p.Text, "https://u.example.com/u/t") != 1 {
		t.Errorf("a link whose text is its URL is written once:\n%s", p.Text)
	}
	if got := Split(FormatText, "as is"); got.Text != "as is" || got.HTML != "" {
		t.Errorf("text body: %+v", got)
	}
}
