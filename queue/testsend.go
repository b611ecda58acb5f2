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

// Test sends travel outside every campaign's queue, ledger and rate: the
// owner puts one job per address on the test stream of the campaign's
// channel, any worker that can deliver that channel takes it (consumer
// group "workers", as for campaigns), delivers it once and pushes the
// result onto the reply list named in the job, which the owner waits on.
// Every key of tests shares the hash tag {tests}, so a worker reads the
// streams of all its channels in one command, also on a Cluster.

// TestJobsKey is the stream of test jobs of one channel.
func TestJobsKey(channel string) string { return KeyPrefix + "{tests}:jobs:" + channel }

// TestReplyKey is the list the results of one test send are pushed onto.
func TestReplyKey(id string) string { return KeyPrefix + "{tests}:reply:" + id }

// testReplyTTL bounds how long a result nobody read stays in Redis.
const testReplyTTL = 10 * time.Minute

// TestJob is a test delivery read by a worker.
type TestJob struct {
	Stream   string
	EntryID  string
	ID       string    // the test send's ID: where the reply goes
	Deadline time.Time // past it the owner stopped waiting: not delivered
	Job      Job
	Err      error // a malformed entry: answered with the error, never delivered
}

// TestResult is the outcome of one test delivery.
type TestResult struct {
	To     string `json:"to"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Worker string `json:"worker,omitempty"`
}

// TestEntry names a test job in its stream, to withdraw it.
type TestEntry struct{ Stream, ID string }

// EnqueueTests queues one test job per address (the jobs' To) under the
// test send id; workers ignore them after deadline.
func EnqueueTests(ctx context.Context, rdb redis.UniversalClient, id string, jobs []Job, deadline time.Time) ([]TestEntry, error) {
	var out []TestEntry
	for i := range jobs {
		j := &jobs[i]
		j.Test = true
		key := TestJobsKey(j.Channel)
		values := append(j.values(), "campaign", strconv.FormatUint(j.CampaignID, 10),
			"test_id", id, "deadline", strconv.FormatInt(deadline.UnixMilli(), 10))
		entry, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: values}).Result()
		if err != nil {
			return out, fmt.Errorf("queue the test send to %s: %w", j.To, err)
		}
		out = append(out, TestEntry{Stream: key, ID: entry})
	}
	return out, nil
}

// AwaitTests waits until n results of the test send id have come, or until
// the deadline, and returns those that came.
func AwaitTests(ctx context.Context, rdb redis.UniversalClient, id string, n int, deadline time.Time) ([]TestResult, error) {
	var out []TestResult
	for len(out) < n {
		wait := time.Until(deadline)
		if wait <= 0 {
			return out, nil
		}
		res, err := rdb.BLPop(ctx, min(wait, 5*time.Second), TestReplyKey(id)).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("wait for the test send's results: %w", err)
		}
		var r TestResult
		if err := json.Unmarshal([]byte(res[1]), &r); err != nil {
			return out, fmt.Errorf("a worker answered the test send with %q: %w", res[1], err)
		}
		out = append(out, r)
	}
	return out, nil
}

// WithdrawTests removes test jobs no worker has answered: a worker that
// starts later must not send a test nobody waits for.
func WithdrawTests(ctx context.Context, rdb redis.UniversalClient, entries []TestEntry) error {
	var errs []error
	for _, e := range entries {
		_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.XAck(ctx, e.Stream, Group, e.ID)
			p.XDel(ctx, e.Stream, e.ID)
			return nil
		})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// EnsureTestGroups creates the workers' group on the test streams of the
// given channels.
func EnsureTestGroups(ctx context.Context, rdb redis.UniversalClient, channels []string) error {
	for _, ch := range channels {
		err := rdb.XGroupCreateMkStream(ctx, TestJobsKey(ch), Group, "0").Err()
		if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("create the test group of channel %s: %w", ch, err)
		}
	}
	return nil
}

// ReadTests reads test jobs of the given channels, waiting up to block.
func ReadTests(ctx context.Context, rdb redis.UniversalClient, consumer string, channels []string, count int, block time.Duration) ([]TestJob, error) {
	if len(channels) == 0 {
		return nil, nil
	}
	streams := make([]string, 0, 2*len(channels))
	for _, ch := range channels {
		streams = append(streams, TestJobsKey(ch))
	}
	for range channels {
		streams = append(streams, ">")
	}
	res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: Group, Consumer: consumer, Streams: streams,
		Count: int64(count), Block: max(block, time.Millisecond)}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []TestJob
	for _, s := range res {
		for _, m := range s.Messages {
			out = append(out, parseTestJob(s.Stream, m))
		}
	}
	return out, nil
}

func parseTestJob(stream string, m redis.XMessage) TestJob {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	tj := TestJob{Stream: stream, EntryID: m.ID, ID: str("test_id")}
	if ms, err := strconv.ParseInt(str("deadline"), 10, 64); err == nil {
		tj.Deadline = time.UnixMilli(ms)
	}
	campaign, err := strconv.ParseUint(str("campaign"), 10, 64)
	if err != nil || tj.ID == "" {
		tj.Err = fmt.Errorf("test job %s: missing campaign or test id", m.ID)
		return tj
	}
	tj.Job, tj.Err = ParseJob(campaign, m.ID, m.Values)
	tj.Job.Test = true
	return tj
}

// ReplyTest answers a test job and removes it from its stream.
func ReplyTest(ctx context.Context, rdb redis.UniversalClient, tj TestJob, r TestResult) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if tj.ID != "" {
			p.RPush(ctx, TestReplyKey(tj.ID), data)
			p.PExpire(ctx, TestReplyKey(tj.ID), testReplyTTL)
		}
		p.XAck(ctx, tj.Stream, Group, tj.EntryID)
		p.XDel(ctx, tj.Stream, tj.EntryID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("answer the test send %s: %w", tj.ID, err)
	}
	return nil
}
