package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The owner's side of the queue: follow and trim events, clear and drop a
// send's keys, notice a queue Redis forgot.

// EventsAfter returns up to count event entries of a campaign after cursor
// ("" for the start).
func EventsAfter(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, cursor string, count int) ([]redis.XMessage, error) {
	start := "-"
	if cursor != "" {
		start = "(" + cursor
	}
	msgs, err := rdb.XRangeN(ctx, EventsKey(campaignID), start, "+", int64(count)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the events of campaign %d: %w", campaignID, err)
	}
	return msgs, nil
}

// TrimEvents drops a campaign's events up to and including cursor: the
// ledger holds them.
func TrimEvents(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, cursor string) error {
	if err := rdb.XTrimMinID(ctx, EventsKey(campaignID), nextStreamID(cursor)).Err(); err != nil {
		return fmt.Errorf("trim folded events of campaign %d: %w", campaignID, err)
	}
	return nil
}

// nextStreamID is the smallest ID after id, for XTRIM MINID.
func nextStreamID(id string) string {
	ms, seq, err := parseStreamID(id)
	if err != nil {
		return id
	}
	return strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(seq+1, 10)
}

// ReadEvents waits up to block for events of the given campaigns after
// their cursors ("" for the start), up to count per campaign. A Cluster
// keeps each campaign in its own slot, and one read may not span slots, so
// there each campaign is read on its own: first without waiting, and only
// when none has news, all at once with the wait.
func ReadEvents(ctx context.Context, rdb redis.UniversalClient, campaigns []uint64, cursors []string, count int, block time.Duration) (map[uint64][]redis.XMessage, error) {
	out := map[uint64][]redis.XMessage{}
	if len(campaigns) == 0 {
		return out, nil
	}
	if _, cluster := rdb.(*redis.ClusterClient); !cluster || len(campaigns) == 1 {
		return out, readEventStreams(ctx, rdb, campaigns, cursors, count, block, out)
	}
	var mu sync.Mutex
	each := func(block time.Duration) error {
		errs := make([]error, len(campaigns))
		var wg sync.WaitGroup
		for i := range campaigns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got := map[uint64][]redis.XMessage{}
				errs[i] = readEventStreams(ctx, rdb, campaigns[i:i+1], cursors[i:i+1], count, block, got)
				mu.Lock()
				for k, v := range got {
					out[k] = v
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if err := each(-1); err != nil || len(out) > 0 {
		return out, err
	}
	return out, each(block)
}

func readEventStreams(ctx context.Context, rdb redis.UniversalClient, campaigns []uint64, cursors []string, count int, block time.Duration, out map[uint64][]redis.XMessage) error {
	streams := make([]string, 0, 2*len(campaigns))
	for _, id := range campaigns {
		streams = append(streams, EventsKey(id))
	}
	for _, c := range cursors {
		if c == "" {
			c = "0"
		}
		streams = append(streams, c)
	}
	res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: streams, Count: int64(count), Block: block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, s := range res {
		for _, id := range campaigns {
			if EventsKey(id) == s.Stream && len(s.Messages) > 0 {
				out[id] = s.Messages
			}
		}
	}
	return nil
}

// Deactivate tells workers a send is over and drops its working keys. A
// completed send's control hash and events go too; a cancelled send's
// stay for EndedKeepFor (dropControl false), so that workers holding its
// jobs see "cancelled" and the deliveries that were under way are folded.
func Deactivate(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, dropControl bool) error {
	keys := campaignKeys(campaignID)
	if dropControl {
		keys = append(keys, ControlKey(campaignID), EventsKey(campaignID))
	}
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SRem(ctx, ActiveKey(), campaignID)
		p.Del(ctx, keys...)
		if !dropControl {
			p.PExpire(ctx, ControlKey(campaignID), EndedKeepFor)
			p.PExpire(ctx, EventsKey(campaignID), EndedKeepFor)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("drop the queue of campaign %d: %w", campaignID, err)
	}
	return nil
}

// dropIfOverScript drops a send's keys if its settings are still those
// of the given owner and round: all of them, or all but the control hash
// and events, which then say "cancelled" and expire (a cancelled send, as
// Deactivate; the cancel may not have reached Redis).
//
//	KEYS the control hash, the events, then the send's other keys
//	ARGV[1] owner   ARGV[2] round   ARGV[3] "1" to keep the control hash
//	ARGV[4] how long it is kept, in milliseconds
var dropIfOverScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'db') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'round') ~= ARGV[2] then
  return 0
