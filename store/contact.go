package store

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Contact is one recipient. Address is an email address, a phone number or
// a Messenger page-scoped ID, normalised, and Kind says which; Fields holds
// every column it was imported with and feeds the templates.
//
// Kind is empty in records written before kinds existed: decoding them
// infers it from the address (email or phone).
type Contact struct {
	ID        uint64            `json:"id"`
	Address   string            `json:"address"`
	Kind      AddressKind       `json:"kind,omitempty"`
	Name      string            `json:"name,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
	Tags      []string          `json:"tags"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	// The import that last wrote the contact and its row there; a second row
	// with the same address in the same file is reported as a duplicate.
	ImportID  string `json:"import_id,omitempty"`
	ImportRow int    `json:"import_row,omitempty"`
}

// UnmarshalJSON reads a contact record, inferring the kind of one written
// before kinds existed.
func (c *Contact) UnmarshalJSON(data []byte) error {
	type plain Contact
	if err := json.Unmarshal(data, (*plain)(c)); err != nil {
		return err
	}
	if c.Kind == "" && c.Address != "" {
		c.Kind = InferKind(c.Address)
	}
	return nil
}

// TemplateData is what templates see: every field, plus address and name.
func (c *Contact) TemplateData() map[string]string {
	data := make(map[string]string, len(c.Fields)+2)
	for k, v := range c.Fields {
		data[k] = v
	}
	data["address"] = c.Address
	if _, ok := data["name"]; !ok && c.Name != "" {
		data["name"] = c.Name
	}
	return data
}

// HasTag reports whether the contact carries tag.
func (c *Contact) HasTag(tag string) bool {
	for _, t := range c.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// NormalizeAddress validates an email address, a phone number or a
// psid:-prefixed Messenger page-scoped ID and returns the form used as its
// key: a lower-cased email address, a phone number of digits with an
// optional leading +, or psid: and the ID's digits.
func NormalizeAddress(raw string) (string, error) {
	addr, kind, err := NormalizeAddressKind(raw, "")
	if err != nil {
		return "", err
	}
	return AddressKey(addr, kind), nil
}

func normalizeEmail(s string) (string, error) {
	if len(s) > maxEmailLength {
		return "", fmt.Errorf("%q is too long for an email address (at most %d characters)", shorten(s), maxEmailLength)
	}
	if norm, ok := plainEmail(s); ok {
		return norm, nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("%q is not a valid email address", shorten(s))
	}
	at := strings.LastIndexByte(s, '@')
	if !strings.Contains(s[at+1:], ".") || strings.HasSuffix(s, ".") {
		return "", fmt.Errorf("%q is not a valid email address: the domain has no dot", s)
	}
	return strings.ToLower(s), nil
}

func normalizePhone(s string) (string, error) {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return "", fmt.Errorf("%q is neither an email address nor a phone number", shorten(s))
		}
	}
	digits := strings.TrimPrefix(b.String(), "+")
	if len(digits) < 5 || len(digits) > 15 {
		if len(digits) > 15 && len(digits) <= maxPSIDDigits && digits == s {
			return "", fmt.Errorf("%q is not a phone number (5 to 15 digits); if it is a Messenger page-scoped ID, name its column psid", shorten(s))
		}
		return "", fmt.Errorf("%q is not a phone number (5 to 15 digits)", shorten(s))
	}
	return b.String(), nil
}

// maxEmailLength is the longest address SMTP can carry (RFC 5321); it also
// keeps the address index's keys far below bbolt's key size limit.
const maxEmailLength = 254

// shorten cuts a value quoted in an error message, so that a huge cell
// cannot make a huge report.
func shorten(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// plainEmail is NormalizeAddress's fast path for the common shape
// local@domain.tld made only of letters, digits and . _ % + - ' (no leading,
// trailing or doubled dots). mail.ParseAddress accepts every such address
// unchanged; anything else takes the slow path. The import calls this for
// every row, and mail.ParseAddress is slow.
func plainEmail(s string) (string, bool) {
	at := strings.IndexByte(s, '@')
	if at < 0 {
		return "", false
	}
	local, domain := s[:at], s[at+1:]
	if !dotAtom(local, true) || !dotAtom(domain, false) || strings.IndexByte(domain, '.') < 0 {
		return "", false
	}
	return strings.ToLower(s), true
}

func dotAtom(s string, local bool) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
		case c == '.':
			if s[i-1] == '.' {
				return false
			}
		case local && (c == '_' || c == '%' || c == '+' || c == '\''):
		default:
			return false
		}
	}
	return true
}

