package queue

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"testing"

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
