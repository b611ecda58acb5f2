package worker

import (
	"context"
	"time"

	"tui/queue"
)

// reclaim takes over jobs that other workers fetched and abandoned (they
// died, or stopped answering for longer than the lease). It runs every
// half lease, on its own.
func (w *Worker) reclaim() {
	if w.stopping.Load() {
		return
	}
	for _, id := range w.sendingCampaigns() {
		// As many as this worker would hold anyway: a dead worker's whole
		// prefetch comes back in one go, not a few jobs per lease.
		var fetched []queue.Fetched
		err := call(5*time.Second, func(ctx context.Context) (err error) {
			fetched, err = queue.Reclaim(ctx, w.rdb, w.cfg.ID, id, w.cfg.Lease, max(w.cfg.Concurrency, w.prefetchTarget()))
			return err
		})
		if queue.IsNoGroup(err) {
			w.ensureGroups([]uint64{id})
			continue
		}
		if err != nil {
			w.fail(err)
			return
		}
		// A worker that was stopped (SIGSTOP, a frozen VM) for longer than
		// the lease finds its own jobs idle on waking, and takes them again:
		// they are the tasks it already holds, renewed by the claim, and
		// must not be delivered a second time.
		fetched = w.held.notHeld(id, fetched)
		if len(fetched) == 0 {
			continue
		}
		w.metrics.reclaimed.Add(int64(len(fetched)))
		w.log.Info("reclaimed jobs of a worker that stopped answering", "campaign", id, "jobs", len(fetched))
		events := make([]queue.Outcome, 0, len(fetched))
		for _, f := range fetched {
			events = append(events, queue.Outcome{Job: f.Job, Event: queue.Event{Contact: f.Job.ContactID, Round: f.Job.Round,
				Type: queue.EventReclaimed, Attempt: f.Job.Attempt, At: time.Now().UTC()}})
		}
		_ = call(5*time.Second, func(ctx context.Context) error {
			return queue.Commit(ctx, w.rdb, w.cfg.ID, id, events, w.bitmapMarks(id))
		})
		w.handOff(id, fetched)
	}
}

// handOff passes reclaimed jobs to the deliverers as slots free up, on a
// goroutine of its own: waiting for room must not hold up the reclaimer.
// Registered at once, the jobs' leases are renewed while they wait; at
// shutdown, those still waiting are given back.
func (w *Worker) handOff(id uint64, fetched []queue.Fetched) {
	if !w.held.beginHandoff() {
		ids := make([]string, len(fetched))
		for i, f := range fetched {
			ids[i] = f.EntryID
		}
		_ = call(5*time.Second, func(ctx context.Context) error {
			_, err := queue.Release(ctx, w.rdb, w.cfg.ID, id, ids)
			return err
		})
		return
	}
	tasks := w.register(fetched, true)
	go func() {
		defer w.held.endHandoff()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for got := 0; got < len(tasks); {
			if w.held.takeBefore(tick.C) {
				got++
			} else if w.stopping.Load() {
				w.held.free(got)
				return
			}
		}
		w.dispatch(tasks)
	}()
}
