package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// fuzzSeedContact exists before every fuzzed import, so that rows can also
// update a contact.
var fuzzSeedContact = Contact{Address: "seed@example.com", Name: "Seed", Fields: map[string]string{"name": "Seed", "city": "Oslo"}, Tags: []string{"seeded"}}

// fuzzReset empties the contacts, their indexes and the audit log, and
// stores the seed contact: each input starts from the same database without
// the cost of a new file.
func fuzzReset(t *testing.T, s *Store) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketContacts, bucketAddresses, bucketTags, bucketAudit} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return putUint(tx.Bucket(bucketMeta), keyContactCount, 0)
	})
	if err != nil {
		t.Fatalf("reset the fuzz database: %v", err)
	}
	if _, _, err := s.AddContact("seed", fuzzSeedContact); err != nil {
		t.Fatal(err)
	}
}

// FuzzImportCSV feeds arbitrary files to ImportCSV. Invariants: it never
// panics; every row read is accounted for exactly once; every stored contact
// is whole, has a normalised valid address and is indexed; the maintained
// count matches; a file refused as a whole writes nothing.
func FuzzImportCSV(f *testing.F) {
	for _, tc := range importCases {
		f.Add(tc.csv, strings.Join(tc.tags, ","))
	}
	f.Add("email,name\nseed@example.com,New Name\nSEED@example.com,dup\n", "vip")
	f.Add("email,seeded\n\"a@b.co\"\"\",x\n\"\n", "")
	f.Add("phone,email,address\n1,2,3\n", "a b;c")
	f.Add("name,email,phone,psid\nA,a@b.co,,\nB,,+1 415 555 0123,\nC,,,1254477777772919\nD,,,1.2E+15\nE,,,\nF,,,psid:1254477777772919\n", "fans")
	f.Add("phone,psid\n1254477777772,\n,1254477777772\n", "")

	// One database per fuzzing process, not per input.
	s, err := Open(filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	s.db.NoSync = true // the inputs are thrown away; durability only costs time
	f.Cleanup(func() { _ = s.Close() })

	f.Fuzz(func(t *testing.T, data, tags string) {
		if len(data) > 64<<10 {
			t.Skip("keep each input cheap")
		}
		fuzzReset(t, s)
		optTags := []string{tags}

		rep, err := s.ImportCSV(context.Background(), strings.NewReader(data), ImportOptions{Actor: "fuzz", Name: "f.csv", Tags: optTags})

		var ie *ImportError
		if errors.As(err, &ie) {
			if ie.Reason == "" {
				t.Error("an ImportError without a reason")
			}
			if n := fxAuditLen(t, s); n != 1 {
				t.Errorf("a refused file wrote %d audit entries", n-1)
			}
			all := fxAllContacts(t, s)
			if len(all) != 1 || summarise(all[0]) != "seed@example.com name=Seed city=Oslo name=Seed tags=[seeded]" {
				t.Errorf("a refused file changed the contacts: %v", all)
			}
			if rep.Rows != 0 || rep.Created != 0 || rep.Updated != 0 || len(rep.Problems) != 0 {
				t.Errorf("a refused file reported work: %+v", rep)
			}
		} else if err != nil {
			t.Fatalf("ImportCSV failed on an in-memory file: %v", err)
		}

		if rep.Rows != rep.Created+rep.Updated+rep.Duplicates+rep.Invalid {
			t.Errorf("rows %d != created %d + updated %d + duplicates %d + invalid %d",
				rep.Rows, rep.Created, rep.Updated, rep.Duplicates, rep.Invalid)
		}
		if want := min(rep.Duplicates+rep.Invalid, MaxReportedProblems); len(rep.Problems) != want {
			t.Errorf("%d problems listed, want %d", len(rep.Problems), want)
		}
		lines := strings.Count(data, "\n") + strings.Count(data, "\r") + 1
		for _, p := range rep.Problems {
			if p.Line < 2 || p.Line > lines || p.Reason == "" {
				t.Errorf("problem %+v: line outside the file's %d lines, or no reason", p, lines)
			}
		}
		if rep.Updated > 1 {
			t.Errorf("%d updates with one existing contact", rep.Updated)
		}

		all := fxAllContacts(t, s)
		counts, err := s.Counts()
		if err != nil {
			t.Fatal(err)
		}
		if counts.Contacts != len(all) || len(all) != 1+rep.Created {
			t.Errorf("count %d, %d listed, %d created + the seed", counts.Contacts, len(all), rep.Created)
		}
		wantTags := NormalizeTags(optTags)
		for _, c := range all {
			norm, kind, err := NormalizeAddressKind(c.Address, c.Kind)
			if err != nil || norm != c.Address || kind != c.Kind || c.Kind == "" {
				t.Errorf("stored address %q of kind %q: normalises to %q of kind %q, %v", c.Address, c.Kind, norm, kind, err)
			}
			for _, col := range rep.Columns {
				if _, ok := c.Fields[col]; !ok && c.Address != fuzzSeedContact.Address {
					t.Errorf("contact %s lacks column %s: %s", c.Address, col, summarise(c))
				}
			}
			for _, tag := range wantTags {
				if !c.HasTag(tag) && (c.Address != fuzzSeedContact.Address || rep.Updated == 1) {
					t.Errorf("contact %s lacks the import's tag %s", c.Address, tag)
				}
			}
		}
		fxCheckIndexes(t, s)
	})
}
