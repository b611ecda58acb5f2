package store

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// decodeContact reads a contact record. Sends and previews read every
// recipient, and encoding/json's reflection was most of their time, so this
// walks the object by hand; anything unexpected falls back to json.Unmarshal.
func decodeContact(raw []byte, c *Contact) error {
	if err := fastDecodeContact(raw, c); err != nil {
		*c = Contact{}
		return json.Unmarshal(raw, c)
	}
	return nil
}

var errSlowPath = errors.New("take the slow path")

type scanner struct {
	b []byte
	i int
}

func (s *scanner) skipSpace() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\n' || s.b[s.i] == '\t' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) expect(ch byte) bool {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == ch {
		s.i++
		return true
	}
	return false
}

func (s *scanner) peek() byte {
	s.skipSpace()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a JSON string; escapes go through encoding/json.
func (s *scanner) str() (string, error) {
	if !s.expect('"') {
		return "", errSlowPath
	}
	start := s.i
	for s.i < len(s.b) {
		switch ch := s.b[s.i]; {
		case ch == '"':
			v := string(s.b[start:s.i])
			s.i++
			return v, nil
		case ch == '\\':
			return s.escapedStr(start - 1)
		case ch < 0x20:
			return "", errSlowPath
		case ch >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size == 1 {
				return "", errSlowPath
			}
			s.i += size
		default:
			s.i++
		}
	}
	return "", errSlowPath
}

func (s *scanner) escapedStr(quote int) (string, error) {
	end := s.i
	for end < len(s.b) {
		if s.b[end] == '\\' {
			end += 2
			continue
		}
		if s.b[end] == '"' {
			break
		}
		end++
	}
	if end >= len(s.b) {
		return "", errSlowPath
	}
	var v string
	if err := json.Unmarshal(s.b[quote:end+1], &v); err != nil {
		return "", errSlowPath
	}
	s.i = end + 1
	return v, nil
}

func (s *scanner) uint() (uint64, error) {
	d, err := s.jsonDigits(false) // "00" is not JSON
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(d, 10, 64)
}

func (s *scanner) null() bool {
	s.skipSpace()
	if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

func (s *scanner) stringList() ([]string, error) {
	if s.null() {
		return nil, nil
	}
	if !s.expect('[') {
		return nil, errSlowPath
	}
	out := []string{}
	if s.expect(']') {
		return out, nil
	}
	for {
		v, err := s.str()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if s.expect(',') {
			continue
		}
		if s.expect(']') {
			return out, nil
		}
		return nil, errSlowPath
	}
}

func (s *scanner) stringMap() (map[string]string, error) {
	if s.null() {
		return nil, nil
	}
	if !s.expect('{') {
		return nil, errSlowPath
	}
	out := map[string]string{}
	if s.expect('}') {
		return out, nil
	}
	for {
		k, err := s.str()
		if err != nil || !s.expect(':') {
			return nil, errSlowPath
		}
		v, err := s.str()
		if err != nil {
			return nil, err
		}
		out[k] = v
		if s.expect(',') {
			continue
		}
		if s.expect('}') {
			return out, nil
		}
		return nil, errSlowPath
	}
}

func (s *scanner) time() (time.Time, error) {
	v, err := s.str()
	if err != nil {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339Nano, v)
}

func fastDecodeContact(raw []byte, c *Contact) error { return fastDecode(raw, c, false) }

// decodeMessageFields reads what a message needs — id, address, name and
// fields — and skips the rest (tags, times) without allocating: a send
// renders every recipient twice.
func decodeMessageFields(raw []byte, c *Contact) error {
	if err := fastDecode(raw, c, true); err != nil {
		*c = Contact{}
		return json.Unmarshal(raw, c)
	}
	return nil
}

// skipStr passes over a JSON string without keeping it.
func (s *scanner) skipStr() error {
	if !s.expect('"') {
		return errSlowPath
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			s.i++
			return nil
		case '\\':
			s.i += 2
		default:
			s.i++
		}
	}
	return errSlowPath
}

func (s *scanner) skipStrList() error {
	if s.null() {
		return nil
	}
	if !s.expect('[') {
		return errSlowPath
	}
	if s.expect(']') {
		return nil
	}
	for {
		if err := s.skipStr(); err != nil {
			return err
		}
		if s.expect(',') {
			continue
		}
		if s.expect(']') {
			return nil
		}
		return errSlowPath
	}
}

func fastDecode(raw []byte, c *Contact, lite bool) error {
	*c = Contact{}
	s := &scanner{b: raw}
	if !s.expect('{') {
		return errSlowPath
	}
	if s.expect('}') {
		if !s.atEnd() {
			return errSlowPath
		}
		return nil
	}
	for {
		key, err := s.str()
		if err != nil || !s.expect(':') {
			return errSlowPath
		}
		switch key {
		case "id":
			c.ID, err = s.uint()
		case "address":
			c.Address, err = s.str()
		case "kind":
			var k string
			k, err = s.str()
			c.Kind = AddressKind(k)
		case "name":
			c.Name, err = s.str()
		case "fields":
			if c.Fields != nil {
				return errSlowPath // json.Unmarshal merges a repeated object
			}
			c.Fields, err = s.stringMap()
		case "tags":
			if lite {
				err = s.skipStrList()
			} else {
				c.Tags, err = s.stringList()
			}
		case "created_at", "updated_at", "import_id":
			switch {
			case lite:
				err = s.skipStr()
			case key == "created_at":
				c.CreatedAt, err = s.time()
			case key == "updated_at":
				c.UpdatedAt, err = s.time()
			default:
				c.ImportID, err = s.str()
			}
		case "import_row":
			c.ImportRow, err = s.int()
		default:
			return errSlowPath
		}
		if err != nil {
			return errSlowPath
		}
		if s.expect(',') {
			continue
		}
		if s.expect('}') && s.atEnd() {
			if c.Kind == "" && c.Address != "" {
				c.Kind = InferKind(c.Address)
			}
			return nil
		}
		return errSlowPath
	}
}

// contactAddress reads only the address of a contact record.
func contactAddress(raw []byte) (string, error) {
	var c Contact
	s := &scanner{b: raw}
	// The encoders write id first and address second.
	if s.expect('{') {
		if k, err := s.str(); err == nil && k == "id" && s.expect(':') {
			if _, err := s.uint(); err == nil && s.expect(',') {
				if k, err := s.str(); err == nil && k == "address" && s.expect(':') {
					if a, err := s.str(); err == nil {
						return a, nil
					}
				}
			}
		}
	}
	if err := decodeContact(raw, &c); err != nil {
		return "", err
	}
	return c.Address, nil
}
