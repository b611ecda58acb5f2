package store

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"testing"
)

func TestNormalizeAddress(t *testing.T) {
	valid := []struct{ in, want string }{
		{"ada@example.com", "ada@example.com"},
		{"  Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"},
		{"first+tag@sub.example.co.uk", "first+tag@sub.example.co.uk"},
		{"o'brien@example.ie", "o'brien@example.ie"},
		{"+44 20 7946 0958", "+442079460958"},
		{"020-7946-0958", "02079460958"},
		{"(555) 123.4567", "5551234567"},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"}, // 254: the longest
		{"12345", "12345"},                       // 5 digits: the shortest
		{"+123456789012345", "+123456789012345"}, // 15 digits: the longest (E.164)
	}
	for _, tc := range valid {
		got, err := NormalizeAddress(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeAddress(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		// Normalising is idempotent: the stored form is its own key.
		if again, err := NormalizeAddress(got); err != nil || again != got {
			t.Errorf("NormalizeAddress(%q) = %q, %v; not idempotent", got, again, err)
		}
	}
	invalid := []struct{ in, reason string }{
		{"", "empty"},
		{"   ", "empty"},
		{"ada@", "not a valid email"},
		{"@example.com", "not a valid email"},
		{"ada@localhost", "no dot"},
		{"ada@example.", "not a valid email"},
		{"ada@@example.com", "not a valid email"},
		{"ada lovelace@example.com", "not a valid email"},
		{"Ada <ada@example.com>", "not a valid email"},
		{"ada@example.com, bob@example.com", "not a valid email"},
		{"1234", "5 to 15 digits"},
		{"+1234567890123456", "5 to 15 digits"},
		{"555-CALL-NOW", "neither an email address nor a phone number"},
		{"12+345678", "neither"},
		{"++12345678", "neither"},
		{"+", "5 to 15 digits"},
		{"ada", "neither"},
		{strings.Repeat("a", 65) + "@" + strings.Repeat("b", 185) + ".com", "too long"},
		{strings.Repeat("a", 40000) + "@example.com", "too long"},
		{strings.Repeat("é", 40000), "neither"},
	}
	for _, tc := range invalid {
		got, err := NormalizeAddress(tc.in)
		if err == nil {
			t.Errorf("NormalizeAddress(%q) = %q, want an error", tc.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("NormalizeAddress(%q): %q does not say %q", tc.in, err, tc.reason)
		}
		// A huge cell must not make a huge message (the import keeps them).
		if len(err.Error()) > 200 {
			t.Errorf("NormalizeAddress of %d bytes: a message of %d bytes", len(tc.in), len(err.Error()))
		}
	}
}

func TestAddContactMerges(t *testing.T) {
	s := fxOpen(t)
	c, created, err := s.AddContact("alice", Contact{
		Address: "Ada@Example.com", Name: "Ada",
		Fields: map[string]string{"city": "London", "plan": "free"}, Tags: []string{"VIP", "news"},
	})
	if err != nil || !created {
		t.Fatalf("first add: created=%v err=%v", created, err)
	}
	if c.Address != "ada@example.com" || strings.Join(c.Tags, ",") != "news,vip" {
		t.Errorf("stored %+v", c)
	}
	fxAddContact(t, s, "bob@example.com", nil, "news")

	m, created, err := s.AddContact("alice", Contact{
		Address: " ADA@example.com", Fields: map[string]string{"city": "Paris", "zip": "75001"}, Tags: []string{"beta", "vip"},
	})
	if err != nil || created {
		t.Fatalf("second add: created=%v err=%v", created, err)
	}
	if m.ID != c.ID {
		t.Errorf("merge made a new id %d (was %d)", m.ID, c.ID)
	}
	want := map[string]string{"city": "Paris", "plan": "free", "zip": "75001"}
	if fmt.Sprint(m.Fields) != fmt.Sprint(want) {
		t.Errorf("fields %v, want %v", m.Fields, want)
	}
	if m.Name != "Ada" {
		t.Errorf("an empty name erased %q: %q", "Ada", m.Name)
	}
	if strings.Join(m.Tags, ",") != "beta,news,vip" {
		t.Errorf("tags %v", m.Tags)
	}
	stored, err := s.ContactByAddress("ada@EXAMPLE.com")
	if err != nil || fmt.Sprint(stored.Fields) != fmt.Sprint(want) || !m.CreatedAt.Equal(stored.CreatedAt) {
		t.Errorf("stored %+v, %v", stored, err)
	}
	if counts, _ := s.Counts(); counts.Contacts != 2 {
		t.Errorf("contact count %d, want 2", counts.Contacts)
	}
	tags, err := s.Tags()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(tags) != "[{beta 1} {news 2} {vip 1}]" {
		t.Errorf("tags %v", tags)
	}
	audit, _ := s.Audit(1)
	if audit[0].Action != "contact.update" || audit[0].Object != "contact ada@example.com" {
		t.Errorf("audit %+v", audit[0])
	}
	fxCheckIndexes(t, s)

	if _, _, err := s.AddContact("alice", Contact{Address: "nobody"}); err == nil {
		t.Error("an invalid address was accepted")
	}
	if counts, _ := s.Counts(); counts.Contacts != 2 {
		t.Errorf("contact count %d after a refused add", counts.Contacts)
	}
}

func TestTagContactsKeepsIndex(t *testing.T) {
	s := fxOpen(t)
	a := fxAddContact(t, s, "a@example.com", nil, "news")
	b := fxAddContact(t, s, "b@example.com", nil, "news", "vip")
	c := fxAddContact(t, s, "c@example.com", nil)

	tagCounts := func() string {
		t.Helper()
		tags, err := s.Tags()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(tags)
	}
	if got := tagCounts(); got != "[{news 2} {vip 1}]" {
		t.Fatalf("start: %s", got)
	}

	if err := s.TagContacts("alice", []uint64{a.ID, b.ID, c.ID}, []string{"VIP", "beta"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := tagCounts(); got != "[{beta 3} {news 2} {vip 3}]" {
		t.Errorf("after add: %s", got)
	}
	fxCheckIndexes(t, s)

	if err := s.TagContacts("alice", []uint64{a.ID, b.ID}, nil, []string{"news", "beta"}); err != nil {
		t.Fatal(err)
	}
	if got := tagCounts(); got != "[{beta 1} {vip 3}]" {
		t.Errorf("after remove (an emptied tag disappears): %s", got)
	}
	got, _ := s.Contact(a.ID)
	if strings.Join(got.Tags, ",") != "vip" {
		t.Errorf("a's tags %v", got.Tags)
	}
	fxCheckIndexes(t, s)

	// Removing a tag a contact does not have, and adding one it has, change nothing.
	if err := s.TagContacts("alice", []uint64{c.ID}, []string{"vip"}, []string{"news"}); err != nil {
		t.Fatal(err)
	}
	if got := tagCounts(); got != "[{beta 1} {vip 3}]" {
		t.Errorf("after a no-op: %s", got)
	}

	// One unknown id fails the whole call: nothing is half-tagged.
	err := s.TagContacts("alice", []uint64{a.ID, 999}, []string{"later"}, nil)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if got := tagCounts(); got != "[{beta 1} {vip 3}]" {
		t.Errorf("a failed call changed tags: %s", got)
	}
	fxCheckIndexes(t, s)
}

func TestDeleteContactRemovesIndexEntries(t *testing.T) {
	s := fxOpen(t)
	a := fxAddContact(t, s, "a@example.com", nil, "solo", "shared")
	fxAddContact(t, s, "b@example.com", nil, "shared")
	if err := s.DeleteContact("alice", a.ID); err != nil {
		t.Fatal(err)
	}
	fxCheckIndexes(t, s)
	tags, _ := s.Tags()
	if fmt.Sprint(tags) != "[{shared 1}]" {
		t.Errorf("tags %v", tags)
	}
	if _, err := s.ContactByAddress("a@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted contact still found by address: %v", err)
	}
	if counts, _ := s.Counts(); counts.Contacts != 1 {
		t.Errorf("count %d", counts.Contacts)
	}
	if err := s.DeleteContact("alice", a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	// The address is free again and gets a new contact.
	again, created, err := s.AddContact("alice", Contact{Address: "a@example.com"})
	if err != nil || !created || again.ID == a.ID || len(again.Tags) != 0 {
		t.Errorf("re-add: %+v created=%v %v", again, created, err)
	}
	fxCheckIndexes(t, s)
}

func TestListContacts(t *testing.T) {
	s := fxOpen(t)
	for i := 1; i <= 30; i++ {
		var tags []string
		if i%3 == 0 {
			tags = append(tags, "three")
		}
		if i%5 == 0 {
			tags = append(tags, "five")
		}
		city := "Paris"
		if i%2 == 0 {
			city = "Berlin"
		}
		fxAddContact(t, s, fmt.Sprintf("user%02d@example.com", i), map[string]string{"city": city, "name": fmt.Sprintf("User %d", i)}, tags...)
	}
	addrs := func(p ContactPage) string {
		var out []string
		for _, c := range p.Contacts {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(c.Address, "user"), "@example.com"))
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		name          string
		f             ContactFilter
		offset, limit int
		countAll      bool
		want          string
		total         int
		exact         bool
	}{
		{"all, first page", ContactFilter{}, 0, 3, false, "01,02,03", 30, true},
		{"all, second page", ContactFilter{}, 3, 3, false, "04,05,06", 30, true},
		{"all, past the end", ContactFilter{}, 29, 5, false, "30", 30, true},
		{"tag", ContactFilter{Tag: "Five"}, 0, 10, true, "05,10,15,20,25,30", 6, true},
		{"tag, paged, counted", ContactFilter{Tag: "five"}, 2, 2, true, "15,20", 6, true},
		{"tag, paged, not counted", ContactFilter{Tag: "five"}, 2, 2, false, "15,20", 4, false},
		{"unknown tag", ContactFilter{Tag: "nope"}, 0, 10, true, "", 0, true},
		{"text in a field, any case", ContactFilter{Text: "BERLIN"}, 0, 3, true, "02,04,06", 15, true},
		{"text, stops early", ContactFilter{Text: "berlin"}, 0, 3, false, "02,04,06", 3, false},
		{"text in the address", ContactFilter{Text: "user1"}, 0, 20, true, "10,11,12,13,14,15,16,17,18,19", 10, true},
		{"text in the name", ContactFilter{Text: "user 7"}, 0, 20, true, "07", 1, true},
		{"text equal to a tag", ContactFilter{Text: "three"}, 0, 20, true, "03,06,09,12,15,18,21,24,27,30", 10, true},
		{"text and tag", ContactFilter{Text: "paris", Tag: "three"}, 0, 20, true, "03,09,15,21,27", 5, true},
		{"no match", ContactFilter{Text: "tokyo"}, 0, 20, true, "", 0, true},
	}
	for _, tc := range cases {
		p, err := s.ListContacts(tc.f, tc.offset, tc.limit, tc.countAll)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := addrs(p); got != tc.want || p.Total != tc.total || p.Exact != tc.exact {
			t.Errorf("%s: got [%s] total %d exact %v; want [%s] total %d exact %v", tc.name, got, p.Total, p.Exact, tc.want, tc.total, tc.exact)
		}
	}
}

func TestContactTemplateDataAndHasTag(t *testing.T) {
	c := Contact{Address: "a@example.com", Name: "Ada", Fields: map[string]string{"city": "Paris"}, Tags: []string{"vip"}}
	d := c.TemplateData()
	if d["address"] != "a@example.com" || d["name"] != "Ada" || d["city"] != "Paris" || len(d) != 3 {
		t.Errorf("data %v", d)
	}
	d["city"] = "changed"
	if c.Fields["city"] != "Paris" {
		t.Error("TemplateData shares the contact's map")
	}
	if !c.HasTag("vip") || c.HasTag("news") {
		t.Error("HasTag")
	}
}

// slowNormalizeEmail is NormalizeAddress without its fast path.
func slowNormalizeEmail(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("%q is not a valid email address", s)
	}
	at := strings.LastIndexByte(s, '@')
	if !strings.Contains(s[at+1:], ".") || strings.HasSuffix(s, ".") {
		return "", fmt.Errorf("%q is not a valid email address: the domain has no dot", s)
	}
	return strings.ToLower(s), nil
}

// The fast path must agree with net/mail on everything it accepts.
func FuzzPlainEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", "a.b@c.d", "a..b@c.d", ".a@b.c", "a@-b.c", "a@b-.c", "o'b@x.ie",
		"a+b%c_d@x.y", "a@b", "a@b.", "a@.b", "@b.c", "a@b@c.d", "A@B.COM", "a-@x.y", "1@2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := plainEmail(s)
		if !ok {
			return
		}
		slow, err := slowNormalizeEmail(s)
		if err != nil || slow != fast {
			t.Fatalf("%q: fast path %q, net/mail %q, %v", s, fast, slow, err)
		}
	})
}
