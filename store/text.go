package store

import (
	"strings"
	"unicode/utf8"
)

// Text from people and files is stored as UTF-8 without NUL: every
// consumer needs that (JSON, SMTP, terminals, Messenger), and replacing a
// bad byte silently would change a name without anyone knowing. A field
// that is not UTF-8, or holds a NUL, is refused with the field's name; an
// import skips such a row and reports its line. Other control characters
// (ESC, BEL…) are stored as they came, and shown, never obeyed, wherever
// tui writes them to a terminal.

// textProblem says what is wrong with s as stored text, or "".
func textProblem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not UTF-8 text (save the file or type it as UTF-8; in Excel, “CSV UTF-8”)"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL byte, which no message can carry"
	}
	return ""
}
