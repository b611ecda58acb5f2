package main

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostile is what an attacker puts in every field they can reach: a
// clipboard write, a window title, a hyperlink, a query the terminal
// answers into the input, a DCS for tmux, the 8-bit CSI, a bell and a bidi
// override, behind a marker naming the field.
func hostile(field string) string {
	return field + "\x1b]52;c;aGFja2Vk\x07\x1b]2;pwned\x07\x1b]8;;http://evil.example/\x07link\x1b]8;;\x07" +
		"\x1b[6n\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\\u009b2J\a\u202eend"
}

// assertNoControls fails for any control character, C1 control or bidi
// override in what a command wrote, but newlines and tabs.
func assertNoControls(t *testing.T, what, out string) {
	t.Helper()
	for i, r := range out {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			t.Errorf("%s wrote U+%04X raw at byte %d: …%q…", what, r, i, out[max(i-40, 0):min(i+40, len(out))])
			return
		}
	}
	if !utf8.ValidString(out) {
		t.Errorf("%s wrote invalid UTF-8", what)
	}
}

// Escape sequences in every field reach the terminal as visible text from
// every command that prints them: plain tables and details, preflight
// summaries, errors; --json escapes them.
func TestEscapeSequencesNeverReachTheTerminalFromTheCLI(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tui.db")
	env := []string{"TUI_DB=" + db, "REDIS_URL=redis://127.0.0.1:1/0"}
	csv := writeFile(t, dir, "c.csv", "email,name,city\nann@example.com,"+hostile("NAME")+","+hostile("CITY")+
		"\nbob@example.com,Bob,Oslo\nnot-an-address,"+hostile("BADROW")+",x\n")
	tag := "vip\x1b[6n\x07"
	body := writeFile(t, dir, "body.txt", hostile("BODY")+" {{.city}}\n"+hostile("LINE2"))
	for _, step := range []struct {
		args    []string
		visible string // what must show, as text
	}{
		{[]string{"contacts", "import", csv, "--tag", tag}, ""},
		{[]string{"campaign", "create", "--name", hostile("CAMP"), "--channel", "file", "--subject", hostile("SUBJ"), "--tag", tag, "--body-file", body}, ""},
		{[]string{"campaign", "list"}, "CAMP␛]52"},
		{[]string{"campaign", "show", "1"}, "BODY␛]52"},
		{[]string{"contacts", "list"}, "CITY␛]52"},
		{[]string{"campaign", "send", "1"}, "Campaign 1"},
		{[]string{"campaign", "pause", "1"}, ""},
		{[]string{"campaign", "list", "--json"}, `CAMP\u001b]52`},
		{[]string{"campaign", "show", "1", "--json"}, `\u009b2J\u0007\u202eend`},
		{[]string{"contacts", "list", "--json"}, `CITY\u001b]52`},
		{[]string{"contacts", "import", csv, "--json"}, `"line"`},
	} {
		code, stdout, stderr := runBinary(t, env, step.args...)
		what := strings.Join(step.args[:2], " ")
		if code == 2 {
			t.Errorf("%s: bad usage: %s", what, stderr)
		}
		assertNoControls(t, what, stdout+stderr)
		if step.visible != "" && !strings.Contains(stdout+stderr, step.visible) {
			t.Errorf("%s does not show %q:\n%s%s", what, step.visible, stdout, stderr)
		}
	}
}
