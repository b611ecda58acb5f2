// Package english writes counts for people to read: 12,430 and
// "1 recipient" or "3 recipients".
package english

import "strconv"

// Thousands writes n with thousands separators: 12,430.
func Thousands(n int) string {
	s := strconv.Itoa(n)
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	b := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		b = append(b, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// Plural picks the noun for n: one when n is 1, else many.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Count writes n and its noun: "1 recipient", "12,430 recipients".
func Count(n int, one, many string) string {
	return Thousands(n) + " " + Plural(n, one, many)
}
