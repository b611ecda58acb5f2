package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The worker's side of the queue: read, reclaim, renew, release, commit.

// Fetched is a job read from a stream. Err is set for an entry that is not
// a valid job; it is acknowledged and reported, never delivered.
type Fetched struct {
	CampaignID uint64
	EntryID    string
	Job        Job
	Err        error
}

// ensureGroupScript creates the workers' group on a send's stream, and the
// stream with it, only while the send's settings say it is under way: a
// worker whose read found the stream gone because the send ended must not
// bring it back (it would stay in Redis, empty, for ever).
//
//	KEYS[1] the job stream   KEYS[2] the control hash   ARGV[1] the group
var ensureGroupScript = redis.NewScript(`
local state = redis.call('HGET', KEYS[2], 'state')
if not state or state == 'cancelled' then return 0 end
local r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP') then return r end
return 1
`)

// EnsureGroup creates the workers' consumer group on a campaign's stream,
// and the stream itself if a Redis restart lost it. It reports false, and
// creates nothing, when the send is over (its settings are gone or say
// cancelled): the stream was dropped at its end.
func EnsureGroup(ctx context.Context, rdb redis.UniversalClient, campaignID uint64) (bool, error) {
	n, err := ensureGroupScript.Run(ctx, rdb, []string{JobsKey(campaignID), ControlKey(campaignID)}, Group).Int()
	if err != nil {
		return false, fmt.Errorf("create the consumer group of campaign %d: %w", campaignID, err)
	}
	return n == 1, nil
}

// IsNoGroup reports a read from a stream or group that does not exist.
func IsNoGroup(err error) bool { return err != nil && strings.Contains(err.Error(), "NOGROUP") }

// ReadJobs reads up to count new jobs across the given campaigns, waiting up
// to block for some to arrive (block must be positive: zero would make Redis
// wait forever). A Cluster keeps each campaign in its own slot, and one read
// may not span slots, so there each campaign is read on its own: first
// without waiting, and only when none has jobs, all at once with the wait.
//
// Where the server has a replica, the read counts once a replica confirms
// it; when none does in time, the jobs come back with ErrNotReplicated and
// must not be delivered (Release gives them back).
func ReadJobs(ctx context.Context, rdb redis.UniversalClient, consumer string, campaigns []uint64, count int, block time.Duration) ([]Fetched, error) {
	if len(campaigns) == 0 || count <= 0 {
		return nil, nil
	}
	if block <= 0 {
		block = time.Millisecond
	}
	if _, cluster := rdb.(*redis.ClusterClient); !cluster || len(campaigns) == 1 {
		return readStreams(ctx, rdb, consumer, campaigns, count, block)
	}
	per := max(1, count/len(campaigns))
	out, err := readEach(ctx, rdb, consumer, campaigns, per, -1)
	if len(out) > 0 || err != nil {
		return out, err
	}
	return readEach(ctx, rdb, consumer, campaigns, per, block)
}

// readEach reads each campaign on its own, at once, and gathers what came.
func readEach(ctx context.Context, rdb redis.UniversalClient, consumer string, campaigns []uint64, count int, block time.Duration) ([]Fetched, error) {
	results := make([][]Fetched, len(campaigns))
	errs := make([]error, len(campaigns))
	var wg sync.WaitGroup
	for i, id := range campaigns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = readStreams(ctx, rdb, consumer, []uint64{id}, count, block)
		}()
	}
	wg.Wait()
	var out []Fetched
	for _, r := range results {
		out = append(out, r...)
	}
	// Jobs read are returned even beside an error: they are held now, and
	// the caller gives back what it cannot deliver.
	return out, errors.Join(errs...)
}

