package queue

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// packedBack is a job as it reads back: attempts start at 1, and plain
// text is the format written as none.
func packedBack(j Job) Job {
	if j.Attempt < 1 {
		j.Attempt = 1
	}
	if j.Format == "text" {
		j.Format = ""
	}
	if !j.Redelivery {
		j.TakenOver = false
	}
	return j
}

// Every field of a job survives the packing, whatever its bytes: the
// separators of the packing itself, digits where a length is read,
// newlines, NUL, and empty values.
func TestPackedJobsRoundTrip(t *testing.T) {
	jobs := append([]Job{
		{CampaignID: 7, ContactID: 3, Round: 1, To: "a@example.com", Channel: "smtp", From: "n@example.com",
			Subject: "Hi", Body: "# Hi", Format: "markdown", Unsubscribe: "https://u.example.com/u/tok",
			UnsubscribeMailto: "mailto:u@example.com?subject=unsubscribe%20tok", Test: true},
		{CampaignID: 7, ContactID: 4, Round: 1, To: "b@example.com", Channel: "file", Subject: "Hi", Body: "plain", Format: "text"},
		{CampaignID: 7, ContactID: 5, Round: 2, To: "12:c,", Channel: "webhook", Subject: "3:abc,", Body: ",,::9:\x00\n\r,",
			URL: "https://h/x?a=1,2", Attempt: 4, Redelivery: true, TakenOver: true, Epoch: "e:1,"},
		{CampaignID: 7, ContactID: 6, Round: 1, To: "d", Channel: "file", Subject: "", Body: strings.Repeat("é", 70_000)},
	}, encoderJobs...)
	for i := range jobs {
		j := packedBack(jobs[i])
		vs := j.values()
		if len(vs) != 2 || vs[0] != JobField {
			t.Fatalf("job %d is written as %q, want one field %q", i, vs, JobField)
		}
		back, err := ParseJob(j.CampaignID, j.StreamID(), map[string]any{vs[0].(string): vs[1]})
		if err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
		if !reflect.DeepEqual(back, j) {
			t.Errorf("job %d read back as\n%+v\nwant\n%+v", i, back, j)
		}
	}
}

// A damaged packed job is an error, never a job with fields missing or
// misread, and never a panic.
func TestDamagedPackedJobsAreRefused(t *testing.T) {
	good := string(encoderJobs[0].appendPacked(nil))
	for _, bad := range []string{
		good[:len(good)-1],                   // the last comma cut
		good[:len(good)/2],                   // cut in the middle
		good + "3:abc,",                      // a name without a value
		"3:key;7:7:1",                        // a separator that is not a comma
		"03:key,3:7:1,",                      // a length with a leading zero
		"999999999999:key,",                  // a length past any job
		":key,",                              // no length
		"-3:key,",                            // a sign
		strings.Replace(good, "5:", "6:", 1), // a length one too long
	} {
		if j, err := ParseJob(7, "1-1", map[string]any{JobField: bad}); err == nil {
			t.Errorf("%q was read as %+v", bad, j)
		}
	}
}

// Entries queued by a tui that wrote one field per value (still in Redis
// across an upgrade, or retries waiting to be promoted) are read as
// before.
func TestJobsOfSeparateFieldsAreStillRead(t *testing.T) {
	rdb := scriptsRedis(t)
	ctx := context.Background()
	old := []any{"key", "7:300", "contact", "300", "round", "2", "attempt", "3", "to", "b@example.com",
		"channel", "smtp", "subject", "", "body", "é\r\n", "from", "me@example.com", "redelivery", "takeover",
		"epoch", "lq3x", "format", "html", "unsub", "https://u/x", "test", "1"}
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: JobsKey(7), ID: "2-300", Values: old}).Err(); err != nil {
		t.Fatal(err)
	}
	makeGroup(t, rdb, 7)
	got, err := ReadJobs(ctx, rdb, "w", []uint64{7}, 10, 10e6)
	if err != nil || len(got) != 1 || got[0].Err != nil {
		t.Fatalf("read %+v, %v", got, err)
	}
	want := Job{CampaignID: 7, ContactID: 300, Round: 2, Attempt: 3, To: "b@example.com", Channel: "smtp", Body: "é\r\n",
		From: "me@example.com", Redelivery: true, TakenOver: true, Epoch: "lq3x", Format: "html", Unsubscribe: "https://u/x", Test: true}
	if got[0].Job != want {
		t.Errorf("read\n%+v\nwant\n%+v", got[0].Job, want)
	}
}

func FuzzUnpackNeverMisreads(f *testing.F) {
	f.Add(string(encoderJobs[2].appendPacked(nil)))
	f.Add("3:key,3:7:1,")
	f.Fuzz(func(t *testing.T, s string) {
		var pairs []string
		if err := unpack(s, func(name, value string) { pairs = append(pairs, name, value) }); err != nil {
			return
		}
		// What was read packs back to exactly the input.
		var again []byte
		for i := 0; i < len(pairs); i += 2 {
			again = appendNetString(again, pairs[i], pairs[i+1])
		}
		if string(again) != s {
			t.Fatalf("%q unpacked to %q, which packs as %q", s, pairs, again)
		}
	})
}

// A worker says in its heartbeat which jobs it reads; one from before
// packed jobs says nothing, and is the one Outdated names.
func TestHeartbeatsSayWhichJobsAWorkerReads(t *testing.T) {
	rdb := scriptsRedis(t)
	ctx := context.Background()
	now := time.Now()
	if err := Heartbeat(ctx, rdb, WorkerInfo{ID: "new-1", Host: "new", LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	ws, err := Workers(ctx, rdb)
	if err != nil || len(ws) != 1 || ws[0].Jobs != JobFormat {
		t.Fatalf("workers %+v, %v: want one reading %q", ws, err, JobFormat)
	}
	if w, ok := Outdated(ws, now); ok {
		t.Fatalf("%s called outdated", w.ID)
	}
	// A heartbeat as a tui before packed jobs wrote it.
	rdb.HSet(ctx, WorkerKey("old-1"), "host", "old", "last_seen", now.UnixMilli())
	rdb.SAdd(ctx, WorkersKey(), "old-1")
	if ws, err = Workers(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	w, ok := Outdated(ws, now)
	if !ok || w.ID != "old-1" || !strings.Contains(OutdatedSentence(w), "older tui") {
		t.Fatalf("Outdated = %+v %v", w, ok)
	}
	// Once it stops reporting, it no longer counts.
	if _, ok := Outdated(ws, now.Add(LostAfter+time.Second)); ok {
		t.Fatal("a lost worker still counts as outdated")
	}
}
