package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func openQueryStore(t *testing.T) *Store {
	t.Helper()
	st, err := Open(filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestSuppressedAmong(t *testing.T) {
	st := openQueryStore(t)
	if _, err := st.Suppress("test", "Gone@Example.com", "bounced"); err != nil {
		t.Fatal(err)
	}
	got, err := st.SuppressedAmong([]string{"gone@example.com", "here@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if !got["gone@example.com"] || got["here@example.com"] || len(got) != 1 {
		t.Fatalf("SuppressedAmong = %v, want only gone@example.com", got)
	}
	if err := st.Unsuppress("test", "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	got, err = st.SuppressedAmong([]string{"gone@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("after Unsuppress: %v, want none", got)
	}
}

// queryFixture holds contacts whose values need JSON escapes, non-ASCII
// letters (including the Kelvin sign, which lower-cases to k) and tags.
func queryFixture(t *testing.T) *Store {
	t.Helper()
	st := openQueryStore(t)
	var b strings.Builder
	b.WriteString("email,name,note\n")
	notes := []string{`say "hi"`, `a\b`, "<b>&amp;</b>", "Müller", "\u212Aelvin", "ÅSA", "plain", "tab\there", "İstanbul"}
	for i := 1; i <= 90; i++ {
		fmt.Fprintf(&b, "p%02d@example.com,Person %d,\"%s\"\n", i, i, strings.ReplaceAll(notes[i%len(notes)], `"`, `""`))
	}
	if _, err := st.ImportCSV(context.Background(), strings.NewReader(b.String()), ImportOptions{Actor: "t"}); err != nil {
		t.Fatal(err)
	}
	var vip []uint64
	for i := uint64(3); i <= 90; i += 3 {
		vip = append(vip, i)
	}
	if err := st.TagContacts("t", vip, []string{"vip"}, nil); err != nil {
		t.Fatal(err)
	}
	return st
}

var queryTexts = []string{"", "p1", "person 4", "hi", `"hi"`, `a\b`, "<b>", "&amp;", "müller", "mü", "k", "kelvin",
	"åsa", "asa", "plain", "tab", "vip", "vi", "example.com", "nobody", "\t", "i̇stanbul", "stanbul", "fields", "address"}

func TestTextPrefilterNeverRulesOutAMatch(t *testing.T) {
	st := queryFixture(t)
	for _, text := range queryTexts {
		text = strings.ToLower(text)
		pre := newTextPrefilter(text)
		err := st.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketContacts).ForEach(func(_, raw []byte) error {
				var c Contact
				if err := json.Unmarshal(raw, &c); err != nil {
					return err
				}
				if contactMatches(&c, text) && !pre.mayMatch(raw) {
					t.Errorf("the prefilter rules out %s for %q: %s", c.Address, text, raw)
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestContactsEndAgreesWithListContacts(t *testing.T) {
	st := queryFixture(t)
	for _, tag := range []string{"", "vip", "missing"} {
		for _, text := range queryTexts {
			f := ContactFilter{Text: text, Tag: tag}
			all, err := st.ListContacts(f, 0, 1000, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, limit := range []int{1, 7, 1000} {
				page, off, err := st.ContactsEnd(f, limit)
				if err != nil {
					t.Fatal(err)
				}
				want := all.Contacts[max(len(all.Contacts)-limit, 0):]
				if page.Total != all.Total || !page.Exact || off != len(all.Contacts)-len(want) || !slices.EqualFunc(page.Contacts, want, func(a, b Contact) bool { return a.ID == b.ID }) {
					t.Errorf("ContactsEnd(%+v, %d) = total %d, offset %d, %d rows; ListContacts has %d matches",
						f, limit, page.Total, off, len(page.Contacts), all.Total)
				}
			}
		}
	}
}
