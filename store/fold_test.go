package store

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func TestMergeIsIdempotentAndOrderInsensitive(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ev := func(s RecipientState, attempt int, reason string) RecipientEvent {
		return RecipientEvent{ContactID: 1, Round: 1, State: s, Attempt: attempt, Reason: reason, At: at}
	}
	retry1, retry2 := ev(RecipientRetrying, 1, "421 a"), ev(RecipientRetrying, 2, "421 b")
	sent3, failed3 := ev(RecipientSent, 3, ""), ev(RecipientFailed, 3, "550")
	skipped := ev(RecipientSkipped, 0, "cancelled")
	reclaimed := ev("", 2, "")
	cases := []struct {
		name   string
		events []RecipientEvent
		state  RecipientState
		tries  int
		reason string
	}{
		{"in order", []RecipientEvent{retry1, retry2, sent3}, RecipientSent, 3, ""},
		{"delivery first", []RecipientEvent{sent3, retry2, retry1}, RecipientSent, 3, ""},
		{"failure then stale retries", []RecipientEvent{failed3, retry1, retry2}, RecipientFailed, 3, "550"},
		{"late delivery beats failure", []RecipientEvent{failed3, sent3}, RecipientSent, 3, ""},
		{"retries out of order", []RecipientEvent{retry2, retry1}, RecipientRetrying, 2, "421 b"},
		{"skip is final", []RecipientEvent{skipped, retry1}, RecipientSkipped, 1, "cancelled"},
		{"reclaim changes no state", []RecipientEvent{reclaimed}, RecipientQueued, 2, ""},
		{"an event without a round applies", []RecipientEvent{{ContactID: 1, Round: 0, State: RecipientFailed, Attempt: 1, At: at}}, RecipientFailed, 1, ""},
	}
	for _, c := range cases {
		e := LedgerEntry{ContactID: 1, Round: 1, State: RecipientQueued}
		for i := range c.events {
			merge(&e, &c.events[i])
		}
		once := e
		for i := range c.events { // replay: nothing changes
			if merge(&e, &c.events[i]) {
				t.Errorf("%s: replaying event %d changed the entry", c.name, i)
			}
		}
		if e != once {
			t.Errorf("%s: replay changed %+v to %+v", c.name, once, e)
		}
		if e.State != c.state || e.Attempts != c.tries || e.LastError != c.reason {
			t.Errorf("%s: got %s/%d/%q, want %s/%d/%q", c.name, e.State, e.Attempts, e.LastError, c.state, c.tries, c.reason)
		}
	}
	// A newer round's entry ignores events of an older round.
	e := LedgerEntry{ContactID: 1, Round: 2, State: RecipientQueued}
	if merge(&e, &RecipientEvent{ContactID: 1, Round: 1, State: RecipientFailed, Attempt: 5}) {
		t.Error("a round-1 event changed a round-2 entry")
	}
}

