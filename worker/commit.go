package worker

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"tui/queue"
)

// commitLoop batches outcomes — up to 500, or whatever arrived within a few
// milliseconds — and commits each campaign's share in one transaction. It
// returns once the outcomes channel is closed and everything is written (or
// Redis stayed away past the shutdown grace).
func (w *Worker) commitLoop() {
	const maxBatch = 500
	pending := make([]outcome, 0, maxBatch)
	var buf []queue.Outcome
	flush := func() {
		if len(pending) == 0 {
			return
		}
		buf = w.commit(pending, buf)
		clear(pending)
		pending = pending[:0]
	}
	for {
		o, ok := <-w.outcomes
		if !ok {
			flush()
			return
		}
		pending = append(pending, o.outs...)
		putOutBuf(o)
		// Take whatever else is ready, without waiting for more: while one
		// commit is on the wire the next batch gathers by itself.
	collect:
		for len(pending) < maxBatch {
			select {
			case o, ok := <-w.outcomes:
				if !ok {
					flush()
					return
				}
				pending = append(pending, o.outs...)
				putOutBuf(o)
			default:
				break collect
			}
		}
		flush()
	}
}

// commit records a batch of outcomes; buf is the caller's to reuse.
func (w *Worker) commit(batch []outcome, buf []queue.Outcome) []queue.Outcome {
	// A batch nearly always holds one campaign: group with a scan, into a
	// buffer the committer keeps, rather than with a map of fresh slices.
	var ids []uint64
	for i := range batch {
		if id := batch[i].t.f.CampaignID; !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		outs := buf[:0]
		for i := range batch {
			if batch[i].t.f.CampaignID == id {
				outs = append(outs, batch[i].out)
			}
		}
		buf = outs
		var giveUp time.Time
		for attempt := 1; ; attempt++ {
			err := call(5*time.Second, func(ctx context.Context) error {
				return queue.Commit(ctx, w.rdb, w.cfg.ID, id, outs, w.bitmapMarks(id))
			})
			if err == nil {
				w.health.ok(w.log)
				w.gate.commits(false)
				break
			}
			w.gate.commits(true)
			w.fail(err)
			if w.stopping.Load() {
				if giveUp.IsZero() {
					giveUp = time.Now().Add(w.cfg.ShutdownGrace)
				}
				if time.Now().After(giveUp) {
					w.log.Error("could not record outcomes before exit; those jobs will be delivered again",
						"campaign", id, "jobs", len(outs))
					break
				}
			}
			time.Sleep(queue.Backoff(attempt))
		}
	}
	w.recent.add(batch, time.Now())
	clear(buf[:cap(buf)]) // hold on to no message
	for _, o := range batch {
		switch o.out.Event.Type {
		case queue.EventDelivered:
			w.delivered.Add(1)
			w.processed.Add(1)
		case queue.EventFailed:
			w.failed.Add(1)
			w.processed.Add(1)
		case queue.EventSkipped:
			w.processed.Add(1)
		case queue.EventRetry:
			w.retried.Add(1)
		}
	}
	w.metrics.countOutcomes(batch)
	w.held.committed(batch)
	return buf
}

// releaseUnstarted gives back, at shutdown, every job that was fetched but
// never started, so other workers take it at once instead of after a lease.
func (w *Worker) releaseUnstarted() {
	if total := w.release(w.held.takeUnstarted()); total > 0 {
		w.log.Info("gave back jobs that never started", "jobs", total)
	}
}

// release returns jobs this worker fetched but never started to their
// streams, and says how many went back; those it could not give back are
// reclaimed by other workers after the lease.
func (w *Worker) release(byCampaign map[uint64][]string) int {
	total := 0
	for id, ids := range byCampaign {
		var n int
		err := call(5*time.Second, func(ctx context.Context) (err error) {
			n, err = queue.Release(ctx, w.rdb, w.cfg.ID, id, ids)
			return err
		})
		switch {
		case queue.IsNoGroup(err):
			// The stream went with the send (it ended, or Redis lost it and
			// the owner queues it again): nothing to give back to.
			w.log.Info("the send's queue is gone; the jobs this worker held are not delivered",
				"campaign", id, "jobs", len(ids))
			continue
		case err != nil:
			w.log.Warn("could not give jobs back; other workers reclaim them after the lease",
				"campaign", id, "jobs", len(ids), "err", err.Error())
			continue
		}
		total += n
	}
	return total
}

// deliveryGate holds deliveries back while what they do could not be
// recorded or might be stale: outcomes cannot be committed (Redis away, or
// no replica confirming them), or Redis had trouble and the live settings
// have not been read since (a Redis back from a restart may have lost the
// send: the jobs held from before must not go out again before the worker
// knows).
type deliveryGate struct {
	mu             sync.Mutex
	commitsFailing bool
	controlsStale  bool
	open           chan struct{} // closed when both clear
}

func (g *deliveryGate) closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.commitsFailing || g.controlsStale
}

func (g *deliveryGate) update(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	was := g.commitsFailing || g.controlsStale
	f()
	now := g.commitsFailing || g.controlsStale
	switch {
	case now && !was:
		g.open = make(chan struct{})
	case !now && was:
		close(g.open)
	}
}

func (g *deliveryGate) commits(failing bool) { g.update(func() { g.commitsFailing = failing }) }
func (g *deliveryGate) controls(stale bool)  { g.update(func() { g.controlsStale = stale }) }

// wait waits until deliveries may go on; false if the worker is stopping
// meanwhile.
func (g *deliveryGate) wait(ctx context.Context, stopping *atomic.Bool) bool {
	g.mu.Lock()
	open, closed := g.open, g.commitsFailing || g.controlsStale
	g.mu.Unlock()
	if !closed {
		return true
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-open:
			return true
		case <-ctx.Done():
			return false
		case <-tick.C:
			if stopping.Load() {
				return false
			}
		}
	}
}
