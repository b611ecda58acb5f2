package queue

import (
	"context"
	"testing"
	"time"
)

// A worker's slowed campaigns travel in its heartbeat, are rewritten whole
// at every beat (a campaign no longer slowed is gone from the next), and
// Slowed names the first live worker slowed on a campaign and counts them.
func TestHeartbeatsCarryWhatSlowsAWorker(t *testing.T) {
	rdb := scriptsRedis(t)
	ctx := context.Background()
	now := time.Now()
	beat := func(w WorkerInfo) {
		t.Helper()
		if err := Heartbeat(ctx, rdb, w); err != nil {
			t.Fatal(err)
		}
	}
	beat(WorkerInfo{ID: "w1", LastSeen: now, Slowed: map[uint64]string{7: "the channel asked to wait (HTTP 429)", 8: "other"}})
	beat(WorkerInfo{ID: "w2", LastSeen: now, Slowed: map[uint64]string{7: "the channel asked to slow down (HTTP 503)"}})
	beat(WorkerInfo{ID: "w3", LastSeen: now.Add(-LostAfter - time.Second), Slowed: map[uint64]string{9: "lost"}})
	ws, err := Workers(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	w, reason, n := Slowed(ws, 7, now)
	if n != 2 || (w.ID == "w1") != (reason == "the channel asked to wait (HTTP 429)") {
		t.Fatalf("campaign 7: %s %q, %d workers", w.ID, reason, n)
	}
	if _, _, n := Slowed(ws, 9, now); n != 0 {
		t.Errorf("a lost worker counts as slowed")
	}
	if _, _, n := Slowed(ws, 1, now); n != 0 {
		t.Errorf("a campaign nobody slowed: %d", n)
	}
	// The next beat of w1 says nothing is slowed: nothing is left of it.
	beat(WorkerInfo{ID: "w1", LastSeen: now})
	if ws, err = Workers(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	if w, _, n := Slowed(ws, 7, now); n != 1 || w.ID != "w2" {
		t.Errorf("after w1's beat without it: %s, %d workers", w.ID, n)
	}
	if _, _, n := Slowed(ws, 8, now); n != 0 {
		t.Errorf("campaign 8 is still slowed after w1's beat without it")
	}
}