end
local first = 1
if ARGV[3] == '1' then
  first = 3
  redis.call('HSET', KEYS[1], 'state', 'cancelled')
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
for i = first, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
`)

// DropIfOver drops a send the owner's ledger says is over but Redis still
// holds as active (the drop at its end failed: Redis was unreachable then),
// unless its settings have been written since by another owner or for a
// later round (a retry or a new send under way): then it changes nothing.
// The control hash and events are kept for EndedKeepFor with keepControl
// (a cancelled send's workers read it to skip the jobs they hold). It
// reports whether it dropped.
func DropIfOver(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, owner string, round int, keepControl bool) (bool, error) {
	// Out of the active set first: the set is in a slot of its own, so
	// this cannot be one script with the check. A later round activates
	// the send only after writing its settings, which the check then
	// sees, and the send goes back into the set.
	removed, err := rdb.SRem(ctx, ActiveKey(), campaignID).Result()
	if err != nil {
		return false, fmt.Errorf("drop the queue of campaign %d: %w", campaignID, err)
	}
	keep := "0"
	if keepControl {
		keep = "1"
	}
	keys := append([]string{ControlKey(campaignID), EventsKey(campaignID)}, campaignKeys(campaignID)...)
	dropped, err := dropIfOverScript.Run(ctx, rdb, keys, owner, round, keep, EndedKeepFor.Milliseconds()).Int()
	if err == nil && dropped == 1 {
		return true, nil
	}
	if removed > 0 {
		if aerr := rdb.SAdd(ctx, ActiveKey(), campaignID).Err(); aerr != nil && err == nil {
			err = aerr
		}
	}
	if err != nil {
		return false, fmt.Errorf("drop the queue of campaign %d: %w", campaignID, err)
	}
	return false, nil
}

// QueueState is what Redis still holds of a send.
type QueueState struct {
	Control    bool  // the control hash exists: the send is known to Redis
	JobsAdded  int64 // entries ever added to the job stream (0: none, or no stream)
	JobsExists bool
}

// Lost reports a send Redis forgot: no control hash (it is written before
// the first job and removed only when the send ends).
func (q QueueState) Lost() bool { return !q.Control }

// InspectQueue reads what Redis holds of a campaign's send.
func InspectQueue(ctx context.Context, rdb redis.UniversalClient, campaignID uint64) (QueueState, error) {
	var q QueueState
	n, err := rdb.Exists(ctx, ControlKey(campaignID)).Result()
	if err != nil {
		return q, fmt.Errorf("look for the queue of campaign %d: %w", campaignID, err)
	}
	q.Control = n > 0
	info, err := rdb.XInfoStream(ctx, JobsKey(campaignID)).Result()
	switch {
	case err != nil && !strings.Contains(err.Error(), "no such key"):
		return q, fmt.Errorf("read the job stream of campaign %d: %w", campaignID, err)
	case err == nil:
		q.JobsExists, q.JobsAdded = true, info.EntriesAdded
	}
	return q, nil
}

// Probe writes a short-lived key in a campaign's slot: an error says the
// server holding the send refuses writes (Explain names why).
func Probe(ctx context.Context, rdb redis.UniversalClient, campaignID uint64) error {
	return rdb.Set(ctx, ProbeKey(campaignID), "1", 5*time.Second).Err()
}
