// Package jsonstr quotes strings as encoding/json does, without reflection
// or allocation, for the hand-made encoders of hot paths (the contact
// records an import writes, the outbox lines a worker appends). It imports
// nothing of the project, so store and worker may both use it.
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// plain and plainNoHTML mark the bytes that go into a quoted string as
// they are.
var plain, plainNoHTML = func() (html, noHTML [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		noHTML[c] = c != '"' && c != '\\'
		html[c] = noHTML[c] && c != '<' && c != '>' && c != '&'
	}
	return html, noHTML
}()

// Append appends s quoted exactly as json.Marshal quotes it: <, > and &
// escaped too, so the bytes match a record written by encoding/json.
func Append(dst []byte, s string) []byte { return appendQuoted(dst, s, &plain) }

// AppendNoHTML appends s quoted as a json.Encoder with SetEscapeHTML(false)
// does: for lines people read, where \u003c would only get in the way.
func AppendNoHTML(dst []byte, s string) []byte { return appendQuoted(dst, s, &plainNoHTML) }

// appendQuoted escapes control characters, quotes and backslashes (and
// what else safe does not pass), replaces invalid UTF-8 with U+FFFD, and
// escapes U+2028 and U+2029 so that a line is also valid JavaScript.
func appendQuoted(dst []byte, s string, safe *[256]bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		for i < len(s) && safe[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
