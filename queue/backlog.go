package queue

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Backlog is what waits in a campaign's queue: the jobs not yet recorded
// and how old the oldest is.
type Backlog struct {
	Depth     int64
	OldestAge time.Duration
}

// ReadBacklog reads a campaign's queue: the consumer group's lag (jobs never
// read) and pending (read, not recorded), the retries waiting, and the
// age of the oldest — jobs carry no time of their own, so a job never read
// is as old as its send's queue (the epoch: when it was queued, or queued
// again), and a retry as old as its due time.
func ReadBacklog(ctx context.Context, rdb redis.UniversalClient, id uint64, now time.Time) (Backlog, error) {
	var q Backlog
	pipe := rdb.Pipeline()
	groups := pipe.XInfoGroups(ctx, JobsKey(id))
	delayed := pipe.ZCard(ctx, DelayedKey(id))
	dueFirst := pipe.ZRangeWithScores(ctx, DelayedKey(id), 0, 0)
	epoch := pipe.HGet(ctx, ControlKey(id), "epoch")
	_, _ = pipe.Exec(ctx)
	if err := groups.Err(); err != nil && !strings.Contains(err.Error(), "no such key") {
		return q, err
	}
	var lag int64
	for _, g := range groups.Val() {
		if g.Name == Group {
			lag = max(g.Lag, 0)
			q.Depth += lag + g.Pending
		}
	}
	q.Depth += delayed.Val()
	if lag > 0 || q.Depth > delayed.Val() {
		if n, err := strconv.ParseInt(epoch.Val(), 36, 64); err == nil && n > 0 {
			q.OldestAge = max(q.OldestAge, now.Sub(time.Unix(0, n)))
		}
	}
	if z := dueFirst.Val(); len(z) == 1 {
		if due := time.UnixMilli(int64(z[0].Score)); due.Before(now) {
			q.OldestAge = max(q.OldestAge, now.Sub(due))
		}
	}
	return q, nil
}

// Ping asks Redis whether it answers.
func Ping(ctx context.Context, rdb redis.UniversalClient) error { return rdb.Ping(ctx).Err() }