func TestCompareStreamIDs(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"1-2", "1-10", -1}, {"2-0", "1-99", 1}, {"5-5", "5-5", 0}, {"", "0-1", -1}, {"1700000000000-0", "", 1}} {
		if got := CompareStreamIDs(c.a, c.b); got != c.want {
			t.Errorf("CompareStreamIDs(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// Folded at once, batches of events in any order (a contact twice or
// more, contacts not in the ledger) leave the same ledger and counts as
// the same events folded one at a time.
func TestFoldAtOnceMatchesOneAtATime(t *testing.T) {
	const contacts = 3000
	started := func() (*Store, uint64) {
		s := fxOpen(t)
		c, _ := fxSentToAll(t, s, contacts, 20)
		return s, c.ID
	}
	batched, id := started()
	single, id2 := started()
	rng := rand.New(rand.NewPCG(7, 11))
	states := []RecipientState{RecipientRetrying, RecipientSent, RecipientFailed, RecipientSkipped, ""}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for b := 0; b < 30; b++ {
		events := make([]RecipientEvent, 400)
		for i := range events {
			var contact uint64
			switch r := rng.IntN(10); {
			case r == 0 && i > 0:
				contact = events[i-1].ContactID // the same contact again
			case r == 1:
				contact = contacts + 1 + rng.Uint64N(100) // not in the ledger
			default:
				contact = 1 + rng.Uint64N(contacts)
			}
			events[i] = RecipientEvent{ContactID: contact, Round: 1, State: states[rng.IntN(len(states))],
				Attempt: 1 + rng.IntN(4), Reason: fmt.Sprintf("r%d", rng.IntN(3)), At: at.Add(time.Duration(b*400+i) * time.Millisecond)}
		}
		if _, err := batched.ApplyEvents(id, "", events); err != nil {
			t.Fatal(err)
		}
		for i := range events {
			if _, err := single.ApplyEvents(id2, "", events[i:i+1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	ledger := func(s *Store, id uint64) []LedgerEntry {
		var out []LedgerEntry
		if err := s.ForEachLedger(id, func(e LedgerEntry) error { e.CampaignID = 0; out = append(out, e); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := ledger(batched, id), ledger(single, id2)
	if len(a) != contacts || len(b) != contacts {
		t.Fatalf("ledgers of %d and %d rows, want %d", len(a), len(b), contacts)
	}
	changed := 0
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Fatalf("contact %d: folded at once %+v, one at a time %+v", a[i].ContactID, a[i], b[i])
		}
		if a[i].State != RecipientQueued {
			changed++
		}
	}
	if changed < contacts/2 {
		t.Fatalf("only %d rows changed: the events did not reach the ledger", changed)
	}
	sa, _ := batched.SendState(id)
	sb, _ := single.SendState(id2)
	if !reflect.DeepEqual(sa.Counts, sb.Counts) || sa.Redelivered != sb.Redelivered {
		t.Fatalf("counts folded at once %v, one at a time %v", sa.Counts, sb.Counts)
	}
}

// A retry of the failed begins a round of its own: when, by whom, and how
// many recipients had been delivered before it, for the round's own pace.
// The first round's start is the send's.
func TestRetryBeginsARoundOfItsOwn(t *testing.T) {
	s := fxOpen(t)
	c, st := fxSentToAll(t, s, 10, 20)
	if at, by := st.RoundStart(); !at.Equal(st.StartedAt) || by != "test" || st.RoundBase != 0 {
		t.Fatalf("the first round starts at %v by %q (base %d), the send at %v", at, by, st.RoundBase, st.StartedAt)
	}
	events := make([]RecipientEvent, 10)
	for i := range events {
		events[i] = RecipientEvent{ContactID: uint64(i + 1), Round: 1, State: RecipientSent, Attempt: 1, At: st.StartedAt}
		if i >= 7 {
			events[i].State, events[i].Reason = RecipientFailed, "550"
		}
	}
	if _, err := s.ApplyEvents(c.ID, "1-0", events); err != nil {
		t.Fatal(err)
	}
	_, st2, n, err := s.RetryFailed("bob", c.ID)
	if err != nil || n != 3 {
		t.Fatalf("retry: %d queued again, %v", n, err)
	}
	at, by := st2.RoundStart()
	if !at.After(st.StartedAt) || by != "bob" || st2.RoundBase != 7 || !st2.StartedAt.Equal(st.StartedAt) || st2.StartedBy != "test" {
		t.Errorf("round %d starts at %v by %q with %d before it; the send started at %v by %q (first round at %v)",
			st2.Round, at, by, st2.RoundBase, st2.StartedAt, st2.StartedBy, st.StartedAt)
	}
	// Kept as the ledger is folded on.
	after, err := s.SendState(c.ID)
	if err != nil || !after.RoundStartedAt.Equal(at) || after.RoundStartedBy != "bob" || after.RoundBase != 7 {
		t.Errorf("read back: %+v %v", after, err)
	}
}

// A fold names the last recipient it left to be tried again, with the
// reason, and says who failed for good: the pane's only word on why
// recipients wait before any fails.
func TestFoldNamesTheLastRetryAndTheFailures(t *testing.T) {
	s := fxOpen(t)
	c, _ := fxSentToAll(t, s, 3, 20)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	res, err := s.ApplyEvents(c.ID, "", []RecipientEvent{
		{ContactID: 1, Round: 1, State: RecipientRetrying, Attempt: 1, Reason: "HTTP 500: down", At: at},
		{ContactID: 2, Round: 1, State: RecipientSent, Attempt: 1, At: at},
		{ContactID: 3, Round: 1, State: RecipientRetrying, Attempt: 2, Reason: "HTTP 503: busy", At: at},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.LastRetry; r == nil || r.ContactID != 3 || r.LastError != "HTTP 503: busy" || r.Attempts != 2 {
		t.Fatalf("last retry %+v", r)
	}
	res, err = s.ApplyEvents(c.ID, "", []RecipientEvent{
		{ContactID: 3, Round: 1, State: RecipientFailed, Attempt: 3, Reason: "HTTP 503: busy", At: at.Add(time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.LastRetry != nil || len(res.Failed) != 1 || res.Failed[0].ContactID != 3 {
		t.Fatalf("a fold with a failure and no retry: last retry %+v, failed %+v", res.LastRetry, res.Failed)
	}
}

// The run of failures counts recipients that failed for good in the order
// their outcomes were folded, and a delivery ends it; a fold says where it
// stood before it.
func TestFoldCountsTheRunOfFailures(t *testing.T) {
	s := fxOpen(t)
	c, _ := fxSentToAll(t, s, 6, 20)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ev := func(id uint64, state RecipientState) RecipientEvent {
		return RecipientEvent{ContactID: id, Round: 1, State: state, Attempt: 1, Reason: "down", At: at}
	}
	res, err := s.ApplyEvents(c.ID, "", []RecipientEvent{ev(1, RecipientFailed), ev(2, RecipientFailed), ev(3, RecipientRetrying)})
	if err != nil || res.FailRunBefore != 0 || res.Send.FailRun != 2 {
		t.Fatalf("two failures: before %d, run %d, %v", res.FailRunBefore, res.Send.FailRun, err)
	}
	// Folded again, nothing changes; a third failure lengthens the run.
	res, err = s.ApplyEvents(c.ID, "", []RecipientEvent{ev(1, RecipientFailed), ev(4, RecipientFailed)})
	if err != nil || res.FailRunBefore != 2 || res.Send.FailRun != 3 {
		t.Fatalf("a third failure: before %d, run %d, %v", res.FailRunBefore, res.Send.FailRun, err)
	}
	res, err = s.ApplyEvents(c.ID, "", []RecipientEvent{ev(5, RecipientSent), ev(6, RecipientFailed)})
	if err != nil || res.Send.FailRun != 1 {
		t.Fatalf("a delivery ends the run: run %d, %v", res.Send.FailRun, err)
	}
}
