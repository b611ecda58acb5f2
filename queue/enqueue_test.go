package queue

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
)

// wire is an argument as go-redis writes it.
func wire(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return v
	case *string:
		return *v
	case int:
		return strconv.Itoa(v)
	case *uint64:
		return strconv.FormatUint(*v, 10)
	}
	t.Fatalf("argument %#v of type %T", v, v)
	return ""
}

var encoderJobs = []Job{
	{CampaignID: 7, ContactID: 1, Round: 1, To: "a@example.com", Channel: "file", Subject: "S", Body: "B"},
	{CampaignID: 7, ContactID: 300, Round: 2, To: "b@example.com", Channel: "smtp", From: "me@example.com", Subject: "", Body: "é\r\n", Attempt: 3},
	{CampaignID: 7, ContactID: 18446744073709551615, Round: 400, To: "+4712", Channel: "webhook", URL: "https://h/x", Attempt: 999},
	{CampaignID: 7, ContactID: 70000, Round: 1, To: "c", Channel: "messenger", From: "f", URL: "u", Attempt: -1},
	{CampaignID: 7, ContactID: 70001, Round: 3, To: "d", Channel: "file", Attempt: 4, Redelivery: true, Epoch: "lq3x"},
	{CampaignID: 7, ContactID: 70002, Round: 1, To: "1254477777772919", Channel: "messenger", Kind: "psid", MessagingType: "MESSAGE_TAG", Tag: "ACCOUNT_UPDATE"},
}

// The batch encoder must write exactly the entry Job.values describes, which
// is what workers parse.
func TestXAddEncoderMatchesJobValues(t *testing.T) {
	var enc xaddEncoder
	enc.prepare(encoderJobs)
	key := JobsKey(7)
	for i := range encoderJobs {
		j := &encoderJobs[i]
		var got []string
		for _, a := range enc.args(key, i) {
			got = append(got, wire(t, a))
		}
		want := []string{"xadd", key, j.StreamID()}
		for _, v := range j.values() {
			want = append(want, v.(string))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("job %d:\n got %q\nwant %q", i, got, want)
		}
	}
}

// Jobs read back from Redis are the jobs enqueued, and a batch enqueued
// again is refused entry by entry and counted as skipped.
func TestEnqueueBatchRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	jobs := make([]Job, 0, 250)
	for i := 1; i <= 250; i++ {
		j := Job{CampaignID: 9, ContactID: uint64(i * 3), Round: 2, To: fmt.Sprintf("c%d@example.com", i), Channel: "file",
			Subject: fmt.Sprintf("Hi %d", i), Body: fmt.Sprintf("Body %d", i)}
		if i%2 == 0 {
			j.From, j.URL = "me@example.com", "https://example.com/hook"
		}
		if i%3 == 0 {
			j.Kind, j.MessagingType, j.Tag = "phone", "MESSAGE_TAG", "HUMAN_AGENT"
		}
		jobs = append(jobs, j)
	}
	added, skipped, err := EnqueueBatch(ctx, rdb, jobs[:200])
	if err != nil || added != 200 || skipped != 0 {
		t.Fatalf("first batch: added %d skipped %d err %v", added, skipped, err)
	}
	// A resumed enqueue sends the tail of the last batch again.
	added, skipped, err = EnqueueBatch(ctx, rdb, jobs[150:])
	if err != nil || added != 50 || skipped != 50 {
		t.Fatalf("second batch: added %d skipped %d err %v, want 50 and 50", added, skipped, err)
	}
	entries, err := rdb.XRange(ctx, JobsKey(9), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(jobs) {
		t.Fatalf("the stream holds %d entries, want %d", len(entries), len(jobs))
	}
	for i, e := range entries {
		want := jobs[i]
		want.Attempt = 1
		if e.ID != want.StreamID() {
			t.Errorf("entry %d has ID %s, want %s", i, e.ID, want.StreamID())
		}
		got, err := ParseJob(9, e.ID, e.Values)
		if err != nil || got != want {
			t.Fatalf("entry %d: %+v %v, want %+v", i, got, err, want)
		}
	}
	last, err := LastEnqueued(ctx, rdb, 9, 2)
	if err != nil || last != jobs[len(jobs)-1].ContactID {
		t.Errorf("LastEnqueued = %d %v, want %d", last, err, jobs[len(jobs)-1].ContactID)
	}
}

// A worker blocked on the stream reads a batch whole: Redis answers it
// once the batch's transaction is in, not after its first job.
func TestBlockedReadTakesTheWholeBatch(t *testing.T) {
	rdb := scriptsRedis(t)
	ctx := context.Background()
	makeGroup(t, rdb, 5)
	type read struct {
		got []Fetched
		err error
	}
	done := make(chan read, 1)
	go func() {
		got, err := ReadJobs(ctx, rdb, "w1", []uint64{5}, 1000, 20*time.Second)
		done <- read{got, err}
	}()
	// Enqueue only once the read is blocked on the stream.
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := rdb.Info(ctx, "clients").Result()
		if err == nil && strings.Contains(info, "blocked_clients:1\r") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read did not block within 10 s: %s %v", info, err)
		}
		time.Sleep(time.Millisecond)
	}
	jobs := make([]Job, 600)
	for i := range jobs {
		jobs[i] = Job{CampaignID: 5, ContactID: uint64(i + 1), Round: 1, To: fmt.Sprintf("c%d@example.com", i+1), Channel: "file"}
	}
	if added, _, err := EnqueueBatch(ctx, rdb, jobs); err != nil || added != len(jobs) {
		t.Fatalf("enqueue: added %d, %v", added, err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.got) != len(jobs) {
		t.Fatalf("the blocked read took %d jobs of a batch of %d", len(r.got), len(jobs))
	}
}