// AddContact creates a contact, or merges into the existing one with the same
// address (fields updated, tags merged). It reports whether it was new.
func (s *Store) AddContact(actor string, c Contact) (Contact, bool, error) {
	addr, kind, err := NormalizeAddressKind(c.Address, c.Kind)
	if err != nil {
		return Contact{}, false, err
	}
	c.Address, c.Kind = addr, kind
	c.Tags = NormalizeTags(c.Tags)
	if why := textProblem(c.Name); why != "" {
		return Contact{}, false, fmt.Errorf("the name %s", why)
	}
	for k, v := range c.Fields {
		if why := textProblem(k + v); why != "" {
			return Contact{}, false, fmt.Errorf("the field %q %s", k, why)
		}
	}
	var created bool
	err = s.db.Update(func(tx *bolt.Tx) error {
		var err error
		c, created, err = s.upsertContact(tx, c, s.now().UTC())
		if err != nil {
			return err
		}
		if created {
			if err := addUint(tx.Bucket(bucketMeta), keyContactCount, 1); err != nil {
				return err
			}
		}
		action := "contact.update"
		if created {
			action = "contact.create"
		}
		return s.audit(tx, actor, action, "contact "+c.Address, "")
	})
	if err != nil {
		return Contact{}, false, fmt.Errorf("save contact: %w", err)
	}
	return c, created, nil
}

// upsertContact writes c, merging into an existing contact with its address.
// c.Address and c.Kind must be normalised and c.Tags normalised. The caller counts
// created contacts into keyContactCount.
func (s *Store) upsertContact(tx *bolt.Tx, c Contact, now time.Time) (Contact, bool, error) {
	contacts, addrs := tx.Bucket(bucketContacts), tx.Bucket(bucketAddresses)
	if idb := addrs.Get([]byte(c.Key())); idb != nil {
		var cur Contact
		if err := getJSON(contacts, idb, &cur); err != nil {
			return cur, false, err
		}
		if cur.Fields == nil {
			cur.Fields = map[string]string{}
		}
		for k, v := range c.Fields {
			cur.Fields[k] = v
		}
		if c.Name != "" {
			cur.Name = c.Name
		}
		added := missing(cur.Tags, c.Tags)
		cur.Tags = NormalizeTags(append(cur.Tags, added...))
		cur.UpdatedAt, cur.ImportID, cur.ImportRow = now, c.ImportID, c.ImportRow
		if err := putContact(contacts, idb, &cur); err != nil {
			return cur, false, err
		}
		return cur, false, indexTags(tx, cur.ID, added, nil)
	}
	id, err := contacts.NextSequence()
	if err != nil {
		return c, false, err
	}
	c.ID, c.CreatedAt, c.UpdatedAt = id, now, now
	key := itob(id)
	if err := putContact(contacts, key, &c); err != nil {
		return c, false, err
	}
	if err := addrs.Put([]byte(c.Key()), key); err != nil {
		return c, false, err
	}
	return c, true, indexTags(tx, id, c.Tags, nil)
}

// missing returns the members of want that have is lacks.
func missing(have, want []string) []string {
	var out []string
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			out = append(out, w)
		}
	}
	return out
}

// indexTags adds and removes one contact from the per-tag index buckets.
func indexTags(tx *bolt.Tx, id uint64, add, remove []string) error {
	tags := tx.Bucket(bucketTags)
	key := itob(id)
	for _, t := range add {
		b, err := tags.CreateBucketIfNotExists([]byte(t))
		if err != nil {
			return err
		}
		if err := b.Put(key, nil); err != nil {
			return err
		}
	}
	for _, t := range remove {
		if b := tags.Bucket([]byte(t)); b != nil {
			if err := b.Delete(key); err != nil {
				return err
			}
			if k, _ := b.Cursor().First(); k == nil {
				if err := tags.DeleteBucket([]byte(t)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Contact reads one contact.
func (s *Store) Contact(id uint64) (Contact, error) {
	var c Contact
	err := s.db.View(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bucketContacts), itob(id), &c) })
	if err != nil {
		return Contact{}, fmt.Errorf("read contact %d: %w", id, err)
	}
	return c, nil
}

// ContactByAddress finds a contact by its (un-normalised) address; a PSID
// is written psid:ID.
func (s *Store) ContactByAddress(addr string) (Contact, error) {
	norm, err := NormalizeAddress(addr)
	if err != nil {
		return Contact{}, err
	}
	var c Contact
	err = s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketAddresses).Get([]byte(norm))
		if id == nil {
			return ErrNotFound
		}
		return getJSON(tx.Bucket(bucketContacts), id, &c)
	})
	if err != nil {
		return Contact{}, fmt.Errorf("find contact %s: %w", norm, err)
	}
	return c, nil
}

