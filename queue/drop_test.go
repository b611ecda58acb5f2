package queue

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
)

// A send left active after its end is dropped only while its settings are
// still its owner's and its round's: a later round or another database's
// send keeps everything, and stays active. On a Cluster, the active set
// and a send's keys live in different slots, so the drop is a command of
// its own and a script over the send's slot.
func TestDropIfOverLeavesALaterRoundAndAnotherOwner(t *testing.T) {
	onOneRedisAndACluster(t, dropIfOverScenario)
}

// onOneRedisAndACluster runs scenario against one Redis, then a Cluster.
func onOneRedisAndACluster(t *testing.T, scenario func(*testing.T, redis.UniversalClient)) {
	t.Run("single", func(t *testing.T) { scenario(t, scriptsRedis(t)) })
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartCluster(t)
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
		t.Cleanup(func() { rdb.Close() })
		scenario(t, rdb)
	})
}

func dropIfOverScenario(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	stale := func(id uint64, owner string, round int) {
		t.Helper()
		if err := SetControl(ctx, rdb, id, Control{State: StateSending, Owner: owner, OwnerName: "h:" + owner, Round: round}); err != nil {
			t.Fatal(err)
		}
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: JobsKey(id), ID: "1-1", Values: []any{"j", "x"}}).Err(); err != nil {
			t.Fatal(err)
		}
		if err := Activate(ctx, rdb, id); err != nil {
			t.Fatal(err)
		}
	}
	isActive := func(id uint64) bool { return rdb.SIsMember(ctx, ActiveKey(), id).Val() }
	exists := func(key string) bool { return rdb.Exists(ctx, key).Val() == 1 }

	stale(1, "a", 1)
	if dropped, err := DropIfOver(ctx, rdb, 1, "a", 1, false); err != nil || !dropped {
		t.Fatalf("own stale send: dropped %v, %v", dropped, err)
	}
	if isActive(1) || exists(ControlKey(1)) || exists(JobsKey(1)) {
		t.Errorf("after the drop: active %v, control %v, jobs %v", isActive(1), exists(ControlKey(1)), exists(JobsKey(1)))
	}

	stale(2, "a", 2) // a retry wrote round 2 since the round 1 the sweep saw
	stale(3, "b", 1) // another database's
	for _, id := range []uint64{2, 3} {
		if dropped, err := DropIfOver(ctx, rdb, id, "a", 1, false); err != nil || dropped {
			t.Errorf("campaign %d: dropped %v, %v", id, dropped, err)
		}
		if !isActive(id) || !exists(ControlKey(id)) || !exists(JobsKey(id)) {
			t.Errorf("campaign %d after a refused drop: active %v, control %v, jobs %v", id, isActive(id), exists(ControlKey(id)), exists(JobsKey(id)))
		}
	}

	stale(4, "a", 1) // cancelled: its workers read the control to skip what they hold
	if dropped, err := DropIfOver(ctx, rdb, 4, "a", 1, true); err != nil || !dropped {
		t.Fatalf("cancelled stale send: dropped %v, %v", dropped, err)
	}
	if isActive(4) || !exists(ControlKey(4)) || exists(JobsKey(4)) {
		t.Errorf("cancelled, after the drop: active %v, control %v, jobs %v", isActive(4), exists(ControlKey(4)), exists(JobsKey(4)))
	}
	// ...for a while only: its settings and events expire.
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: EventsKey(4), Values: []any{"e", "x"}})
	stale(5, "a", 1)
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: EventsKey(5), Values: []any{"e", "x"}})
	if dropped, err := DropIfOver(ctx, rdb, 5, "a", 1, true); err != nil || !dropped {
		t.Fatalf("cancelled stale send: dropped %v, %v", dropped, err)
	}
	for _, key := range []string{ControlKey(5), EventsKey(5)} {
		if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > EndedKeepFor {
			t.Errorf("%s of a cancelled send: expires in %v, want within %v", key, ttl, EndedKeepFor)
		}
	}
	// Its settings say so, also when the cancel was recorded in the ledger
	// alone (Redis could not be reached): workers holding its jobs skip them.
	if st := rdb.HGet(ctx, ControlKey(5), "state").Val(); st != string(StateCancelled) {
		t.Errorf("a cancelled send's settings after the drop say %q", st)
	}
	// A completed send's events go with the rest.
	stale(6, "a", 1)
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: EventsKey(6), Values: []any{"e", "x"}})
	if dropped, err := DropIfOver(ctx, rdb, 6, "a", 1, false); err != nil || !dropped {
		t.Fatalf("completed stale send: dropped %v, %v", dropped, err)
	}
	if exists(EventsKey(6)) || exists(ControlKey(6)) {
		t.Errorf("completed, after the drop: control %v, events %v", exists(ControlKey(6)), exists(EventsKey(6)))
	}
}

