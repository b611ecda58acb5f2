package store_test

import (
	"fmt"
	"testing"

	"tui/internal/testkit/seed"
	"tui/store"
)

// The start of a large send writes a small first chunk, so its first jobs
// are queued a moment after the preflight; the rest follows in chunks
// until everyone is in the ledger once.
func TestStartSendWritesASmallFirstChunk(t *testing.T) {
	st, _ := seed.Open(t)
	const n = 5_001
	seed.Contacts(t, st, n, "all")
	c, s := startToAll(t, st)
	var err error
	if s.Total != 5_000 || !s.LedgerPending {
		t.Fatalf("first chunk: %d recipients, more pending %v; want 5000 and more", s.Total, s.LedgerPending)
	}
	for s.LedgerPending {
		if s, err = st.ContinueLedger(c.ID); err != nil {
			t.Fatal(err)
		}
	}
	if s.Total != n || s.Counts[store.RecipientQueued] != n {
		t.Fatalf("whole ledger: %d recipients, %d queued; want %d", s.Total, s.Counts[store.RecipientQueued], n)
	}
	seen := 0
	if err := st.ForEachQueued(c.ID, 0, func(e *store.LedgerEntry, _ store.RawContact) bool { seen++; return true }); err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Fatalf("%d rows queued in the ledger, want %d", seen, n)
	}
}

// Each chunk reads the whole suppression list: with a long one, the chunks
// after the first grow to eight times its length (up to 50,000), so that
// reading it does not cost more than the rows; the suppressed are still
// left out, and everyone else is in the ledger once.
func TestLedgerChunksGrowWithTheSuppressionList(t *testing.T) {
	st, _ := seed.Open(t)
	const n, suppressed = 30_000, 1_000
	seed.Contacts(t, st, n, "all")
	for i := 1; i <= suppressed; i++ {
		if _, err := st.Suppress("test", fmt.Sprintf("c%d@example.com", 3*i), "unsubscribed"); err != nil {
			t.Fatal(err)
		}
	}
	c, s := startToAll(t, st)
	var err error
	sizes := []int{s.Total}
	for s.LedgerPending {
		before := s.Total
		if s, err = st.ContinueLedger(c.ID); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, s.Total-before)
	}
	if want := []int{5_000, 8_000, 8_000, 8_000}; fmt.Sprint(sizes[:min(len(sizes), 4)]) != fmt.Sprint(want) {
		t.Errorf("chunks of %v; want a first of 5,000, then 8,000 each", sizes)
	}
	if s.Total != n-suppressed {
		t.Fatalf("whole ledger: %d recipients; want %d", s.Total, n-suppressed)
	}
	seen := map[uint64]bool{}
	if err := st.ForEachQueued(c.ID, 0, func(e *store.LedgerEntry, _ store.RawContact) bool {
		if seen[e.ContactID] || (e.ContactID%3 == 0 && e.ContactID <= 3*suppressed) {
			t.Errorf("contact %d in the ledger again or while suppressed", e.ContactID)
		}
		seen[e.ContactID] = true
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n-suppressed {
		t.Fatalf("%d rows queued in the ledger, want %d", len(seen), n-suppressed)
	}
}

// startToAll starts a send of a campaign to the contacts tagged "all" and
// writes its first chunk.
func startToAll(t *testing.T, st *store.Store) (store.Campaign, store.SendState) {
	t.Helper()
	c, err := st.CreateCampaign("test", store.Campaign{Name: "Big", Channel: store.ChannelFile, Tags: []string{"all"}, Body: "Hi {{.name}}"})
	if err != nil {
		t.Fatal(err)
	}
	_, s, err := st.StartSend("test", c.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}