// ContactFilter selects contacts. Text matches the address, name or any field
// value (case-insensitive); Tag keeps contacts with that tag.
type ContactFilter struct {
	Text string
	Tag  string
}

// ContactPage is one page of a filtered contact listing.
type ContactPage struct {
	Contacts []Contact
	// Total is the number of matching contacts when the whole set was
	// scanned; Exact is false when the scan stopped early at Limit.
	Total int
	Exact bool
}

// ListContacts returns up to limit contacts matching f, skipping the first
// offset matches, in address-creation order. With countAll it keeps scanning
// to report the exact total.
func (s *Store) ListContacts(f ContactFilter, offset, limit int, countAll bool) (ContactPage, error) {
	var page ContactPage
	text := strings.ToLower(strings.TrimSpace(f.Text))
	tag := strings.ToLower(strings.TrimSpace(f.Tag))
	err := s.db.View(func(tx *bolt.Tx) error {
		contacts := tx.Bucket(bucketContacts)
		if text == "" && tag == "" {
			page.Total = int(getUint(tx.Bucket(bucketMeta), keyContactCount))
			page.Exact = true
			c := contacts.Cursor()
			n := 0
			for k, v := c.First(); k != nil && len(page.Contacts) < limit; k, v = c.Next() {
				if n++; n <= offset {
					continue
				}
				var ct Contact
				if err := decodeContact(v, &ct); err != nil {
					return err
				}
				page.Contacts = append(page.Contacts, ct)
			}
			return nil
		}
		pre := newTextPrefilter(text)
		walk := mapWalk{tx: tx}
		visit := func(k, v []byte) (bool, error) {
			walk.row()
			if text != "" && !pre.mayMatch(v) {
				return true, nil // cannot match: skip the decoding
			}
			var ct Contact
			if err := decodeContact(v, &ct); err != nil {
				return false, err
			}
			if text != "" && !contactMatches(&ct, text) {
				return true, nil
			}
			page.Total++
			if page.Total > offset && len(page.Contacts) < limit {
				page.Contacts = append(page.Contacts, ct)
			}
			return countAll || len(page.Contacts) < limit, nil
		}
		page.Exact = true
		if tag != "" {
			tb := tx.Bucket(bucketTags).Bucket([]byte(tag))
			if tb == nil {
				return nil
			}
			c := tb.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				more, err := visit(k, contacts.Get(k))
				if err != nil {
					return err
				}
				if !more {
					page.Exact = false
					break
				}
			}
			return nil
		}
		c := contacts.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			more, err := visit(k, v)
			if err != nil {
				return err
			}
			if !more {
				page.Exact = false
				break
			}
		}
		return nil
	})
	if err != nil {
		return ContactPage{}, fmt.Errorf("list contacts: %w", err)
	}
	return page, nil
}

func contactMatches(c *Contact, lowerText string) bool {
	if strings.Contains(c.Address, lowerText) || strings.Contains(strings.ToLower(c.Name), lowerText) {
		return true
	}
	for _, v := range c.Fields {
		if strings.Contains(strings.ToLower(v), lowerText) {
			return true
		}
	}
	for _, t := range c.Tags {
		if t == lowerText {
			return true
		}
	}
	return false
}

// TagCount is a tag and how many contacts carry it.
type TagCount struct {
	Tag   string `json:"tag"`
	Count int    `json:"count"`
}

