package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// EnqueueBatch adds jobs of one campaign and round, in ascending contact
// order, in one pipeline. Jobs already in the stream (a resumed enqueue) are
// refused by Redis and counted as skipped, never added twice.
func EnqueueBatch(ctx context.Context, rdb redis.UniversalClient, jobs []Job) (added, skipped int, err error) {
	if len(jobs) == 0 {
		return 0, 0, nil
	}
	key := JobsKey(jobs[0].CampaignID)
	pipe := rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(jobs))
	for i := range jobs {
		cmds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: jobs[i].StreamID(), Values: jobs[i].values()})
	}
	// Exec reports the first failed command; each command carries its own
	// result, and a lost connection fails them all.
	_, _ = pipe.Exec(ctx)
	for _, c := range cmds {
		switch err := c.Err(); {
		case err == nil:
			added++
		case isIDTooSmall(err):
			skipped++
		default:
			return added, skipped, fmt.Errorf("enqueue jobs: %w", err)
		}
	}
	return added, skipped, nil
}

func isIDTooSmall(err error) bool {
	return err != nil && strings.Contains(err.Error(), "equal or smaller than the target stream top item")
}

// LastEnqueued returns the contact ID of the newest job of a round in a
// campaign's stream, or 0 when the round has none: a resumed enqueue starts
// after it.
func LastEnqueued(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, round int) (uint64, error) {
	info, err := rdb.XInfoStream(ctx, JobsKey(campaignID)).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") || errors.Is(err, redis.Nil) {
			return 0, nil
		}
		return 0, fmt.Errorf("read the job stream of campaign %d: %w", campaignID, err)
	}
	ms, seq, err := parseStreamID(info.LastGeneratedID)
	if err != nil {
		return 0, err
	}
	switch {
	case ms == uint64(round):
		return seq, nil
	case ms > uint64(round):
		return 0, fmt.Errorf("the job stream of campaign %d is already at round %d, past %d", campaignID, ms, round)
	}
	return 0, nil
}

// Activate tells workers that a campaign has jobs to consume.
func Activate(ctx context.Context, rdb redis.UniversalClient, campaignID uint64) error {
	if err := rdb.SAdd(ctx, ActiveKey(), campaignID).Err(); err != nil {
		return fmt.Errorf("activate campaign %d: %w", campaignID, err)
	}
	return nil
}
