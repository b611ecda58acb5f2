package worker

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tui/internal/testkit"
	"tui/queue"
)

// failing is a channel whose every delivery fails with err, counting the
// attempts.
type failing struct {
	err      *DeliveryError
	attempts atomic.Int64
	fail     func(d Delivery) bool // when set, only these fail; the rest are delivered
}

func (f *failing) Get(string) (Channel, error) { return f, nil }
func (f *failing) Close() error                { return nil }
func (f *failing) Deliver(_ context.Context, d Delivery) error {
	f.attempts.Add(1)
	if f.fail != nil && !f.fail(d) {
		return nil
	}
	e := *f.err
	return &e
}

func noneCanDeliver(t *testing.T, f *fixture, campaign uint64, want string) func() bool {
	return func() bool {
		ws, _ := queue.Workers(context.Background(), f.rdb)
		reason, none := queue.NoneCanDeliver(ws, campaign, time.Now())
		return none && strings.Contains(reason, want)
	}
}

// A failure that concerns the sender (a revoked token) stops the worker
// reading the campaign before anyone fails: the jobs go back to the queue,
// the heartbeat says why, and a worker without the fault delivers every
// recipient once.
func TestASenderFailureFailsNobody(t *testing.T) {
	f := newFixture(t)
	const n = 500
	f.enqueue(11, n, queue.Control{})
	bad := &failing{err: &DeliveryError{Scope: ScopeSender, Reason: "Graph error 190: the Page access token is invalid"}}
	w, _ := f.startWorker("bad", bad, Config{Concurrency: 4})
	testkit.Eventually(t, 10*time.Second, "the heartbeat to say why", noneCanDeliver(t, f, 11, "Graph error 190"))
	// At most one attempt per deliverer: the others never started.
	if a := bad.attempts.Load(); a < 1 || a > 4 {
		t.Fatalf("%d attempts by the worker that cannot deliver, want 1 to 4", a)
	}
	if got := f.events(11); got[queue.EventFailed] != 0 || got[queue.EventDelivered] != 0 || got[queue.EventRetry] != 0 || w.Stats().Failed != 0 {
		t.Fatalf("events %v, want none", got)
	}
	rec := newRecorder()
	f.startWorker("good", rec, Config{Concurrency: 8})
	testkit.Eventually(t, 60*time.Second, "every event", func() bool { return f.events(11)[queue.EventDelivered] == n })
	total, distinct, most := rec.count()
	if total != n || distinct != n || most != 1 || f.events(11)[queue.EventFailed] != 0 {
		t.Fatalf("deliveries %d, distinct %d, most per key %d, failed %d; want %d once each",
			total, distinct, most, f.events(11)[queue.EventFailed], n)
	}
	if a := bad.attempts.Load(); a > 4 {
		t.Fatalf("the stopped worker tried %d deliveries", a)
	}
}

// A failure that may concern the sender or the recipient fails the
// recipient; a run of them with nothing delivered between stops the worker
// after unclearRun recipients, and the rest wait for another worker.
func TestARunOfUnclearFailuresStopsTheWorker(t *testing.T) {
	f := newFixture(t)
	const n = 200
	f.enqueue(12, n, queue.Control{})
	bad := &failing{err: &DeliveryError{Scope: ScopeUnclear, Reason: "550 5.7.1 relaying denied"}}
	f.startWorker("bad", bad, Config{Concurrency: 1})
	testkit.Eventually(t, 10*time.Second, "the heartbeat to say why", noneCanDeliver(t, f, 12, "5 recipients in a row failed"))
	if got := f.events(12); got[queue.EventFailed] != unclearRun-1 || got[queue.EventDelivered] != 0 {
		t.Fatalf("events %v, want %d failed before the worker stopped", got, unclearRun-1)
	}
	rec := newRecorder()
	f.startWorker("good", rec, Config{Concurrency: 4})
	testkit.Eventually(t, 30*time.Second, "the rest delivered", func() bool {
		return f.events(12)[queue.EventDelivered] == n-(unclearRun-1)
	})
}

// One person's odd error, or a few in a row, fails those people and stops
// nothing.
func TestScatteredUnclearFailuresDoNotStopTheWorker(t *testing.T) {
	f := newFixture(t)
	const n = 300
	f.enqueue(13, n, queue.Control{})
	odd := map[uint64]bool{3: true, 50: true, 51: true, 52: true, 53: true, 200: true}
	ch := &failing{err: &DeliveryError{Scope: ScopeUnclear, Reason: "(#100) Invalid parameter"},
		fail: func(d Delivery) bool { return odd[d.Job.ContactID] }}
	w, _ := f.startWorker("w", ch, Config{Concurrency: 1})
	testkit.Eventually(t, 30*time.Second, "every outcome", func() bool {
		got := f.events(13)
		return got[queue.EventDelivered]+got[queue.EventFailed] == n
	})
	if got := f.events(13); got[queue.EventFailed] != len(odd) {
		t.Fatalf("events %v, want %d failed", got, len(odd))
	}
	if _, parked := w.cannot.Load(uint64(13)); parked {
		t.Fatal("the worker stopped reading the campaign")
	}
}
