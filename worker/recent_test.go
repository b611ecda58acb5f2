package worker

import (
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

// A job's fields are slices of its whole stream entry: the ring keeps a
// copy of the epoch, never the entry, or a hundred thousand outcomes would
// hold a hundred thousand entries alive.
func TestRecentOutcomesHoldNoStreamEntry(t *testing.T) {
	var r recentOutcomes
	entry := strings.Repeat("x", 300) + "epoch-1" // the packed entry a job was read from
	epoch := entry[300:]
	r.add([]outcome{{out: queue.Outcome{Job: queue.Job{CampaignID: 7, ContactID: 1, Epoch: epoch}, Final: "sent",
		Event: queue.Event{Type: queue.EventDelivered}}}}, time.Now())
	kept := r.at(0).epoch
	if kept != epoch {
		t.Fatalf("kept epoch %q, want %q", kept, epoch)
	}
	start, end := uintptr(unsafe.Pointer(unsafe.StringData(entry))), uintptr(unsafe.Pointer(unsafe.StringData(entry)))+uintptr(len(entry))
	if p := uintptr(unsafe.Pointer(unsafe.StringData(kept))); p >= start && p < end {
		t.Fatal("the ring's epoch points into the job's stream entry")
	}
}
