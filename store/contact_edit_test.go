package store

import (
	"strings"
	"testing"
)

// EditContact replaces the address, name, fields and tags; the indexes
// follow; an address another contact has is refused and nothing changes.
func TestEditContact(t *testing.T) {
	s := fxOpen(t)
	ada, _, err := s.AddContact("t", Contact{Address: "ada@example.com", Tags: []string{"news"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddContact("t", Contact{Address: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.EditContact("t", ada.ID, Contact{Address: "Ada.L@Example.com", Name: "Ada", Tags: []string{"vip"},
		Fields: map[string]string{"Home City": "Paris"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != ada.ID || got.Address != "ada.l@example.com" || got.Fields["home_city"] != "Paris" || got.Fields["name"] != "Ada" ||
		strings.Join(got.Tags, ",") != "vip" || !got.CreatedAt.Equal(ada.CreatedAt) {
		t.Fatalf("edited %+v", got)
	}
	if _, err := s.ContactByAddress("ada@example.com"); err == nil {
		t.Error("the old address still finds the contact")
	}
	fxCheckIndexes(t, s)
	if _, err := s.EditContact("t", ada.ID, Contact{Address: "bob@example.com"}); err == nil || !strings.Contains(err.Error(), "another contact") {
		t.Fatalf("taking bob's address: %v", err)
	}
	if _, err := s.EditContact("t", ada.ID, Contact{Address: "not an address"}); err == nil {
		t.Fatal("a bad address was accepted")
	}
	after, _ := s.Contact(ada.ID)
	if after.Address != "ada.l@example.com" || strings.Join(after.Tags, ",") != "vip" {
		t.Fatalf("a refused edit changed the contact: %+v", after)
	}
	fxCheckIndexes(t, s)
}
