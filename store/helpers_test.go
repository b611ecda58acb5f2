package store

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The helpers of this file carry a "fx" prefix so that other test files of
// package store (written by other people at the same time) do not collide.

// fxClock is a deterministic clock: every call advances it by one second, so
// each write gets a distinct, predictable time.
type fxClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fxClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// fxOpen opens a fresh database in a temporary directory, driven by a fake
// clock, and closes it when the test ends.
func fxOpen(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(filepath.Join(tb.TempDir(), "tui.db"))
	if err != nil {
		tb.Fatalf("open a fresh database: %v", err)
	}
	clock := &fxClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	s.now = clock.now
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// fxCampaign is a valid draft campaign with the given name.
func fxCampaign(name string) Campaign {
	return Campaign{
		Name:    name,
		Channel: ChannelFile,
		Subject: "Hello {{.name}}",
		Body:    "Dear {{.name}},\nsee you in {{.city}}.",
	}
}

// fxCreate stores a new draft campaign or fails the test.
func fxCreate(tb testing.TB, s *Store, actor, name string) Campaign {
	tb.Helper()
	c, err := s.CreateCampaign(actor, fxCampaign(name))
	if err != nil {
		tb.Fatalf("create campaign %q: %v", name, err)
	}
	return c
}

// fxRawCampaign is the campaign's record exactly as stored.
func fxRawCampaign(tb testing.TB, s *Store, id uint64) []byte {
	tb.Helper()
	var raw []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCampaigns).Get(itob(id))
		if v == nil {
			return ErrNotFound
		}
		raw = bytes.Clone(v)
		return nil
	})
	if err != nil {
		tb.Fatalf("read raw campaign %d: %v", id, err)
	}
	return raw
}

// fxAuditLen is the number of entries in the audit log.
func fxAuditLen(tb testing.TB, s *Store) int {
	tb.Helper()
	n := 0
	if err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketAudit).Stats().KeyN
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return n
}

// fxAddContact stores a contact or fails the test.
func fxAddContact(tb testing.TB, s *Store, addr string, fields map[string]string, tags ...string) Contact {
	tb.Helper()
	c, _, err := s.AddContact("test", Contact{Address: addr, Fields: fields, Tags: tags, Name: fields["name"]})
	if err != nil {
		tb.Fatalf("add contact %s: %v", addr, err)
	}
	return c
}

// fxAllContacts lists every stored contact.
func fxAllContacts(tb testing.TB, s *Store) []Contact {
	tb.Helper()
	page, err := s.ListContacts(ContactFilter{}, 0, 1<<30, true)
	if err != nil {
		tb.Fatalf("list contacts: %v", err)
	}
	return page.Contacts
}

// fxCheckIndexes verifies that the address index and the tag index agree
// exactly with the contact records, and that the maintained count is right.
func fxCheckIndexes(tb testing.TB, s *Store) {
	tb.Helper()
	var problems []string
	err := s.db.View(func(tx *bolt.Tx) error {
		contacts := tx.Bucket(bucketContacts)
		wantAddr := map[string]string{}
		wantTag := map[string]map[string]bool{}
		n := 0
		err := contacts.ForEach(func(k, v []byte) error {
			n++
			var c Contact
			if err := getJSON(contacts, k, &c); err != nil {
				return err
			}
			if c.ID != btoi(k) {
				problems = append(problems, fmt.Sprintf("contact under key %d has id %d", btoi(k), c.ID))
			}
			wantAddr[c.Key()] = string(k)
			for _, t := range c.Tags {
				if wantTag[t] == nil {
					wantTag[t] = map[string]bool{}
				}
				wantTag[t][string(k)] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		if got := int(getUint(tx.Bucket(bucketMeta), keyContactCount)); got != n {
			problems = append(problems, fmt.Sprintf("contact count says %d, %d stored", got, n))
		}
		addrs := tx.Bucket(bucketAddresses)
		if got := addrs.Stats().KeyN; got != len(wantAddr) {
			problems = append(problems, fmt.Sprintf("address index has %d keys, want %d", got, len(wantAddr)))
		}
		for a, id := range wantAddr {
			if got := addrs.Get([]byte(a)); string(got) != id {
				problems = append(problems, fmt.Sprintf("address index %s → %x, want %x", a, got, id))
			}
		}
		tags := tx.Bucket(bucketTags)
		gotTags := map[string]bool{}
		err = tags.ForEachBucket(func(t []byte) error {
			gotTags[string(t)] = true
			want := wantTag[string(t)]
			b := tags.Bucket(t)
			if b.Stats().KeyN != len(want) {
				problems = append(problems, fmt.Sprintf("tag %s index has %d ids, want %d", t, b.Stats().KeyN, len(want)))
			}
			return b.ForEach(func(id, _ []byte) error {
				if !want[string(id)] {
					problems = append(problems, fmt.Sprintf("tag %s index holds contact %d which lacks the tag", t, btoi(id)))
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		for t := range wantTag {
			if !gotTags[t] {
				problems = append(problems, fmt.Sprintf("tag %s has no index bucket", t))
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("check indexes: %v", err)
	}
	if len(problems) > 0 {
		tb.Fatalf("indexes disagree with the records:\n%s", strings.Join(problems, "\n"))
	}
}

// fxSentToAll imports rows contacts (each row padded with pad bytes) tagged
// "t", starts a send of a campaign to them and writes its whole ledger.
func fxSentToAll(tb testing.TB, s *Store, rows, pad int) (Campaign, SendState) {
	tb.Helper()
	if _, err := s.ImportCSV(context.Background(), newPaddedRowsReader(rows, pad), ImportOptions{Tags: []string{"t"}}); err != nil {
		tb.Fatal(err)
	}
	c, err := s.CreateCampaign("test", Campaign{Name: "All", Channel: ChannelFile, Tags: []string{"t"}, Body: "Hi {{.name}}"})
	if err != nil {
		tb.Fatal(err)
	}
	_, st, err := s.StartSend("test", c.ID, 0)
	for err == nil && st.LedgerPending {
		st, err = s.ContinueLedger(c.ID)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return c, st
}