// A send that is over leaves nothing in Redis for good: a completed one's
// keys go at once, a cancelled one's settings and events expire, and what
// a worker commits after the end (a delivery that was under way) expires
// too. Settings written again keep them all. On one Redis and a Cluster.
func TestAnEndedSendLeavesNothingForGood(t *testing.T) {
	onOneRedisAndACluster(t, endedSendScenario)
}

func endedSendScenario(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	retry := Outcome{Job: Job{ContactID: 3, Round: 1, To: "c@example.com"}, RetryAt: time.Now().Add(time.Minute),
		Event: Event{Contact: 3, Round: 1, Type: EventRetry, Attempt: 1}}
	outcomes := []Outcome{finalOutcome(1, "sent"), finalOutcome(2, "failed"), retry}
	written := func(id uint64) []string {
		return []string{ControlKey(id), MarksKey(id), DoneKey(id), DelayedKey(id), EventsKey(id)}
	}
	// ttls reads each key's expiry: -2 gone, -1 none.
	ttls := func(keys []string) map[string]time.Duration {
		t.Helper()
		out := map[string]time.Duration{}
		for _, k := range keys {
			ttl, err := rdb.PTTL(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			out[k] = ttl
		}
		return out
	}
	// commit writes outcomes with marks in both forms: in the hash too, as
	// an earlier worker writes them.
	commit := func(id uint64) {
		t.Helper()
		if err := Commit(ctx, rdb, "w", id, outcomes, true); err != nil {
			t.Fatal(err)
		}
		if err := Commit(ctx, rdb, "w", id, []Outcome{finalOutcome(4, "sent")}, false); err != nil {
			t.Fatal(err)
		}
	}
	start := func(id uint64, owner string) {
		t.Helper()
		if err := SetControl(ctx, rdb, id, Control{State: StateSending, Owner: owner, Round: 1}); err != nil {
			t.Fatal(err)
		}
		if err := Activate(ctx, rdb, id); err != nil {
			t.Fatal(err)
		}
		commit(id)
		for k, ttl := range ttls(written(id)) {
			if ttl != -1 {
				t.Fatalf("%s of a send under way: expiry %v, want none", k, ttl)
			}
		}
	}

	start(1, "a")
	if err := Deactivate(ctx, rdb, 1, true); err != nil {
		t.Fatal(err)
	}
	keys := append(written(1), campaignKeys(1)...)
	if n := rdb.Exists(ctx, keys...).Val(); n != 0 {
		t.Fatalf("%d keys of a completed send are left in Redis", n)
	}

	for _, owner := range []string{"a", ""} { // the owner's script, and a plain write
		id := uint64(2)
		if owner == "" {
			id = 3
		}
		start(id, owner)
		if err := SetState(ctx, rdb, id, StateCancelled); err != nil {
			t.Fatal(err)
		}
		if err := Deactivate(ctx, rdb, id, false); err != nil {
			t.Fatal(err)
		}
		commit(id) // deliveries that were under way at the cancel
		for k, ttl := range ttls(written(id)) {
			if ttl <= 0 || ttl > EndedKeepFor {
				t.Errorf("%s after the cancel: expiry %v, want within %v", k, ttl, EndedKeepFor)
			}
		}
		// Settings written again (the owner queueing again a send Redis
		// forgot, whose workers' outcomes took the expiry): nothing expires.
		if err := SetControl(ctx, rdb, id, Control{State: StateSending, Owner: owner, Round: 2}); err != nil {
			t.Fatal(err)
		}
		for k, ttl := range ttls(written(id)) {
			if ttl != -1 {
				t.Errorf("%s with settings again: expiry %v, want none", k, ttl)
			}
		}
	}

	// Redis forgot a send under way (restarted empty): a delivery that was
	// under way is committed with no settings there, and expires until the
	// owner queues the send again.
	var err error
	if c, ok := rdb.(*redis.ClusterClient); ok {
		err = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.FlushAll(ctx).Err() })
	} else {
		err = rdb.FlushAll(ctx).Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := Commit(ctx, rdb, "w", 5, outcomes, true); err != nil {
		t.Fatal(err)
	}
	for k, ttl := range ttls([]string{MarksKey(5), DelayedKey(5), EventsKey(5)}) {
		if ttl <= 0 || ttl > EndedKeepFor {
			t.Errorf("%s written with no settings: expiry %v, want within %v", k, ttl, EndedKeepFor)
		}
	}
	if err := SetControl(ctx, rdb, 5, Control{State: StateSending, Owner: "a", Round: 1, Epoch: "e2"}); err != nil {
		t.Fatal(err)
	}
	for k, ttl := range ttls([]string{MarksKey(5), DelayedKey(5), EventsKey(5)}) {
		if ttl != -1 {
			t.Errorf("%s once queued again: expiry %v, want none", k, ttl)
		}
	}
}
