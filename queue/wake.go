package queue

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// wakeKeep is about how many wakes the stream keeps: a worker needs only
// the newest.
const wakeKeep = 64

// wake tells idle workers that a campaign's send started or resumed. It is
// a hint: a worker that misses it (Redis trouble, a worker starting) learns
// of the send at its next read of the live settings, as it did before
// wakes existed, so an error here changes nothing but the delay.
func wake(ctx context.Context, rdb redis.UniversalClient, campaignID uint64) {
	_ = rdb.XAdd(ctx, &redis.XAddArgs{Stream: WakeKey(), MaxLen: wakeKeep, Approx: true,
		Values: []any{"campaign", campaignID}}).Err()
}

// LastWake is the ID of the newest wake, "0-0" when there is none: where a
// worker starts waiting.
func LastWake(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	msgs, err := rdb.XRevRangeN(ctx, WakeKey(), "+", "-", 1).Result()
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

// AwaitWake waits up to block for a wake newer than after. It returns the
// newest wake's ID (after when none came) and whether one came.
func AwaitWake(ctx context.Context, rdb redis.UniversalClient, after string, block time.Duration) (string, bool, error) {
	res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{WakeKey(), after}, Count: wakeKeep, Block: block}).Result()
	if errors.Is(err, redis.Nil) {
		return after, false, nil
	}
	if err != nil {
		return after, false, err
	}
	if len(res) == 0 || len(res[0].Messages) == 0 {
		return after, false, nil
	}
	msgs := res[0].Messages
	return msgs[len(msgs)-1].ID, true, nil
}
