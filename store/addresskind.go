package store

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// AddressKind is what a contact's address is, and so which channels can
// reach it: an email address (smtp), a phone number in E.164 form or a
// Messenger page-scoped ID (messenger). The file and webhook channels take
// any kind.
type AddressKind string

// The address kinds.
const (
	KindEmail AddressKind = "email"
	KindPhone AddressKind = "phone"
	KindPSID  AddressKind = "psid"
)

// ParseAddressKind accepts a kind's name; "auto" (or "") means: tell email
// from phone by the value.
func ParseAddressKind(s string) (AddressKind, error) {
	switch k := AddressKind(strings.ToLower(strings.TrimSpace(s))); k {
	case KindEmail, KindPhone, KindPSID:
		return k, nil
	case "", "auto":
		return "", nil
	}
	return "", fmt.Errorf("unknown address kind %q: use email, phone, psid or auto", s)
}

// psidPrefix marks a Messenger page-scoped ID where a bare value would be
// taken for a phone number: in the address index, the suppression list and
// any place a person types an address.
const psidPrefix = "psid:"

// InferKind tells the kind of a stored address that has none recorded
// (contacts from before kinds existed): email or phone, by its shape.
func InferKind(addr string) AddressKind {
	switch {
	case strings.Contains(addr, "@"):
		return KindEmail
	case strings.HasPrefix(addr, psidPrefix):
		return KindPSID
	}
	return KindPhone
}

// AddressKey is the address index's key for an address of a kind: the
// address itself, prefixed with psid: for a PSID so that it can never merge
// with a phone number of the same digits.
func AddressKey(addr string, kind AddressKind) string {
	if kind == KindPSID {
		return psidPrefix + addr
	}
	return addr
}

// Key is the contact's address as the index, the suppression list and
// ContactByAddress know it.
func (c *Contact) Key() string { return AddressKey(c.Address, c.kind()) }

// kind is the contact's address kind, inferred when none is recorded.
func (c *Contact) kind() AddressKind {
	if c.Kind != "" {
		return c.Kind
	}
	return InferKind(c.Address)
}

// NormalizeAddressKind validates an address of the given kind ("" to tell
// email from phone, and a psid: prefix from both, by the value) and returns
// its stored form and kind.
func NormalizeAddressKind(raw string, kind AddressKind) (string, AddressKind, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", kind, errors.New("the address is empty")
	}
	if kind == "" {
		switch {
		case strings.Contains(s, "@"):
			kind = KindEmail
		case len(s) > len(psidPrefix) && strings.EqualFold(s[:len(psidPrefix)], psidPrefix):
			kind = KindPSID
		default:
			kind = KindPhone
		}
	}
	switch kind {
	case KindEmail:
		if !strings.Contains(s, "@") {
			return "", kind, fmt.Errorf("%q is not an email address", shorten(s))
		}
		addr, err := normalizeEmail(s)
		return addr, kind, err
	case KindPSID:
		addr, err := normalizePSID(s)
		return addr, kind, err
	case KindPhone:
		addr, err := normalizePhone(s)
		return addr, kind, err
	}
	return "", kind, fmt.Errorf("unknown address kind %q", kind)
}

// A spreadsheet shows a long number such as a PSID as 1.25448E+15 and
// exports it that way: the digits are lost.
var spreadsheetNumber = regexp.MustCompile(`^[0-9](?:[.,][0-9]+)?[eE]\+?[0-9]+$`)

// A page-scoped ID is a decimal number Messenger gives each person per Page
// (1254477777772919): digits only, however it is formatted nowhere.
const (
	minPSIDDigits = 5
	maxPSIDDigits = 20
)

func normalizePSID(s string) (string, error) {
	if len(s) > len(psidPrefix) && strings.EqualFold(s[:len(psidPrefix)], psidPrefix) {
		s = strings.TrimSpace(s[len(psidPrefix):])
	}
	if spreadsheetNumber.MatchString(s) {
		return "", fmt.Errorf("%q is a page-scoped ID a spreadsheet rounded to a number: format the column as text and export it again", shorten(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", fmt.Errorf("%q is not a Messenger page-scoped ID (PSID): one is only digits, such as 1254477777772919", shorten(s))
		}
	}
	if len(s) < minPSIDDigits || len(s) > maxPSIDDigits {
		return "", fmt.Errorf("%q is not a Messenger page-scoped ID (PSID): one has %d to %d digits", shorten(s), minPSIDDigits, maxPSIDDigits)
	}
	return s, nil
}

// IsE164 reports whether a stored phone number carries its country code
// (+ and 1 to 15 digits), the form Messenger's phone_number takes.
func IsE164(phone string) bool { return len(phone) > 1 && phone[0] == '+' }

// Kind is the record's address kind, read without decoding the whole
// record: the encoders write it right after the address.
func (r RawContact) Kind() AddressKind {
	s := scanner{b: r}
	if s.expect('{') {
		if k, ok := s.rawStr(); ok && string(r[k.start:k.end]) == "id" && s.expect(':') && s.rawDigits(false) && s.expect(',') {
			if k, ok := s.rawStr(); ok && string(r[k.start:k.end]) == "address" && s.expect(':') {
				if a, ok := s.rawStr(); ok {
					addr := r[a.start:a.end]
					if !s.expect(',') {
						return InferKind(string(addr))
					}
					if k, ok := s.rawStr(); ok {
						if string(r[k.start:k.end]) != "kind" {
							return InferKind(string(addr))
						}
						if s.expect(':') {
							if v, ok := s.rawStr(); ok {
								return AddressKind(r[v.start:v.end])
							}
						}
					}
				}
			}
		}
	}
	c, err := r.DecodeForMessage()
	if err != nil {
		return ""
	}
	return c.Kind
}

// Reaches reports whether the channel can deliver to an address of a kind,
// and when it cannot, says why as the end of a sentence about the contacts
// ("3 contacts …"). The file and webhook channels take any address; smtp
// takes email addresses; messenger takes page-scoped IDs and phone numbers
// with their country code, the two recipients the Send API accepts.
func (ch Channel) Reaches(addr string, kind AddressKind) (bool, string) {
	switch ch {
	case ChannelSMTP:
		switch kind {
		case KindEmail:
			return true, ""
		case KindPSID:
			return false, "have a Messenger page-scoped ID, and the smtp channel sends only to email addresses"
		}
		return false, "have a phone number, and the smtp channel sends only to email addresses"
	case ChannelMessenger:
		switch kind {
		case KindPSID:
			return true, ""
		case KindPhone:
			if IsE164(addr) {
				return true, ""
			}
			return false, "have a phone number without its country code, and Messenger needs one (+14155550123)"
		}
		return false, "have an email address, and Messenger reaches only page-scoped IDs (psid) and phone numbers"
	}
	return true, ""
}

// ReachesRaw is Reaches for a stored contact record.
func (ch Channel) ReachesRaw(raw []byte) (bool, string) {
	kind := RawContact(raw).Kind()
	if ch == ChannelMessenger && kind == KindPhone {
		addr, ok := rawContactAddress(raw)
		if !ok {
			ct, err := RawContact(raw).DecodeForMessage()
			if err != nil {
				return false, "cannot be read"
			}
			addr = []byte(ct.Address)
		}
		return ch.Reaches(string(addr), kind)
	}
	return ch.Reaches("", kind)
}
