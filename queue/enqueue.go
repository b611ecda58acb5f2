package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// EnqueueBatch adds jobs of one campaign and round, in ascending contact
// order, in one pipeline. Jobs already in the stream (a resumed enqueue) are
// refused by Redis and counted as skipped, never added twice. The jobs must
// not change until it returns: the commands point into them.
func EnqueueBatch(ctx context.Context, rdb redis.UniversalClient, jobs []Job) (added, skipped int, err error) {
	if len(jobs) == 0 {
		return 0, 0, nil
	}
	key := JobsKey(jobs[0].CampaignID)
	cmds := make([]*redis.Cmd, len(jobs))
	var enc xaddEncoder
	enc.prepare(jobs)
	// Where the server has a replica, the batch counts once one confirms
	// it: a failover would otherwise lose jobs the ledger calls queued.
	// Sent again, the batch adds only what the new master lacks.
	err = onNode(ctx, rdb, key, func(c *redis.Conn) error {
		pipe := cmdable(rdb, c).Pipeline()
		for i := range jobs {
			cmds[i] = pipe.Do(ctx, enc.args(key, jobs, i)...)
		}
		// Exec reports the first failed command; each command carries its
		// own result, and a lost connection fails them all.
		_, _ = pipe.Exec(ctx)
		return nil
	})
	if cmds[0] == nil {
		return 0, 0, fmt.Errorf("enqueue jobs: %w", err)
	}
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
	if err != nil {
		return added, skipped, fmt.Errorf("enqueue jobs: %w", err)
	}
	return added, skipped, nil
}

// xaddEncoder builds the XADD commands of a batch with a few allocations per
// batch instead of a dozen per job: the arguments of every command share one
// slice, strings are passed by pointer into the jobs (boxing a pointer does
// not allocate), and the idempotency keys and stream IDs share one string.
// The entry is exactly Job.values(); a test compares the two.
type xaddEncoder struct {
	slab     []any
	strs     []string // per job: key, stream ID
	contacts []uint64
}

// maxXAddArgs is "xadd", the stream, the ID, and eight to nineteen fields.
const maxXAddArgs = 3 + 2*19

func (e *xaddEncoder) prepare(jobs []Job) {
	var sb strings.Builder
	sb.Grow(len(jobs) * 40)
	ends := make([]int, 0, 2*len(jobs))
	for i := range jobs {
		j := &jobs[i]
		var buf [48]byte
		b := strconv.AppendUint(buf[:0], j.CampaignID, 10)
		b = append(b, ':')
		b = strconv.AppendUint(b, j.ContactID, 10)
		sb.Write(b)
		ends = append(ends, sb.Len())
		b = strconv.AppendInt(buf[:0], int64(j.Round), 10)
		b = append(b, '-')
		b = strconv.AppendUint(b, j.ContactID, 10)
		sb.Write(b)
		ends = append(ends, sb.Len())
	}
	all := sb.String()
	e.strs = make([]string, len(ends))
	start := 0
	for i, end := range ends {
		e.strs[i] = all[start:end]
		start = end
	}
	e.contacts = make([]uint64, len(jobs))
	e.slab = make([]any, 0, len(jobs)*maxXAddArgs)
}

func (e *xaddEncoder) args(stream string, jobs []Job, i int) []any {
	j := &jobs[i]
	e.contacts[i] = j.ContactID
	attempt := j.Attempt
	if attempt < 1 {
		attempt = 1
	}
	start := len(e.slab)
	// go-redis writes numbers as their decimal digits, as strconv does, and
	// small ints box without allocating.
	e.slab = append(e.slab, "xadd", stream, &e.strs[2*i+1],
		"key", &e.strs[2*i], "contact", &e.contacts[i], "round", j.Round,
		"attempt", attempt, "to", &j.To, "channel", &j.Channel, "subject", &j.Subject, "body", &j.Body)
	if j.From != "" {
		e.slab = append(e.slab, "from", &j.From)
	}
	if j.URL != "" {
		e.slab = append(e.slab, "url", &j.URL)
	}
	if j.Redelivery {
		e.slab = append(e.slab, "redelivery", j.redeliveryField())
	}
	if j.Epoch != "" {
		e.slab = append(e.slab, "epoch", &j.Epoch)
	}
	if j.Kind != "" {
		e.slab = append(e.slab, "kind", &j.Kind)
	}
	if j.MessagingType != "" {
		e.slab = append(e.slab, "mtype", &j.MessagingType)
	}
	if j.Tag != "" {
		e.slab = append(e.slab, "tag", &j.Tag)
	}
	e.slab = j.appendMessageFields(e.slab)
	return e.slab[start:len(e.slab):len(e.slab)]
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

// Activate tells workers that a campaign has jobs to consume, and wakes
// the idle ones.
func Activate(ctx context.Context, rdb redis.UniversalClient, campaignID uint64) error {
	if err := rdb.SAdd(ctx, ActiveKey(), campaignID).Err(); err != nil {
		return fmt.Errorf("activate campaign %d: %w", campaignID, err)
	}
	wake(ctx, rdb, campaignID)
	return nil
}
