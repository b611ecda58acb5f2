package store

import (
	"testing"
	"time"
)

func TestLedgerCodecRoundTrip(t *testing.T) {
	for _, e := range []LedgerEntry{
		{CampaignID: 1, ContactID: 2, Address: "a@example.com", State: RecipientQueued, UpdatedAt: time.Unix(0, 1).UTC()},
		{CampaignID: 1 << 40, ContactID: 1<<63 + 5, Address: "+4712345", State: RecipientFailed, Attempts: 5,
			LastError: "550 5.1.1 mailbox unavailable — ünïcode", UpdatedAt: time.Date(2026, 11, 28, 1, 2, 3, 4, time.UTC)},
	} {
		raw, err := appendLedgerEntry(nil, &e)
		if err != nil {
			t.Fatal(err)
		}
		var got LedgerEntry
		if err := decodeLedgerEntry(raw, &got); err != nil || got != e {
			t.Fatalf("round trip: %+v %v, want %+v", got, err, e)
		}
		for cut := 0; cut < len(raw); cut++ {
			var x LedgerEntry
			if err := decodeLedgerEntry(raw[:cut], &x); err == nil {
				t.Fatalf("a record cut at %d of %d decoded: %+v", cut, len(raw), x)
			}
		}
	}
	if _, err := appendLedgerEntry(nil, &LedgerEntry{State: "bogus"}); err == nil {
		t.Fatal("an unknown state encoded")
	}
}
