package queue

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
)

// Each script against a real Redis, with the raw keys read before and
// after: what it must change, and what it must leave alone.

func scriptsRedis(t *testing.T) *redis.Client {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// queueJobs enqueues contacts 1..n of round 1 and creates the group.
func queueJobs(t *testing.T, rdb *redis.Client, id uint64, n int) {
	t.Helper()
	ctx := context.Background()
	var jobs []Job
	for i := 1; i <= n; i++ {
		jobs = append(jobs, Job{CampaignID: id, ContactID: uint64(i), Round: 1, To: "x@example.com", Channel: "file", Epoch: "e1"})
	}
	if _, _, err := EnqueueBatch(ctx, rdb, jobs); err != nil {
		t.Fatal(err)
	}
	makeGroup(t, rdb, id)
}

// makeGroup creates the workers' group on a campaign's stream, as for a
// send under way (a state of "sending" is written when there is none).
func makeGroup(t *testing.T, rdb *redis.Client, id uint64) {
	t.Helper()
	ctx := context.Background()
	if err := rdb.HSetNX(ctx, ControlKey(id), "state", string(StateSending)).Err(); err != nil {
		t.Fatal(err)
	}
	if live, err := EnsureGroup(ctx, rdb, id); err != nil || !live {
		t.Fatalf("the group of a send under way: %v, %v", live, err)
	}
}

// The group is made only for a send under way: a worker whose read found
// the stream gone at the send's end must not bring the stream back, and
// an existing group is kept as it is.
func TestEnsureGroupOnlyForASendUnderWay(t *testing.T) {
	rdb := scriptsRedis(t)
	ctx := context.Background()
	for _, state := range []string{"", string(StateCancelled)} {
		rdb.Del(ctx, ControlKey(3))
		if state != "" {
			rdb.HSet(ctx, ControlKey(3), "state", state)
		}
		live, err := EnsureGroup(ctx, rdb, 3)
		if err != nil || live {
			t.Fatalf("state %q: EnsureGroup = %v, %v; want false", state, live, err)
		}
		if n := rdb.Exists(ctx, JobsKey(3)).Val(); n != 0 {
			t.Fatalf("state %q: the stream of an ended send was made again", state)
		}
	}
	for _, state := range []SendState{StateSending, StatePaused} {
		rdb.Del(ctx, JobsKey(4))
		rdb.HSet(ctx, ControlKey(4), "state", string(state))
		for range 2 { // the second finds the group there
			if live, err := EnsureGroup(ctx, rdb, 4); err != nil || !live {
				t.Fatalf("state %s: EnsureGroup = %v, %v; want true", state, live, err)
			}
		}
		groups, err := rdb.XInfoGroups(ctx, JobsKey(4)).Result()
		if err != nil || len(groups) != 1 || groups[0].Name != Group {
			t.Fatalf("state %s: groups %+v, %v", state, groups, err)
		}
	}
	// Any other refusal is an error: a key of the wrong type.
	rdb.Del(ctx, JobsKey(4))
	rdb.Set(ctx, JobsKey(4), "x", 0)
	if _, err := EnsureGroup(ctx, rdb, 4); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("a key of the wrong type: %v, want WRONGTYPE", err)
	}
}

func pendingOf(t *testing.T, rdb *redis.Client, id uint64) map[string]string {
	t.Helper()
	ps, err := rdb.XPendingExt(context.Background(), &redis.XPendingExtArgs{Stream: JobsKey(id), Group: Group, Start: "-", End: "+", Count: 100}).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range ps {
		out[p.ID] = p.Consumer
	}
	return out
}

