package queue

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
)

// A send left active after its end is dropped only while its settings are
// still its owner's and its round's: a later round or another database's
// send keeps everything, and stays active. On a Cluster, the active set
// and a send's keys live in different slots, so the drop is a command of
// its own and a script over the send's slot.
func TestDropIfOverLeavesALaterRoundAndAnotherOwner(t *testing.T) {
	t.Run("single", func(t *testing.T) { dropIfOverScenario(t, scriptsRedis(t)) })
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartCluster(t)
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
		t.Cleanup(func() { rdb.Close() })
		dropIfOverScenario(t, rdb)
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
}
