package queue

import (
	"context"
	"testing"
	"time"
)

// The stream of unsubscribe requests is trimmed only as far as every
// reader has folded; a reader that has folded nothing holds it whole; one
// idle past UnsubscribeReaderIdle is forgotten and holds nothing back.
func TestUnsubscribesTrimToTheSlowestReader(t *testing.T) {
	rdb := scriptsRedis(t)
	ctx := context.Background()
	now := time.Now()
	var ids []string
	for i := range 5 {
		if err := RecordUnsubscribe(ctx, rdb, Unsubscribe{Campaign: 1, Contact: uint64(i + 1), Via: "page", At: now}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := UnsubscribesAfter(ctx, rdb, "", 10)
	if err != nil || len(got) != 5 {
		t.Fatalf("read %d, %v", len(got), err)
	}
	for _, u := range got {
		ids = append(ids, u.ID)
	}
	left := func() int64 { return rdb.XLen(ctx, UnsubscribesKey()).Val() }
	note := func(id, cursor string, at time.Time) {
		t.Helper()
		if err := NoteUnsubscribeReader(ctx, rdb, id, cursor, at); err != nil {
			t.Fatal(err)
		}
	}
	trim := func() {
		t.Helper()
		if err := TrimUnsubscribes(ctx, rdb, now); err != nil {
			t.Fatal(err)
		}
	}

	note("a", ids[3], now)
	note("b", "", now) // a copy that has folded nothing yet
	trim()
	if n := left(); n != 5 {
		t.Fatalf("with a reader that folded nothing, %d left, want 5", n)
	}
	note("b", ids[1], now)
	trim()
	if n := left(); n != 3 {
		t.Fatalf("readers at the 4th and the 2nd: %d left, want 3", n)
	}
	note("b", ids[4], now)
	note("old", ids[0], now.Add(-UnsubscribeReaderIdle-time.Hour))
	trim()
	if n := left(); n != 1 {
		t.Fatalf("readers at the 4th and the 5th, one idle at the 1st: %d left, want 1", n)
	}
	if rdb.HExists(ctx, UnsubscribeReadersKey(), "old").Val() {
		t.Error("the idle reader is still noted")
	}
}