// readStreams is one XREADGROUP over campaigns that share a server (all of
// them, but in a Cluster).
func readStreams(ctx context.Context, rdb redis.UniversalClient, consumer string, campaigns []uint64, count int, block time.Duration) ([]Fetched, error) {
	streams := make([]string, 0, 2*len(campaigns))
	for _, id := range campaigns {
		streams = append(streams, JobsKey(id))
	}
	for range campaigns {
		streams = append(streams, ">")
	}
	raw := rawReadFits(rdb, block)
	var out []Fetched
	err := onNode(ctx, rdb, streams[0], func(c *redis.Conn) error {
		r := cmdable(rdb, c)
		if d, ok := r.(rawDoer); ok && raw {
			var err error
			out, err = readRaw(ctx, d, consumer, streams, campaigns, count, block)
			var re replyError
			if !errors.As(err, &re) {
				return err
			}
			// Redis refused the read and ran nothing. Read again as
			// go-redis reads, so that it does what it does on such an
			// answer: follow a Cluster's redirection, drop a connection
			// to a server that became a replica.
		}
		res, err := r.XReadGroup(ctx, &redis.XReadGroupArgs{Group: Group, Consumer: consumer, Streams: streams,
			Count: int64(count), Block: block}).Result()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		out = fromStreams(res, campaigns)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotReplicated) {
		return nil, err
	}
	return out, err
}

// fromStreams is go-redis's reading of XREADGROUP's reply, as jobs.
func fromStreams(res []redis.XStream, campaigns []uint64) []Fetched {
	n := 0
	for _, s := range res {
		n += len(s.Messages)
	}
	out := make([]Fetched, 0, n)
	for i, s := range res {
		id := campaignOf(s.Stream, campaigns, i)
		for _, m := range s.Messages {
			out = append(out, fetched(id, m))
		}
	}
	return out
}

func campaignOf(stream string, campaigns []uint64, i int) uint64 {
	if i < len(campaigns) && JobsKey(campaigns[i]) == stream {
		return campaigns[i]
	}
	for _, id := range campaigns {
		if JobsKey(id) == stream {
			return id
		}
	}
	return 0
}

func fetched(campaignID uint64, m redis.XMessage) Fetched {
	j, err := ParseJob(campaignID, m.ID, m.Values)
	return Fetched{CampaignID: campaignID, EntryID: m.ID, Job: j, Err: err}
}

// Reclaim takes over jobs of a campaign that another consumer fetched and
// has not touched for minIdle: that worker died or hangs. Each comes back
// as a possible redelivery (its holder may have delivered it before it
// stopped answering), its attempt raised by the deliveries Redis counted.
func Reclaim(ctx context.Context, rdb redis.UniversalClient, consumer string, campaignID uint64, minIdle time.Duration, count int) ([]Fetched, error) {
	key := JobsKey(campaignID)
	var msgs []redis.XMessage
	var pending []redis.XPendingExt
	err := onNode(ctx, rdb, key, func(c *redis.Conn) error {
		var err error
		r := cmdable(rdb, c)
		msgs, _, err = r.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: key, Group: Group,
			Consumer: consumer, MinIdle: minIdle, Start: "0-0", Count: int64(count)}).Result()
		if err != nil || len(msgs) == 0 {
			return err
		}
		pending, err = r.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: key, Group: Group,
			Start: msgs[0].ID, End: msgs[len(msgs)-1].ID, Count: int64(len(msgs)) + 100, Consumer: consumer}).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	deliveries := make(map[string]int64, len(pending))
	for _, p := range pending {
		deliveries[p.ID] = p.RetryCount
	}
	out := make([]Fetched, 0, len(msgs))
	for _, m := range msgs {
		f := fetched(campaignID, m)
		f.Job.Redelivery, f.Job.TakenOver = true, true
		// XAUTOCLAIM counted this claim: the deliveries before it are the
		// ones that may have reached the recipient.
		f.Job.Attempt += int(max(1, deliveries[m.ID]-1))
		out = append(out, f)
	}
	return out, nil
}

// Renew keeps the leases of the given entries that the consumer still owns
// and returns those, with how many of the others another consumer holds
// (reclaimed by someone else). The rest are pending no more: acknowledged,
// by a commit that crossed the renewal, or gone with the stream.
func Renew(ctx context.Context, rdb redis.UniversalClient, consumer string, campaignID uint64, entryIDs []string) (owned []string, taken int, err error) {
	if len(entryIDs) == 0 {
		return nil, 0, nil
	}
	args := append([]any{Group, consumer}, toAny(entryIDs)...)
	v, err := renewScript.Run(ctx, rdb, []string{JobsKey(campaignID)}, args...).Slice()
	if err != nil {
		return nil, 0, err
	}
	if len(v) != 2 {
		return nil, 0, fmt.Errorf("renew the leases of campaign %d: unexpected reply %v", campaignID, v)
	}
	ids, _ := v[0].([]any)
	owned = make([]string, 0, len(ids))
	for _, id := range ids {
		if s, ok := id.(string); ok {
			owned = append(owned, s)
		}
	}
	n, _ := v[1].(int64)
	return owned, int(n), nil
}

// Release re-queues entries the consumer fetched but never started.
func Release(ctx context.Context, rdb redis.UniversalClient, consumer string, campaignID uint64, entryIDs []string) (int, error) {
	if len(entryIDs) == 0 {
		return 0, nil
	}
	args := append([]any{Group, consumer}, toAny(entryIDs)...)
	return releaseScript.Run(ctx, rdb, []string{JobsKey(campaignID), ControlKey(campaignID)}, args...).Int()
}

// TrimAcked removes the acknowledged entries at the head of a campaign's
// job stream (all below the oldest pending one) and returns how many went.
// Workers call it periodically, so the stream shrinks as the send proceeds
// and is empty once every job is acknowledged.
func TrimAcked(ctx context.Context, rdb redis.UniversalClient, campaignID uint64) (int64, error) {
	return trimScript.Run(ctx, rdb, []string{JobsKey(campaignID)}, Group).Int64()
}