func TestRenewKeepsOnlyWhatTheConsumerOwns(t *testing.T) {
	rdb := scriptsRedis(t)
	ctx := context.Background()
	queueJobs(t, rdb, 1, 3)
	if _, err := ReadJobs(ctx, rdb, "a", []uint64{1}, 2, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadJobs(ctx, rdb, "b", []uint64{1}, 1, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Make a's entries look an hour idle, as a stalled worker's would.
	for _, id := range []string{"1-1", "1-2"} {
		if err := rdb.Do(ctx, "XCLAIM", JobsKey(1), Group, "a", 0, id, "IDLE", time.Hour.Milliseconds(), "JUSTID").Err(); err != nil {
			t.Fatal(err)
		}
	}
	owned, taken, err := Renew(ctx, rdb, "a", 1, []string{"1-1", "1-2", "1-3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(owned) != 2 || owned[0] != "1-1" || owned[1] != "1-2" || taken != 1 {
		t.Fatalf("a renewed %v, %d taken; want 1-1 and 1-2, and 1 taken (1-3 is b's)", owned, taken)
	}
	// An entry acknowledged meanwhile (a commit that crossed the renewal)
	// is neither owned nor taken; nor is anything of a stream that is gone.
	if err := rdb.XAck(ctx, JobsKey(1), Group, "1-2").Err(); err != nil {
		t.Fatal(err)
	}
	if owned, taken, err := Renew(ctx, rdb, "a", 1, []string{"1-2"}); err != nil || len(owned) != 0 || taken != 0 {
		t.Fatalf("an acknowledged entry: owned %v, taken %d, %v; want none", owned, taken, err)
	}
	if owned, taken, err := Renew(ctx, rdb, "a", 9, []string{"1-1"}); len(owned) != 0 || taken != 0 || !IsNoGroup(err) {
		t.Fatalf("a stream that is gone: owned %v, taken %d, %v; want NOGROUP", owned, taken, err)
	}
	ps, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: JobsKey(1), Group: Group, Start: "-", End: "+", Count: 10}).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if (p.ID == "1-1" || p.ID == "1-2") && p.Idle >= time.Minute {
			t.Errorf("%s still idle %s after its renewal", p.ID, p.Idle)
		}
		if p.ID == "1-3" && p.Consumer != "b" {
			t.Errorf("renewal moved b's entry to %s", p.Consumer)
		}
	}
}

func TestReleaseRequeuesInTheRoundOrMarksIdleWhileEnqueuing(t *testing.T) {
	rdb := scriptsRedis(t)
	ctx := context.Background()
	queueJobs(t, rdb, 2, 2)
	if _, err := ReadJobs(ctx, rdb, "a", []uint64{2}, 2, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	n, err := Release(ctx, rdb, "a", 2, []string{"1-1"})
	if err != nil || n != 1 {
		t.Fatalf("released %d, %v", n, err)
	}
	entries, _ := rdb.XRange(ctx, JobsKey(2), "-", "+").Result()
	if len(entries) != 2 || entries[0].ID != "1-2" || entries[1].ID != "1-3" || entryJob(t, 2, entries[1]).ContactID != 1 ||
		entryJob(t, 2, entries[1]).Epoch != "e1" {
		t.Fatalf("after release the stream is %v; want 1-2 and a copy of contact 1 as 1-3, fields kept", entries)
	}
	if p := pendingOf(t, rdb, 2); len(p) != 1 || p["1-2"] != "a" {
		t.Fatalf("pending after release: %v", p)
	}
	// While an enqueue is under way nothing is added: the entry is only
	// made old enough for any worker's next reclaim.
	if err := SetEnqueuing(ctx, rdb, 2, true); err != nil {
		t.Fatal(err)
	}
	if n, err := Release(ctx, rdb, "a", 2, []string{"1-2"}); err != nil || n != 1 {
		t.Fatalf("released %d, %v", n, err)
	}
	if l, _ := rdb.XLen(ctx, JobsKey(2)).Result(); l != 2 {
		t.Fatalf("the stream grew to %d while enqueuing", l)
	}
	ps, _ := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: JobsKey(2), Group: Group, Start: "1-2", End: "1-2", Count: 1}).Result()
	if len(ps) != 1 || ps[0].Idle < time.Hour {
		t.Fatalf("the released entry while enqueuing: %+v", ps)
	}
	// Someone else's entry is not released.
	if n, _ := Release(ctx, rdb, "b", 2, []string{"1-2"}); n != 0 {
		t.Fatalf("b released a's entry")
	}
}

