package store_test

import (
	"testing"

	"tui/internal/testkit/seed"
	"tui/store"
)

// The start of a large send writes a small first chunk, so its first jobs
// are queued a moment after the preflight; the rest follows in full chunks
// until everyone is in the ledger once.
func TestStartSendWritesASmallFirstChunk(t *testing.T) {
	st, _ := seed.Open(t)
	const n = 5_001
	seed.Contacts(t, st, n, "all")
	c, err := st.CreateCampaign("test", store.Campaign{Name: "Big", Channel: store.ChannelFile, Tags: []string{"all"}, Body: "Hi {{.name}}"})
	if err != nil {
		t.Fatal(err)
	}
	_, s, err := st.StartSend("test", c.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
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
