package queue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Unsubscribes reach the owner of the database through one stream of their
// own, not a campaign's events: a recipient may unsubscribe weeks after a
// send ended, when nobody follows that campaign's events any more. The
// listener (a headless worker with --listen) appends; the owner folds into
// the suppression list and trims what it folded, keeping its position in
// the database, so an unsubscribe waits in Redis for as long as no owner
// runs.

// UnsubscribesKey is the stream of unsubscribe requests of every campaign.
// It stands alone in every command, so it needs no hash tag.
func UnsubscribesKey() string { return KeyPrefix + "unsubscribes" }

// Unsubscribe is one request to stop sending to a recipient.
type Unsubscribe struct {
	Campaign uint64
	Contact  uint64
	// Via is how it came: "one-click" (the provider's RFC 8058 POST) or
	// "page" (the person pressed the button on the confirmation page).
	Via string
	At  time.Time
	ID  string // the stream entry's ID, when read back
}

// RecordUnsubscribe appends an unsubscribe request. Where the server has a
// replica, it counts only once a replica has it: a failover must not lose
// someone's wish to hear no more.
func RecordUnsubscribe(ctx context.Context, rdb redis.UniversalClient, u Unsubscribe) error {
	key := UnsubscribesKey()
	err := onNode(ctx, rdb, key, func(c *redis.Conn) error {
		return cmdable(rdb, c).XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{
			"c", strconv.FormatUint(u.Campaign, 10), "k", strconv.FormatUint(u.Contact, 10),
			"via", u.Via, "at", strconv.FormatInt(u.At.UnixMilli(), 10)}}).Err()
	})
	if err != nil {
		return fmt.Errorf("record the unsubscribe: %w", err)
	}
	return nil
}

// UnsubscribesAfter returns up to count requests after cursor ("" for the
// start). Malformed entries come back with Campaign 0, to be skipped and
// trimmed with the rest.
func UnsubscribesAfter(ctx context.Context, rdb redis.UniversalClient, cursor string, count int) ([]Unsubscribe, error) {
	start := "-"
	if cursor != "" {
		start = "(" + cursor
	}
	msgs, err := rdb.XRangeN(ctx, UnsubscribesKey(), start, "+", int64(count)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the unsubscribe requests: %w", err)
	}
	out := make([]Unsubscribe, 0, len(msgs))
	for _, m := range msgs {
		str := func(k string) string { s, _ := m.Values[k].(string); return s }
		u := Unsubscribe{ID: m.ID, Via: str("via")}
		u.Campaign, _ = strconv.ParseUint(str("c"), 10, 64)
		u.Contact, _ = strconv.ParseUint(str("k"), 10, 64)
		if ms, err := strconv.ParseInt(str("at"), 10, 64); err == nil {
			u.At = time.UnixMilli(ms).UTC()
		}
		out = append(out, u)
	}
	return out, nil
}

// TrimUnsubscribes drops the requests up to and including cursor: the
// suppression list holds them.
func TrimUnsubscribes(ctx context.Context, rdb redis.UniversalClient, cursor string) error {
	if err := rdb.XTrimMinID(ctx, UnsubscribesKey(), nextStreamID(cursor)).Err(); err != nil {
		return fmt.Errorf("trim folded unsubscribe requests: %w", err)
	}
	return nil
}