func TestPromoteMovesDueRetriesIntoTheRound(t *testing.T) {
	rdb := scriptsRedis(t)
	ctx := context.Background()
	queueJobs(t, rdb, 3, 1)
	due := Job{CampaignID: 3, ContactID: 9, Round: 1, To: "y@example.com", Channel: "file", Attempt: 2}
	later := Job{CampaignID: 3, ContactID: 10, Round: 1, To: "z@example.com", Channel: "file", Attempt: 2}
	for _, z := range []struct {
		j  Job
		at time.Time
	}{{due, time.Now().Add(-time.Second)}, {later, time.Now().Add(time.Hour)}} {
		member, _ := json.Marshal(z.j.values())
		rdb.ZAdd(ctx, DelayedKey(3), redis.Z{Score: float64(z.at.UnixMilli()), Member: string(member)})
	}
	if n, err := PromoteDue(ctx, rdb, 3, time.Now(), 10); err != nil || n != 1 {
		t.Fatalf("promoted %d, %v", n, err)
	}
	entries, _ := rdb.XRange(ctx, JobsKey(3), "-", "+").Result()
	if len(entries) != 2 || entries[1].ID != "1-2" || entryJob(t, 3, entries[1]).ContactID != 9 || entryJob(t, 3, entries[1]).Attempt != 2 {
		t.Fatalf("stream after promote: %v", entries)
	}
	if left, _ := rdb.ZCard(ctx, DelayedKey(3)).Result(); left != 1 {
		t.Fatalf("%d retries left waiting, want the later one", left)
	}
	// Not while an enqueue is under way.
	rdb.ZAdd(ctx, DelayedKey(3), redis.Z{Score: 0, Member: `["contact","11"]`})
	SetEnqueuing(ctx, rdb, 3, true)
	if n, _ := PromoteDue(ctx, rdb, 3, time.Now(), 10); n != 0 {
		t.Fatalf("promoted %d while enqueuing", n)
	}
}

func TestTrimDropsOnlyAcknowledgedEntries(t *testing.T) {
	rdb := scriptsRedis(t)
	ctx := context.Background()
	queueJobs(t, rdb, 4, 5)
	if _, err := ReadJobs(ctx, rdb, "a", []uint64{4}, 3, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	rdb.XAck(ctx, JobsKey(4), Group, "1-1", "1-3")
	// 1-2 is still pending: nothing at or after it may go.
	if n, err := TrimAcked(ctx, rdb, 4); err != nil || n != 1 {
		t.Fatalf("trimmed %d, %v; want 1-1 only", n, err)
	}
	ids := func() []string {
		es, _ := rdb.XRange(ctx, JobsKey(4), "-", "+").Result()
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	if got := ids(); len(got) != 4 || got[0] != "1-2" {
		t.Fatalf("stream after trim: %v", got)
	}
	rdb.XAck(ctx, JobsKey(4), Group, "1-2")
	// Nothing pending: everything read goes, nothing unread does.
	if _, err := TrimAcked(ctx, rdb, 4); err != nil {
		t.Fatal(err)
	}
	if got := ids(); len(got) != 2 || got[0] != "1-4" || got[1] != "1-5" {
		t.Fatalf("stream after the second trim: %v; want the unread 1-4 and 1-5", got)
	}
}

// entryJob reads the job of a stream entry.
func entryJob(t *testing.T, campaignID uint64, e redis.XMessage) Job {
	t.Helper()
	j, err := ParseJob(campaignID, e.ID, e.Values)
	if err != nil {
		t.Fatalf("entry %s: %v", e.ID, err)
	}
	return j
}
