package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"tui/queue"
)

// The delivery-time histogram puts each delivery in the first bucket that
// holds it, reads cumulatively, and its count and sum agree with the
// deliveries, also while deliverers add to it at once.
func TestDeliveryHistogram(t *testing.T) {
	w := &Worker{}
	m := &w.metrics
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				m.observeDelivery("smtp", 3*time.Millisecond) // ≤ 0.005
				m.observeDelivery("file", 50*time.Microsecond)
			}
		}()
	}
	wg.Wait()
	m.observeDelivery("smtp", time.Minute) // beyond the last bucket
	s := w.Metrics()
	if len(s.Channels) != 2 || s.Channels[0].Channel != "file" || s.Channels[1].Channel != "smtp" {
		t.Fatalf("channels %+v", s.Channels)
	}
	smtp := s.Channels[1]
	for i, b := range LatencyBuckets {
		want := uint64(0)
		if b >= 0.005 {
			want = 8000
		}
		if smtp.LatencyBuckets[i] != want {
			t.Errorf("smtp bucket ≤%v = %d, want %d", b, smtp.LatencyBuckets[i], want)
		}
	}
	if smtp.LatencyCount != 8001 || smtp.LatencySum < 60.0+8000*0.003-1e-6 || smtp.LatencySum > 60.0+8000*0.003+1e-6 {
		t.Errorf("smtp count %d sum %v", smtp.LatencyCount, smtp.LatencySum)
	}
	if f := s.Channels[0]; f.LatencyBuckets[0] != 8000 || f.LatencyCount != 8000 {
		t.Errorf("file %+v", f)
	}
}

// Outcomes are counted by channel and outcome, and possible second copies
// among the deliveries.
func TestOutcomesByChannel(t *testing.T) {
	w := &Worker{}
	m := &w.metrics
	mk := func(ch string, typ queue.EventType, redelivery bool) outcome {
		return outcome{t: &task{f: queue.Fetched{Job: queue.Job{Channel: ch}}},
			out: queue.Outcome{Job: queue.Job{Channel: ch, Redelivery: redelivery}, Event: queue.Event{Type: typ}}}
	}
	m.countOutcomes([]outcome{mk("file", queue.EventDelivered, false), mk("file", queue.EventDelivered, true),
		mk("smtp", queue.EventFailed, false), mk("smtp", queue.EventRetry, false), mk("file", queue.EventSkipped, false)})
	s := w.Metrics()
	got := map[string][numOutcomes]int64{}
	for _, c := range s.Channels {
		got[c.Channel] = c.Outcomes
	}
	if got["file"] != [numOutcomes]int64{2, 0, 0, 1} || got["smtp"] != [numOutcomes]int64{0, 1, 1, 0} || s.Redeliveries != 1 {
		t.Fatalf("outcomes %v, redeliveries %d", got, s.Redeliveries)
	}
}

func TestRedisErrorKind(t *testing.T) {
	for err, want := range map[error]string{
		context.DeadlineExceeded: "unreachable",
		errors.New("dial tcp 127.0.0.1:1: connect: connection refused"):                          "unreachable",
		fmt.Errorf("commit 3 outcomes of campaign 1: %w", errors.New("OOM command not allowed")): "oom",
		errors.New("READONLY You can't write against a read only replica."):                      "readonly",
		errors.New("NOPERM this user has no permissions to run the 'xadd' command"):              "noperm",
		fmt.Errorf("read: %w", queue.ErrNotReplicated):                                           "not_replicated",
		errors.New("x509: certificate signed by unknown authority"):                              "tls",
		errors.New("something odd"):                                                              "other",
	} {
		if got := RedisErrorKind(err); got != want {
			t.Errorf("%v: %q, want %q", err, got, want)
		}
	}
}
