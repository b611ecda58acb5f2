package queue

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The backlog the metrics report: jobs never read and jobs read but not
// recorded count alike, a retry waiting counts too, and the oldest is as
// old as the queue's epoch or the most overdue retry.
func TestReadBacklogCountsWhatWaitsAndHowOld(t *testing.T) {
	rdb := scriptsRedis(t)
	ctx := context.Background()
	now := time.Now()

	if b, err := ReadBacklog(ctx, rdb, 9, now); err != nil || b != (Backlog{}) {
		t.Fatalf("a campaign with no queue: %+v, %v; want nothing and no error", b, err)
	}

	queueJobs(t, rdb, 1, 5)
	epoch := strconv.FormatInt(now.Add(-time.Minute).UnixNano(), 36)
	if err := rdb.HSet(ctx, ControlKey(1), "epoch", epoch).Err(); err != nil {
		t.Fatal(err)
	}
	b, err := ReadBacklog(ctx, rdb, 1, now)
	if err != nil || b.Depth != 5 || b.OldestAge.Round(time.Second) != time.Minute {
		t.Fatalf("five jobs queued a minute ago: %+v, %v", b, err)
	}

	// Two read by a worker and not yet recorded still wait.
	if _, err := ReadJobs(ctx, rdb, "w", []uint64{1}, 2, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadBacklog(ctx, rdb, 1, now); err != nil || b.Depth != 5 {
		t.Fatalf("two of five read: %+v, %v; want depth 5", b, err)
	}

	// A retry two minutes overdue is the oldest.
	due := float64(now.Add(-2 * time.Minute).UnixMilli())
	if err := rdb.ZAdd(ctx, DelayedKey(1), redis.Z{Score: due, Member: "retry"}).Err(); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadBacklog(ctx, rdb, 1, now); err != nil || b.Depth != 6 || b.OldestAge.Round(time.Second) != 2*time.Minute {
		t.Fatalf("with an overdue retry: %+v, %v; want depth 6, two minutes old", b, err)
	}

	// Once all are recorded (acknowledged), nothing waits, however old the
	// epoch.
	ids, err := rdb.XRange(ctx, JobsKey(1), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ids {
		rdb.XAck(ctx, JobsKey(1), Group, m.ID)
	}
	rdb.XGroupSetID(ctx, JobsKey(1), Group, "$")
	rdb.Del(ctx, DelayedKey(1))
	if b, err := ReadBacklog(ctx, rdb, 1, now); err != nil || b != (Backlog{}) {
		t.Fatalf("all recorded: %+v, %v; want nothing waiting", b, err)
	}
}

// A send's start and resume each add a wake; a pause adds none. AwaitWake
// returns the newest after the one given, and times out with none.
func TestActivateAndResumeWakeTheWorkers(t *testing.T) {
	rdb := scriptsRedis(t)
	ctx := context.Background()
	last, err := LastWake(ctx, rdb)
	if err != nil || last != "0-0" {
		t.Fatalf("no wake yet: %q, %v", last, err)
	}
	if next, woke, err := AwaitWake(ctx, rdb, last, 10*time.Millisecond); err != nil || woke || next != last {
		t.Fatalf("nothing to wait for: %q %v %v", next, woke, err)
	}
	if err := Activate(ctx, rdb, 1); err != nil {
		t.Fatal(err)
	}
	if err := SetState(ctx, rdb, 1, StatePaused); err != nil {
		t.Fatal(err)
	}
	if err := SetState(ctx, rdb, 1, StateSending); err != nil {
		t.Fatal(err)
	}
	wakes, err := rdb.XRange(ctx, WakeKey(), "-", "+").Result()
	if err != nil || len(wakes) != 2 || wakes[0].Values["campaign"] != "1" {
		t.Fatalf("wakes after a start, a pause and a resume: %v, %v; want two, of campaign 1", wakes, err)
	}
	next, woke, err := AwaitWake(ctx, rdb, last, time.Second)
	if err != nil || !woke || next != wakes[1].ID {
		t.Fatalf("AwaitWake after %s: %q %v %v; want the newest, %s", last, next, woke, err, wakes[1].ID)
	}
	if newest, err := LastWake(ctx, rdb); err != nil || newest != next {
		t.Fatalf("LastWake %q, %v; want %s", newest, err, next)
	}
}
