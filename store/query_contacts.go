package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Queries the contacts screen needs beyond ListContacts: the suppression
// marks of the rows it shows, and the end of a filtered list (what G jumps
// to) without decoding every contact of a million on the way.

// SuppressedAmong reports which of the given normalised addresses are on the
// suppression list. It looks up only those addresses, so a screen can mark
// the rows it shows without reading the whole list.
func (s *Store) SuppressedAmong(addrs []string) (map[string]bool, error) {
	out := make(map[string]bool)
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSuppression)
		for _, a := range addrs {
			if b.Get([]byte(a)) != nil {
				out[a] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check the suppression list: %w", err)
	}
	return out, nil
}

// ContactsEnd returns the last limit contacts matching f, in listing order,
// with the exact number of matches in page.Total and the offset of the
// first returned contact, read in one transaction so the two agree.
func (s *Store) ContactsEnd(f ContactFilter, limit int) (page ContactPage, offset int, err error) {
	text := strings.ToLower(strings.TrimSpace(f.Text))
	tag := strings.ToLower(strings.TrimSpace(f.Tag))
	m := newContactMatcher(text)
	var rows []Contact // newest first while scanning backwards
	err = s.db.View(func(tx *bolt.Tx) error {
		contacts := tx.Bucket(bucketContacts)
		walk := mapWalk{tx: tx}
		visit := func(raw []byte) error {
			walk.row()
			if raw == nil {
				return nil
			}
			ok, err := m.matches(raw)
			if err != nil || !ok {
				return err
			}
			page.Total++
			if len(rows) < limit {
				var c Contact
				if err := json.Unmarshal(raw, &c); err != nil {
					return err
				}
				rows = append(rows, c)
			}
			return nil
		}
		if tag != "" {
			tb := tx.Bucket(bucketTags).Bucket([]byte(tag))
			if tb == nil {
				return nil
			}
			c := tb.Cursor()
			for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
				if err := visit(contacts.Get(k)); err != nil {
					return err
				}
			}
			return nil
		}
		if text == "" {
			// No filter: the maintained count, and only limit records read.
			page.Total = int(getUint(tx.Bucket(bucketMeta), keyContactCount))
			c := contacts.Cursor()
			for k, v := c.Last(); k != nil && len(rows) < limit; k, v = c.Prev() {
				var ct Contact
				if err := json.Unmarshal(v, &ct); err != nil {
					return err
				}
				rows = append(rows, ct)
			}
			return nil
		}
		c := contacts.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if err := visit(v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return ContactPage{}, 0, fmt.Errorf("find the end of the contact list: %w", err)
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	page.Contacts, page.Exact = rows, true
	return page, max(page.Total-len(rows), 0), nil
}

// contactMatcher applies a text filter to stored contacts, decoding only
// the records whose bytes could match and only the fields that count.
type contactMatcher struct {
	text string
	pre  textPrefilter
}

func newContactMatcher(lowerText string) *contactMatcher {
	return &contactMatcher{text: lowerText, pre: newTextPrefilter(lowerText)}
}

func (m *contactMatcher) matches(raw []byte) (bool, error) {
	if m.text == "" {
		return true, nil
	}
	if !m.pre.mayMatch(raw) {
		return false, nil
	}
	var c struct {
		Address string            `json:"address"`
		Name    string            `json:"name"`
		Fields  map[string]string `json:"fields"`
		Tags    []string          `json:"tags"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return false, err
	}
	return contactMatches(&Contact{Address: c.Address, Name: c.Name, Fields: c.Fields, Tags: c.Tags}, m.text), nil
}

// textPrefilter rules out, from a contact's stored JSON alone, records that
// cannot match a text filter. It never rules out one that contactMatches
// would accept: it only works for ASCII filter text free of the characters
// JSON escapes (" \ < > & and control characters), where a value holding
// the text holds it byte for byte in the record, and it passes every record
// with non-ASCII bytes on to the full check, since lower-casing those is not
// byte-wise (the Kelvin sign lower-cases to k).
type textPrefilter struct {
	text []byte
	on   bool
	buf  []byte
}

func newTextPrefilter(lowerText string) textPrefilter {
	p := textPrefilter{text: []byte(lowerText), on: lowerText != ""}
	for i := 0; i < len(lowerText); i++ {
		switch b := lowerText[i]; {
		case b >= utf8.RuneSelf, b < 0x20, b == '"', b == '\\', b == '<', b == '>', b == '&', 'A' <= b && b <= 'Z':
			p.on = false
		}
	}
	return p
}

func (p *textPrefilter) mayMatch(raw []byte) bool {
	if !p.on {
		return true
	}
	p.buf = append(p.buf[:0], raw...)
	for i, b := range p.buf {
		switch {
		case b >= utf8.RuneSelf:
			return true
		case 'A' <= b && b <= 'Z':
			p.buf[i] = b + 'a' - 'A'
		}
	}
	return bytes.Contains(p.buf, p.text)
}