// Tags lists every tag in use, alphabetically, with its contact count.
func (s *Store) Tags() ([]TagCount, error) {
	var out []TagCount
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTags).ForEachBucket(func(k []byte) error {
			n := tx.Bucket(bucketTags).Bucket(k).Stats().KeyN
			out = append(out, TagCount{Tag: string(k), Count: n})
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out, err
}

// TagContacts adds and removes tags on the given contacts in one transaction.
func (s *Store) TagContacts(actor string, ids []uint64, add, remove []string) error {
	add, remove = NormalizeTags(add), NormalizeTags(remove)
	err := s.db.Update(func(tx *bolt.Tx) error {
		contacts := tx.Bucket(bucketContacts)
		now := s.now().UTC()
		for _, id := range ids {
			var c Contact
			if err := getJSON(contacts, itob(id), &c); err != nil {
				return fmt.Errorf("contact %d: %w", id, err)
			}
			added := missing(c.Tags, add)
			var removed, kept []string
			for _, t := range c.Tags {
				if contains(remove, t) {
					removed = append(removed, t)
				} else {
					kept = append(kept, t)
				}
			}
			c.Tags = NormalizeTags(append(kept, added...))
			c.UpdatedAt = now
			if err := putContact(contacts, itob(id), &c); err != nil {
				return err
			}
			if err := indexTags(tx, id, added, removed); err != nil {
				return err
			}
		}
		detail := fmt.Sprintf("%d contacts; +%s -%s", len(ids), strings.Join(add, ","), strings.Join(remove, ","))
		return s.audit(tx, actor, "contact.tag", "contacts", detail)
	})
	if err != nil {
		return fmt.Errorf("tag contacts: %w", err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// DeleteContact removes a contact and its tag index entries.
func (s *Store) DeleteContact(actor string, id uint64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		contacts := tx.Bucket(bucketContacts)
		var c Contact
		if err := getJSON(contacts, itob(id), &c); err != nil {
			return err
		}
		if err := contacts.Delete(itob(id)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketAddresses).Delete([]byte(c.Key())); err != nil {
			return err
		}
		if err := indexTags(tx, id, nil, c.Tags); err != nil {
			return err
		}
		if err := addUint(tx.Bucket(bucketMeta), keyContactCount, -1); err != nil {
			return err
		}
		return s.audit(tx, actor, "contact.delete", "contact "+c.Address, "")
	})
	if err != nil {
		return fmt.Errorf("delete contact %d: %w", id, err)
	}
	return nil
}

// EditContact replaces a contact's address, name, fields and tags with
// those of edit, keeping its ID, its creation time and its place in every
// send's ledger. A new address must not belong to another contact; bad
// input changes nothing.
func (s *Store) EditContact(actor string, id uint64, edit Contact) (Contact, error) {
	addr, kind, err := NormalizeAddressKind(edit.Address, edit.Kind)
	if err != nil {
		return Contact{}, err
	}
	if why := textProblem(edit.Name); why != "" {
		return Contact{}, fmt.Errorf("the name %s", why)
	}
	fields := make(map[string]string, len(edit.Fields))
	for k, v := range edit.Fields {
		name := columnName(k)
		if name == "" {
			return Contact{}, fmt.Errorf("a field needs a name (value %q)", v)
		}
		if why := textProblem(name + v); why != "" {
			return Contact{}, fmt.Errorf("the field %q %s", name, why)
		}
		fields[name] = v
	}
	if edit.Name != "" {
		fields["name"] = edit.Name
	}
	var out Contact
	err = s.db.Update(func(tx *bolt.Tx) error {
		contacts, addrs := tx.Bucket(bucketContacts), tx.Bucket(bucketAddresses)
		key := itob(id)
		var cur Contact
		if err := getJSON(contacts, key, &cur); err != nil {
			return err
		}
		next := cur
		next.Address, next.Kind, next.Name, next.Fields = addr, kind, edit.Name, fields
		next.Tags = NormalizeTags(edit.Tags)
		next.UpdatedAt = s.now().UTC()
		if next.Key() != cur.Key() {
			if other := addrs.Get([]byte(next.Key())); other != nil && btoi(other) != id {
				return fmt.Errorf("%s is the address of another contact (ID %d): edit or delete that one instead", addr, btoi(other))
			}
			if err := addrs.Delete([]byte(cur.Key())); err != nil {
				return err
			}
			if err := addrs.Put([]byte(next.Key()), key); err != nil {
				return err
			}
		}
		if err := putContact(contacts, key, &next); err != nil {
			return err
		}
		if err := indexTags(tx, id, missing(cur.Tags, next.Tags), missing(next.Tags, cur.Tags)); err != nil {
			return err
		}
		out = next
		detail := ""
		if cur.Address != next.Address {
			detail = "address was " + cur.Address
		}
		return s.audit(tx, actor, "contact.update", "contact "+next.Address, detail)
	})
	if err != nil {
		return Contact{}, fmt.Errorf("save contact %d: %w", id, err)
	}
	return out, nil
}

// FieldNames lists the template fields of the first contacts (up to
// sample), so a form can offer the fields a contact lacks.
func (s *Store) FieldNames(sample int) ([]string, error) {
	seen := map[string]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketContacts).Cursor()
		n := 0
		for k, v := c.First(); k != nil && n < sample; k, v = c.Next() {
			n++
			var ct Contact
			if err := decodeContact(v, &ct); err != nil {
				continue
			}
			for f := range ct.Fields {
				seen[f] = true
			}
		}
		return nil
	})
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	sort.Strings(out)
	return out, err
}
