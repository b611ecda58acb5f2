package termsafe

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostile holds what an attacker would put into a name: a clipboard write
// (OSC 52), a window title (OSC 2), a hyperlink (OSC 8), a DCS for tmux, a
// query the terminal answers into the input (CSI 6n), a screen clear, the
// 8-bit CSI, a bell, a backspace, a carriage return, NUL, DEL, a bidi
// override and a byte that is not UTF-8.
const hostile = "Camp\x1b]52;c;aGFja2Vk\x07\x1b]2;pwned\x1b\\\x1b]8;;http://evil/\x07x\x1b]8;;\x07" +
	"\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\\x1b[6n\x1b[2J\u009b31m\a\b\r\x00\x7f\u202egpj.exe\xff end"

func assertInert(t *testing.T, what, got string, allowed func(string) int) {
	t.Helper()
	if !utf8.ValidString(got) {
		t.Errorf("%s: not valid UTF-8: %q", what, got)
	}
	for i := 0; i < len(got); {
		if allowed != nil {
			if n := allowed(got[i:]); n > 0 {
				i += n
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(got[i:])
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			t.Errorf("%s: control U+%04X at byte %d of %q", what, r, i, got)
		}
		i += size
	}
}

func TestEveryControlIsShownNotObeyed(t *testing.T) {
	line := Line(hostile + "\n\tx")
	assertInert(t, "Line", line, nil)
	if strings.ContainsAny(line, "\n\t") {
		t.Errorf("Line kept a newline or a tab: %q", line)
	}
	for _, want := range []string{"Camp␛]52;c;aGFja2Vk␇", "␛]2;pwned␛\\", "␛[6n", "␛[2J", "\uFFFD31m", "␇␈␍␀␡", "\uFFFDgpj.exe\uFFFD end", "␊ x"} {
		if !strings.Contains(line, want) {
			t.Errorf("Line(hostile) = %q, want it to show %q", line, want)
		}
	}
	text := Text("a\r\nb\tc\rd\n" + hostile)
	assertInert(t, "Text", text, nil)
	if !strings.HasPrefix(text, "a\nb\tc␍d\n") {
		t.Errorf("Text should keep newlines and tabs and turn CR LF into LF: %q", text)
	}
	frame := Frame("\x1b[1;38;5;212mtitle\x1b[m\n" + hostile + "\x1b[0m")
	assertInert(t, "Frame", frame, sgrLen)
	if !strings.HasPrefix(frame, "\x1b[1;38;5;212mtitle\x1b[m\n") || !strings.HasSuffix(frame, "\x1b[0m") {
		t.Errorf("Frame should keep SGR colours and newlines: %q", frame)
	}
	if strings.Contains(frame, "\x1b]") || strings.Contains(frame, "\x1bP") || strings.Contains(frame, "\x1b[6n") {
		t.Errorf("Frame let a sequence through: %q", frame)
	}
}

func TestCleanTextIsReturnedAsItIs(t *testing.T) {
	for _, s := range []string{"", "Spring sale", "Zoë in Zürich — 東京 ✓", "a\tb"} {
		if got := Text(s); got != s {
			t.Errorf("Text(%q) = %q", s, got)
		}
		if !Safe(s) {
			t.Errorf("Safe(%q) = false", s)
		}
	}
	if Safe(hostile) {
		t.Error("Safe(hostile) = true")
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = Frame("\x1b[1mbold\x1b[m plain\n") }); allocs != 0 {
		t.Errorf("a clean frame allocates %v times", allocs)
	}
}

func TestTitleIsOneShortLine(t *testing.T) {
	got := Title(strings.Repeat("x", 500) + "\x1b]52;c;aGk=\x07")
	if utf8.RuneCountInString(got) != MaxTitle || strings.ContainsRune(got, 0x1b) {
		t.Errorf("Title: %d characters: %q", utf8.RuneCountInString(got), got)
	}
}

func TestLogsShowHostileValues(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		opts := &slog.HandlerOptions{ReplaceAttr: LogAttr}
		var h slog.Handler = slog.NewTextHandler(&buf, opts)
		if format == "json" {
			h = slog.NewJSONHandler(&buf, opts)
		}
		slog.New(h).Warn("refused", "user", hostile, "err", errString(hostile))
		assertInert(t, format, buf.String(), nil)
		if !strings.Contains(buf.String(), "Camp␛]52") {
			t.Errorf("%s log does not show the value: %s", format, buf.String())
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func BenchmarkFrame200x60(b *testing.B) {
	row := "\x1b[1;38;5;212m▌ Spring sale\x1b[m  draft  file  2,000  " + strings.Repeat("x", 160) + "\n"
	frame := strings.Repeat(row, 60)
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		_ = Frame(frame)
	}
}

func TestJSONEscapesWhatEncodingJSONLeaves(t *testing.T) {
	in := []byte(`{"name":"a` + "\u009b2J\u202e" + `b","ok":"Zoë ✓"}`)
	got := string(JSON(in))
	if got != `{"name":"a\u009b2J\u202eb","ok":"Zoë ✓"}` {
		t.Errorf("JSON = %s", got)
	}
	clean := []byte(`{"a":"Zoë"}`)
	if &JSON(clean)[0] != &clean[0] {
		t.Error("clean JSON was copied")
	}
}
