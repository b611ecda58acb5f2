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

// A start reads each recipient's address straight from the record; where it
// can, it must read what contactAddress does, and the row it writes must be
// the row appendLedgerEntry would.
func TestRawContactAddressMatchesContactAddress(t *testing.T) {
	records := append([]string{
		`{"id":1,"address":"plain@example.com","name":"x"}`,
		`{ "id" : 2 , "address" : "spaced@example.com" }`,
		`{"id":3,"address":"esc\"aped@example.com"}`,
		`{"address":"first@example.com","id":4}`,
		`{"id":12345678901234567890123,"address":"long@example.com"}`,
		`{"id":5,"address":"ünï@example.com"}`,
	}, rawRecords...)
	fast := 0
	for _, rec := range records {
		addr, ok := rawContactAddress([]byte(rec))
		want, err := contactAddress([]byte(rec))
		if !ok {
			continue
		}
		fast++
		if err != nil || string(addr) != want {
			t.Errorf("record %s: raw address %q, contactAddress %q %v", rec, addr, want, err)
		}
		e := LedgerEntry{CampaignID: 3, ContactID: 9, Address: want, State: RecipientQueued, Round: 2, UpdatedAt: time.Unix(5, 6)}
		row, err1 := appendLedgerRow(nil, &e, addr)
		full, err2 := appendLedgerEntry(nil, &e)
		if err1 != nil || err2 != nil || string(row) != string(full) {
			t.Errorf("record %s: row %x (%v), want %x (%v)", rec, row, err1, full, err2)
		}
	}
	if fast < 10 {
		t.Fatalf("only %d records took the raw path", fast)
	}
}
