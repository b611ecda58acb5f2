package store

import (
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
