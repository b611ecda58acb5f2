// Package termsafe makes text that came from people, files or the network
// safe to write to a terminal. It is the one sanitiser of the project: the
// TUI's frames and window title, the plain output of the command line and
// the logs all go through it.
//
// A terminal obeys the control characters and escape sequences it is sent:
// an OSC 52 sets the clipboard, an OSC 2 the window title, a DCS talks to
// tmux, a CSI 6n makes the terminal type its answer into the input. A
// campaign name, a contact field, an SSH user name or a provider's error
// must never carry one there. Control characters are therefore shown, not
// obeyed: ESC becomes ␛, BEL ␇, and so on (the Unicode control pictures),
// so that a person sees that something odd is in the data.
//
// What is replaced, everywhere:
//   - C0 controls (U+0000–U+001F) by their control pictures (␀…␟), except
//     where a mode keeps newlines and tabs; DEL by ␡;
//   - C1 controls (U+0080–U+009F: some terminals obey U+009B as CSI) and
//     invalid UTF-8 by U+FFFD;
//   - bidirectional overrides, embeddings and isolates (U+202A–U+202E,
//     U+2066–U+2069), which reorder what follows them on screen, by U+FFFD.
package termsafe

import (
	"log/slog"
	"strings"
	"unicode/utf8"
)

type mode int

const (
	modeLine  mode = iota // one line: newlines and tabs shown too
	modeText              // several lines: newlines and tabs kept
	modeFrame             // a rendered frame: newlines and SGR colour codes kept
)

// Line makes s safe as one line: every control character is replaced by a
// visible stand-in, a tab by a space and a newline by ␊.
func Line(s string) string { return sanitize(s, modeLine) }

// Text makes s safe as text of several lines: newlines and tabs stay, CR
// LF becomes LF, and every other control character is replaced.
func Text(s string) string { return sanitize(s, modeText) }

// Frame makes a frame the TUI rendered safe: newlines and SGR sequences
// (the colours and attributes lipgloss writes) stay; any other control
// character or escape sequence is shown, not obeyed. It is the last line
// of defence behind every screen: whatever a screen forgot to clean up
// still reaches the terminal as visible text.
func Frame(s string) string { return sanitize(s, modeFrame) }

// MaxTitle is how many characters of a window title are kept.
const MaxTitle = 120

// Title makes s safe as a window title: one line, at most MaxTitle
// characters.
func Title(s string) string {
	s = Line(s)
	if utf8.RuneCountInString(s) <= MaxTitle {
		return s
	}
	r := []rune(s)
	return string(r[:MaxTitle-1]) + "…"
}

// Safe reports whether s would come back from Text unchanged.
func Safe(s string) bool { return clean(s, modeText) }

// LogAttr is a slog ReplaceAttr function: string and error values are
// cleaned with Line, so a log read on a terminal shows a hostile value
// instead of running it (slog's text format escapes control characters
// but its JSON format writes C1 controls and bidi overrides as they are).
func LogAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); !clean(s, modeLine) {
			a.Value = slog.StringValue(Line(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			a.Value = slog.StringValue(Line(err.Error()))
		}
	}
	return a
}

// clean reports whether s needs no change in mode m. Most strings are
// printable ASCII, and return here without allocating.
func clean(s string, m mode) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			continue
		}
		if c == '\n' && m != modeLine {
			continue
		}
		if c == '\t' && m == modeText {
			continue
		}
		if c == 0x1b && m == modeFrame {
			if n := sgrLen(s[i:]); n > 0 {
				i += n - 1
				continue
			}
		}
		if c < utf8.RuneSelf {
			return false
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if replaced(r, size) {
			return false
		}
		i += size - 1
	}
	return true
}

// replaced reports whether a decoded rune is one that is never written.
func replaced(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size <= 1:
		return true
	case r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

func sanitize(s string, m mode) string {
	if clean(s, m) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
			i++
		case c == '\n' && m != modeLine:
			b.WriteByte('\n')
			i++
		case c == '\r' && m == modeText && i+1 < len(s) && s[i+1] == '\n':
			i++ // CR LF is a line end
		case c == '\t' && m == modeText:
			b.WriteByte('\t')
			i++
		case c == '\t' && m == modeLine:
			b.WriteByte(' ')
			i++
		case c == 0x1b && m == modeFrame:
			if n := sgrLen(s[i:]); n > 0 {
				b.WriteString(s[i : i+n])
				i += n
				continue
			}
			b.WriteRune(0x241b)
			i++
		case c == 0x7f:
			b.WriteRune(0x2421) // ␡
			i++
		case c < 0x20:
			b.WriteRune(0x2400 + rune(c))
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if replaced(r, size) {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
		}
	}
	return b.String()
}

// sgrLen is the length of the SGR sequence (ESC [ digits ; : m) that s
// starts with, or 0 when s starts with anything else.
func sgrLen(s string) int {
	if len(s) < 3 || s[0] != 0x1b || s[1] != '[' {
		return 0
	}
	for i := 2; i < len(s) && i < 128; i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == ';', c == ':':
		case c == 'm':
			return i + 1
		default:
			return 0
		}
	}
	return 0
}

// JSON makes encoded JSON safe for a terminal without changing what it
// means: encoding/json escapes C0 controls but writes C1 controls and bidi
// overrides as they are, and those become \u escapes here. (They can only
// stand inside strings, where the escape means the same character.)
func JSON(b []byte) []byte {
	var out []byte
	start := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError && replaced(r, size) {
			out = append(out, b[start:i]...)
			out = append(out, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
			start = i + size
		}
		i += size
	}
	if out == nil {
		return b
	}
	return append(out, b[start:]...)
}

const hex = "0123456789abcdef"
