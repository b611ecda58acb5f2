package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// WorkerInfo is a worker's heartbeat, as the app shows it.
type WorkerInfo struct {
	ID          string
	Host        string
	PID         int
	Concurrency int
	Started     time.Time
	LastSeen    time.Time
	Processed   int64
	Failed      int64
	InFlight    int64
	Stopping    bool
	// Cannot holds, by campaign, why this worker cannot deliver that
	// campaign's channel (its environment lacks a setting): it leaves
	// those jobs to other workers.
	Cannot map[uint64]string
	// RedisErr is what Redis refuses this worker now (Explain's sentence:
	// out of memory, a read-only replica, a Cluster error), or "".
	RedisErr string
	// Jobs is the job format the worker reads (JobFormat); "" for a tui
	// from before packed jobs, which fails them as malformed.
	Jobs string
	// Slowed holds, by campaign, why this worker sends that campaign
	// slower than its settings ask: its channel asked it to (HTTP 429 or
	// 503, SMTP 421, a Graph rate limit). It names what it does about it.
	Slowed map[uint64]string
}

// JobFormat names the jobs this tui queues and reads: packed (JobField).
// A worker says it in its heartbeat, so that an owner can refuse to queue
// for a worker that would fail every job it took.
const JobFormat = "packed"

// Outdated returns the first live worker that cannot read the jobs this
// tui queues, if any.
func Outdated(workers []WorkerInfo, now time.Time) (WorkerInfo, bool) {
	for _, w := range workers {
		if w.Alive(now) && w.Jobs != JobFormat {
			return w, true
		}
	}
	return WorkerInfo{}, false
}

// OutdatedSentence says what an outdated worker does and what to do.
func OutdatedSentence(w WorkerInfo) string {
	return fmt.Sprintf("worker %s (host %s) runs an older tui, which fails every job of this one it takes: stop it and upgrade it",
		w.ID, w.Host)
}

// encodeSlowed writes a worker's slowed campaigns as one heartbeat field,
// rewritten whole at every beat: a campaign no longer slowed leaves no
// field behind. "" when none is.
func encodeSlowed(m map[uint64]string) string {
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func decodeSlowed(s string) map[uint64]string {
	var m map[uint64]string
	if s != "" && json.Unmarshal([]byte(s), &m) != nil {
		return nil
	}
	return m
}

// Slowed reports why live workers send a campaign slower than asked: the
// first such worker and its reason, and how many workers are slowed.
func Slowed(workers []WorkerInfo, campaignID uint64, now time.Time) (first WorkerInfo, reason string, n int) {
	for _, w := range workers {
		if r := w.Slowed[campaignID]; r != "" && w.Alive(now) {
			if n == 0 {
				first, reason = w, r
			}
			n++
		}
	}
	return first, reason, n
}

// SlowedSentence says why live workers send a campaign slower than asked,
// or "": "Slowed — worker w1: the channel asked to slow down (…): it sends
// at 50/s of the 100/s asked, …", naming how many when several are.
func SlowedSentence(workers []WorkerInfo, campaignID uint64, now time.Time) string {
	w, reason, n := Slowed(workers, campaignID, now)
	if n == 0 {
		return ""
	}
	who := "worker " + w.ID
	if n > 1 {
		who = fmt.Sprintf("%d workers; %s", n, who)
	}
	return "Slowed — " + who + ": " + reason
}

// LostAfter is how long a worker may go without a heartbeat before it is
// shown as lost: well before its heartbeat expires (HeartbeatTTL).
const LostAfter = 10 * time.Second

// Alive reports whether the worker's heartbeat is recent at now.
func (w *WorkerInfo) Alive(now time.Time) bool { return now.Sub(w.LastSeen) <= LostAfter }

// NoneCanDeliver reports whether workers are alive and none of them can
// deliver the campaign, with one worker's reason.
func NoneCanDeliver(workers []WorkerInfo, campaignID uint64, now time.Time) (string, bool) {
	reason, alive := "", 0
	for _, w := range workers {
		if !w.Alive(now) {
			continue
		}
		alive++
		r := w.Cannot[campaignID]
		if r == "" {
			return "", false
		}
		reason = r
	}
	return reason, alive > 0
}

// cannotPrefix prefixes a heartbeat field holding a campaign the worker
// cannot deliver: "cannot:<campaign id>" → the reason.
const cannotPrefix = "cannot:"

// HeartbeatTTL is how long a heartbeat stays after the worker stops
// reporting; the app calls a worker lost well before it expires.
const HeartbeatTTL = 60 * time.Second

// Heartbeat records a worker's state.
func Heartbeat(ctx context.Context, rdb redis.UniversalClient, w WorkerInfo) error {
	key := WorkerKey(w.ID)
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "host", w.Host, "pid", w.PID, "concurrency", w.Concurrency,
			"started", w.Started.UnixMilli(), "last_seen", w.LastSeen.UnixMilli(),
			"processed", w.Processed, "failed", w.Failed, "in_flight", w.InFlight, "stopping", boolInt(w.Stopping), "redis_err", w.RedisErr,
			"jobs", JobFormat, "slowed", encodeSlowed(w.Slowed))
		for id, reason := range w.Cannot {
			p.HSet(ctx, key, cannotPrefix+strconv.FormatUint(id, 10), reason)
		}
		p.PExpire(ctx, key, HeartbeatTTL)
		p.SAdd(ctx, WorkersKey(), w.ID)
		return nil
	})
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Goodbye removes a worker that shut down cleanly.
func Goodbye(ctx context.Context, rdb redis.UniversalClient, id string) error {
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, WorkerKey(id))
		p.SRem(ctx, WorkersKey(), id)
		return nil
	})
	return err
}

// Workers lists the workers with a live heartbeat; the IDs of expired ones
// are forgotten.
func Workers(ctx context.Context, rdb redis.UniversalClient) ([]WorkerInfo, error) {
	ids, err := rdb.SMembers(ctx, WorkersKey()).Result()
	if err != nil {
		return nil, err
	}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, WorkerKey(id))
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	var out []WorkerInfo
	var gone []any
	for i, cmd := range cmds {
		m := cmd.Val()
		if len(m) == 0 {
			gone = append(gone, ids[i])
			continue
		}
		num := func(k string) int64 { v, _ := strconv.ParseInt(m[k], 10, 64); return v }
		wi := WorkerInfo{ID: ids[i], Host: m["host"], PID: int(num("pid")), Concurrency: int(num("concurrency")),
			Started: time.UnixMilli(num("started")), LastSeen: time.UnixMilli(num("last_seen")),
			Processed: num("processed"), Failed: num("failed"), InFlight: num("in_flight"), Stopping: num("stopping") == 1,
			RedisErr: m["redis_err"], Jobs: m["jobs"], Slowed: decodeSlowed(m["slowed"])}
		for k, v := range m {
			if rest, ok := strings.CutPrefix(k, cannotPrefix); ok {
				if id, err := strconv.ParseUint(rest, 10, 64); err == nil {
					if wi.Cannot == nil {
						wi.Cannot = map[uint64]string{}
					}
					wi.Cannot[id] = v
				}
			}
		}
		out = append(out, wi)
	}
	if len(gone) > 0 {
		rdb.SRem(ctx, WorkersKey(), gone...)
	}
	return out, nil
}
