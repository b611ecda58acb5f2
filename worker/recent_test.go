package worker

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"tui/queue"
)

// The ring keeps the newest recentMax outcomes across its chunks, and a
// changed epoch returns those of the old epoch, and only those.
func TestRecentOutcomesKeepTheNewestAcrossChunks(t *testing.T) {
	var r recentOutcomes
	if seen, lost := r.epochChanged(map[uint64]queue.Control{7: {Epoch: "a"}}); len(seen) != 1 || lost != nil {
		t.Fatalf("first sight: seen %v lost %v", seen, lost)
	}
	// Recorded a minute ahead: under -race on a loaded machine this test
	// can take longer than the ten seconds outcomes are kept.
	now := time.Now().Add(time.Minute)
	batch := func(from, n int, epoch string) []outcome {
		out := make([]outcome, n)
		for i := range out {
			out[i].out = queue.Outcome{Job: queue.Job{CampaignID: 7, ContactID: uint64(from + i), Epoch: epoch}, Final: "sent",
				Event: queue.Event{Type: queue.EventDelivered}}
		}
		return out
	}
	// More than the ring holds, in batches that straddle chunks.
	total := 0
	for total < recentMax+2*recentChunk+123 {
		n := 1000
		r.add(batch(total+1, n, "a"), now)
		total += n
	}
	if r.size != recentMax {
		t.Fatalf("holds %d, want %d", r.size, recentMax)
	}
	seen, lost := r.epochChanged(map[uint64]queue.Control{7: {Epoch: "b"}})
	if len(seen) != 1 || len(lost[7]) != recentMax {
		t.Fatalf("seen %v, %d outcomes of the old epoch, want %d", seen, len(lost[7]), recentMax)
	}
	contacts := map[uint64]bool{}
	for _, o := range lost[7] {
		contacts[o.Job.ContactID] = true
	}
	for c := uint64(total - recentMax + 1); c <= uint64(total); c++ {
		if !contacts[c] {
			t.Fatalf("contact %d of the newest %d is missing", c, recentMax)
		}
	}
	// Outcomes of the new epoch are not returned when it changes again
	// only for the old one's.
	r.add(batch(total+1, 10, "b"), now)
	_, lost = r.epochChanged(map[uint64]queue.Control{7: {Epoch: "c"}})
	if len(lost[7]) != 10 {
		t.Fatalf("%d outcomes of epoch b, want 10", len(lost[7]))
	}
}

// A job's fields are slices of its whole stream entry: the ring keeps
// copies of its epoch and reason, never the entry, or a hundred thousand
// outcomes would hold a hundred thousand entries alive.
func TestRecentOutcomesHoldNoStreamEntry(t *testing.T) {
	var r recentOutcomes
	entry := strings.Repeat("x", 300) + "epoch-1" + "550 mailbox full" // the packed entry a job was read from
	epoch, reason := entry[300:307], entry[307:]
	r.add([]outcome{{out: queue.Outcome{Job: queue.Job{CampaignID: 7, ContactID: 1, Epoch: epoch}, Final: "failed",
		Event: queue.Event{Type: queue.EventFailed, Reason: reason}}}}, time.Now())
	o := r.outcome(0)
	if o.Job.Epoch != epoch || o.Event.Reason != reason {
		t.Fatalf("kept epoch %q and reason %q, want %q and %q", o.Job.Epoch, o.Event.Reason, epoch, reason)
	}
	start, end := uintptr(unsafe.Pointer(unsafe.StringData(entry))), uintptr(unsafe.Pointer(unsafe.StringData(entry)))+uintptr(len(entry))
	for _, kept := range []string{r.odd[0].epoch, r.odd[0].reason} {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(kept))); p >= start && p < end {
			t.Fatalf("the ring's %q points into the job's stream entry", kept)
		}
	}
}

// An entry holds an outcome in numbers, without a pointer; what numbers
// cannot say (a reason, an epoch not made by NewEpoch, an unusual type) is
// kept beside it, and dropped when the entry is overwritten. Each outcome
// comes back as it was added.
func TestRecentOutcomesComeBackAsAdded(t *testing.T) {
	if typ := reflect.TypeFor[recentOutcome](); typ.Size() > 48 {
		t.Errorf("a ring entry is %d bytes, want at most 48", typ.Size())
	}
	at := time.Now().Add(time.Minute).UTC()
	ins := []queue.Outcome{
		{Job: queue.Job{CampaignID: 7, ContactID: 1, Round: 2, Epoch: queue.NewEpoch()}, Final: "sent",
			Event: queue.Event{Contact: 1, Round: 2, Type: queue.EventDelivered, Attempt: 3, TakenOver: true, At: at}},
		{Job: queue.Job{CampaignID: 7, ContactID: 2, Round: 1, Epoch: ""}, Final: "skipped",
			Event: queue.Event{Contact: 2, Round: 1, Type: queue.EventSkipped, Attempt: 1, At: at}},
		{Job: queue.Job{CampaignID: 8, ContactID: 3, Round: 1, Epoch: "0abc"}, Final: "failed",
			Event: queue.Event{Contact: 3, Round: 1, Type: queue.EventFailed, Attempt: 5, Reason: "550 no such user", At: at}},
		{Job: queue.Job{CampaignID: 8, ContactID: 4, Round: 1, Epoch: "Z9"}, Final: "sent",
			Event: queue.Event{Contact: 4, Round: 1, Type: "delivered-late", Attempt: 1, At: at}},
	}
	var r recentOutcomes
	for i := range ins {
		r.add([]outcome{{out: ins[i]}}, at)
	}
	for i, want := range ins {
		if got := r.outcome(i); !reflect.DeepEqual(got, want) {
			t.Errorf("outcome %d came back as\n%+v\nwant\n%+v", i, got, want)
		}
	}
	if len(r.odd) != 2 {
		t.Errorf("%d entries kept beside the ring, want 2 (a reason and an odd epoch, an odd epoch and type)", len(r.odd))
	}
	// Overwritten by plain outcomes, the odd ones leave nothing behind.
	plain := make([]outcome, recentMax)
	for i := range plain {
		plain[i].out = queue.Outcome{Job: queue.Job{CampaignID: 7, ContactID: uint64(10 + i)}, Final: "sent",
			Event: queue.Event{Type: queue.EventDelivered}}
	}
	r.add(plain, at)
	if len(r.odd) != 0 {
		t.Errorf("%d entries kept beside the ring after every one was overwritten, want 0", len(r.odd))
	}
}