// PromoteDue moves up to limit due retries back into the job stream.
func PromoteDue(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, now time.Time, limit int) (int, error) {
	return promoteScript.Run(ctx, rdb, []string{DelayedKey(campaignID), JobsKey(campaignID), ControlKey(campaignID)},
		now.UnixMilli(), limit).Int()
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Outcome is the result of one fetched job, ready to commit.
type Outcome struct {
	EntryID string
	Job     Job
	Event   Event
	// Final is the mark written to DoneKey ("sent", "failed", "skipped"), or
	// empty for a retry, which is re-queued at RetryAt instead.
	Final   string
	RetryAt time.Time
}

// Commit records the outcomes of one campaign's jobs in one transaction:
// the idempotency marks, scheduled retries and the event batch first, then
// the acknowledgements. A crash before it leaves the jobs pending, and their
// re-delivery is stopped by the marks, written to the bitmap when bitmap
// is set (the send's live settings say so: Control.BitmapMarks), else to
// the hash.
func Commit(ctx context.Context, rdb redis.UniversalClient, worker string, campaignID uint64, outcomes []Outcome, bitmap bool) error {
	if len(outcomes) == 0 {
		return nil
	}
	batch := EventBatch{Worker: worker, Events: make([]Event, 0, len(outcomes))}
	var bits, hash []any
	if bitmap {
		bits = make([]any, 0, 4*len(outcomes))
	} else {
		hash = make([]any, 0, 2*len(outcomes))
	}
	var retries []redis.Z
	ids := make([]string, 0, len(outcomes))
	for i := range outcomes {
		o := &outcomes[i]
		if o.Event.Type != "" { // a duplicate is only acknowledged
			batch.Events = append(batch.Events, o.Event)
		}
		if o.EntryID != "" {
			ids = append(ids, o.EntryID)
		}
		if o.Final != "" {
			bits, hash = appendMarkArgs(bits, hash, o.Job.ContactID, o.Final, bitmap)
			continue
		}
		if o.Event.Type == EventRetry {
			j := o.Job
			member, err := json.Marshal(j.values())
			if err != nil {
				return err
			}
			retries = append(retries, redis.Z{Score: float64(o.RetryAt.UnixMilli()), Member: string(member)})
		}
	}
	values, err := batch.values()
	if err != nil {
		return err
	}
	err = onNode(ctx, rdb, JobsKey(campaignID), func(c *redis.Conn) error {
		_, err := cmdable(rdb, c).TxPipelined(ctx, func(p redis.Pipeliner) error {
			return commitCommands(ctx, p, campaignID, bits, hash, retries, &batch, values, ids)
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("commit %d outcomes of campaign %d: %w", len(outcomes), campaignID, err)
	}
	return nil
}

func commitCommands(ctx context.Context, p redis.Pipeliner, campaignID uint64, bits, hash []any, retries []redis.Z, batch *EventBatch, values []any, ids []string) error {
	if len(bits) > 0 {
		p.BitField(ctx, MarksKey(campaignID), bits...)
	}
	if len(hash) > 0 {
		p.HSet(ctx, DoneKey(campaignID), hash...)
	}
	if len(retries) > 0 {
		p.ZAdd(ctx, DelayedKey(campaignID), retries...)
	}
	if len(batch.Events) > 0 {
		p.XAdd(ctx, &redis.XAddArgs{Stream: EventsKey(campaignID), Values: values})
	}
	if len(ids) > 0 {
		// Acknowledged entries leave the stream with TrimAcked: an XDEL
		// of every ID here cost Redis more than the read and the ack.
		p.XAck(ctx, JobsKey(campaignID), Group, ids...)
	}
	// Last, in the same transaction: what this commit wrote of a send that
	// is over (a delivery under way at a cancel) expires. A script sent
	// whole (EVAL): a NOSCRIPT inside a transaction could not be retried.
	p.Eval(ctx, expireIfOverSrc, []string{ControlKey(campaignID), MarksKey(campaignID), DoneKey(campaignID),
		DelayedKey(campaignID), EventsKey(campaignID)}, EndedKeepFor.Milliseconds())
	return nil
}

// expireIfOverSrc gives the keys of a send that is over (its settings are
// gone or say cancelled) an expiry, where they have none: a worker's
// outcomes written after the send ended would otherwise stay in Redis for
// good. Keys of a send under way are left alone.
//
//	KEYS[1] the control hash, then the keys a commit writes
//	ARGV[1] EndedKeepFor in milliseconds
const expireIfOverSrc = `
local s = redis.call('HGET', KEYS[1], 'state')
if s == 'sending' or s == 'paused' then return 0 end
for i = 1, #KEYS do
  if redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
end
return 1
`

// The final marks, boxed once instead of once per outcome.
var boxedSent, boxedFailed, boxedSkipped any = "sent", "failed", "skipped"

func boxedFinal(final string) any {
	switch final {
	case "sent":
		return boxedSent
	case "failed":
		return boxedFailed
	case "skipped":
		return boxedSkipped
	}
	return final
}

// ActiveCampaigns lists the campaigns workers should consume, with their
// live settings.
func ActiveCampaigns(ctx context.Context, rdb redis.UniversalClient) (map[uint64]Control, error) {
	ids, err := rdb.SMembers(ctx, ActiveKey()).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[uint64]Control, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	parsed := make([]uint64, len(ids))
	for i, s := range ids {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			continue
		}
		parsed[i] = id
		cmds[i] = pipe.HGetAll(ctx, ControlKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		out[parsed[i]] = ParseControl(cmd.Val())
	}
	return out, nil
}
