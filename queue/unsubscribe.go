package queue

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
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
	// DB is the database whose message the link was in, when the link
	// said (a tag before its token); "" for links without one.
	DB string
	ID string // the stream entry's ID, when read back
}

// RecordUnsubscribe appends an unsubscribe request. Where the server has a
// replica, it counts only once a replica has it: a failover must not lose
// someone's wish to hear no more.
func RecordUnsubscribe(ctx context.Context, rdb redis.UniversalClient, u Unsubscribe) error {
	key := UnsubscribesKey()
	err := onNode(ctx, rdb, key, func(c *redis.Conn) error {
		values := []any{"c", strconv.FormatUint(u.Campaign, 10), "k", strconv.FormatUint(u.Contact, 10),
			"via", u.Via, "at", strconv.FormatInt(u.At.UnixMilli(), 10)}
		if u.DB != "" {
			values = append(values, "db", u.DB)
		}
		return cmdable(rdb, c).XAdd(ctx, &redis.XAddArgs{Stream: key, Values: values}).Err()
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
		u := Unsubscribe{ID: m.ID, Via: str("via"), DB: str("db")}
		u.Campaign, _ = strconv.ParseUint(str("c"), 10, 64)
		u.Contact, _ = strconv.ParseUint(str("k"), 10, 64)
		if ms, err := strconv.ParseInt(str("at"), 10, 64); err == nil {
			u.At = time.UnixMilli(ms).UTC()
		}
		out = append(out, u)
	}
	return out, nil
}

// UnsubscribeReadersKey is a hash of the databases that fold the
// unsubscribe stream: database ID → "cursor unixMillis", where each has
// folded up to and when it last looked. A copy of a database (cp tui.db
// try.db) reads the same stream as the original, with the cursor it copied:
// the stream is trimmed only as far as every reader has folded, so that one
// database's fold never takes a request from another before it has read it.
func UnsubscribeReadersKey() string { return KeyPrefix + "unsubscribes:readers" }

// UnsubscribeReaderIdle is how long a database that has stopped looking for
// unsubscribes holds the stream back: past it (a copy deleted long ago),
// the others trim without it, and it reads on from where the stream then
// starts if it ever comes back.
const UnsubscribeReaderIdle = 30 * 24 * time.Hour

// NoteUnsubscribeReader records that the database id has folded the
// requests up to cursor ("" for none yet), now.
func NoteUnsubscribeReader(ctx context.Context, rdb redis.UniversalClient, id, cursor string, now time.Time) error {
	if cursor == "" {
		cursor = "-"
	}
	err := rdb.HSet(ctx, UnsubscribeReadersKey(), id, cursor+" "+strconv.FormatInt(now.UnixMilli(), 10)).Err()
	if err != nil {
		return fmt.Errorf("note where the unsubscribe requests were folded: %w", err)
	}
	return nil
}

// TrimUnsubscribes drops the requests that every reader looking in the last
// UnsubscribeReaderIdle has folded, and forgets the readers idle longer.
func TrimUnsubscribes(ctx context.Context, rdb redis.UniversalClient, now time.Time) error {
	readers, err := rdb.HGetAll(ctx, UnsubscribeReadersKey()).Result()
	if err != nil {
		return fmt.Errorf("read who folds the unsubscribe requests: %w", err)
	}
	lowest, idle := "", []string{}
	for id, v := range readers {
		cursor, at, _ := strings.Cut(v, " ")
		ms, err := strconv.ParseInt(at, 10, 64)
		if err != nil || now.Sub(time.UnixMilli(ms)) > UnsubscribeReaderIdle {
			idle = append(idle, id)
			continue
		}
		if cursor == "-" {
			return nil // a reader has folded nothing yet
		}
		if lowest == "" || compareStreamIDs(cursor, lowest) < 0 {
			lowest = cursor
		}
	}
	if len(idle) > 0 {
		if err := rdb.HDel(ctx, UnsubscribeReadersKey(), idle...).Err(); err != nil {
			return fmt.Errorf("forget idle readers of the unsubscribe requests: %w", err)
		}
	}
	if lowest == "" {
		return nil
	}
	if err := rdb.XTrimMinID(ctx, UnsubscribesKey(), nextStreamID(lowest)).Err(); err != nil {
		return fmt.Errorf("trim folded unsubscribe requests: %w", err)
	}
	return nil
}

// compareStreamIDs orders two stream IDs (as text, if one does not parse).
func compareStreamIDs(a, b string) int {
	am, as, errA := parseStreamID(a)
	bm, bs, errB := parseStreamID(b)
	switch {
	case errA != nil || errB != nil:
		return strings.Compare(a, b)
	case am != bm:
		return cmp.Compare(am, bm)
	}
	return cmp.Compare(as, bs)
}
