package worker

import (
	"context"
	"os"
	"time"

	"tui/queue"
)

// housekeeping runs the periodic duties: live settings, due retries, lease
// renewal, reclaiming dead workers' jobs, and the heartbeat.
func (w *Worker) housekeeping(stop <-chan struct{}) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var lastRenew, lastReclaim, lastBeat time.Time
	host, _ := os.Hostname()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		w.refreshControls(context.Background())
		w.promoteDue(now)
		w.trimAcked()
		w.flushGiveBack()
		if now.Sub(lastRenew) >= w.cfg.Lease/3 {
			w.renewLeases()
			lastRenew = now
		}
		if now.Sub(lastReclaim) >= w.cfg.Lease/2 && !w.stopping.Load() {
			w.reclaim()
			lastReclaim = now
		}
		if now.Sub(lastBeat) >= time.Second {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = queue.Heartbeat(ctx, w.rdb, queue.WorkerInfo{ID: w.cfg.ID, Host: host, PID: os.Getpid(),
				Concurrency: w.cfg.Concurrency, Started: w.started, LastSeen: now, Processed: w.processed.Load(),
				Failed: w.failed.Load(), InFlight: w.inFlight.Load(), Stopping: w.stopping.Load(), Cannot: w.cannotReasons(),
				RedisErr: w.health.lastRefusal()})
			cancel()
			lastBeat = now
		}
	}
}

func (w *Worker) promoteDue(now time.Time) {
	for _, id := range w.sendingCampaigns() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := queue.PromoteDue(ctx, w.rdb, id, now, 500)
		cancel()
		if err != nil {
			w.fail(err)
			return
		}
	}
}

// trimAcked lets the job streams shrink as jobs are acknowledged (commits
// only acknowledge; see queue.TrimAcked).
func (w *Worker) trimAcked() {
	for id := range *w.controls.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := queue.TrimAcked(ctx, w.rdb, id)
		cancel()
		if err != nil {
			w.fail(err)
			return
		}
	}
}

// renewLeases keeps every job this worker holds from being reclaimed, and
// learns which ones were reclaimed anyway (the worker was stopped or cut
// off for longer than the lease): those are not delivered.
func (w *Worker) renewLeases() {
	w.mu.Lock()
	byCampaign := map[uint64][]*task{}
	for _, t := range w.tasks {
		if t.f.EntryID != "" {
			byCampaign[t.f.CampaignID] = append(byCampaign[t.f.CampaignID], t)
		}
	}
	w.mu.Unlock()
	for id, tasks := range byCampaign {
		ids := make([]string, len(tasks))
		for i, t := range tasks {
			ids[i] = t.f.EntryID
		}
		now := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		owned, err := queue.Renew(ctx, w.rdb, w.cfg.ID, id, ids)
		cancel()
		if err != nil {
			w.fail(err)
			continue
		}
		mine := make(map[string]bool, len(owned))
		for _, o := range owned {
			mine[o] = true
		}
		lost := 0
		for _, t := range tasks {
			if mine[t.f.EntryID] {
				t.renewedAt.Store(now.UnixNano())
			} else if !t.lost.Load() {
				t.lost.Store(true)
				lost++
			}
		}
		if lost > 0 {
			w.log.Warn("jobs were reclaimed by other workers while this one held them", "campaign", id, "jobs", lost)
		}
	}
}

// reclaim takes over jobs that other workers fetched and abandoned.
func (w *Worker) reclaim() {
	for _, id := range w.sendingCampaigns() {
		// The fetch loop holds free slots while it waits on Redis; reclaimed
		// jobs take theirs afterwards (owned already, they wait at most that).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		// As many as this worker would hold anyway: a dead worker's whole
		// prefetch comes back in one go, not a few jobs per lease.
		fetched, err := queue.Reclaim(ctx, w.rdb, w.cfg.ID, id, w.cfg.Lease, max(w.cfg.Concurrency, w.prefetchTarget()))
		cancel()
		if queue.IsNoGroup(err) {
			w.ensureGroups([]uint64{id})
			continue
		}
		if err != nil {
			w.fail(err)
			return
		}
		if len(fetched) == 0 {
			continue
		}
		w.log.Info("reclaimed jobs of a worker that stopped answering", "campaign", id, "jobs", len(fetched))
		events := make([]queue.Outcome, 0, len(fetched))
		for _, f := range fetched {
			events = append(events, queue.Outcome{Job: f.Job, Event: queue.Event{Contact: f.Job.ContactID, Round: f.Job.Round,
				Type: queue.EventReclaimed, Attempt: f.Job.Attempt, At: time.Now().UTC()}})
		}
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		_ = queue.Commit(ctx, w.rdb, w.cfg.ID, id, events)
		cancel()
		// Handing the jobs over may wait for room; housekeeping must not, or
		// this worker's own leases would lapse meanwhile.
		w.handoffMu.Lock()
		if w.handoffClosed {
			w.handoffMu.Unlock()
			ids := make([]string, len(fetched))
			for i, f := range fetched {
				ids[i] = f.EntryID
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = queue.Release(ctx, w.rdb, w.cfg.ID, id, ids)
			cancel()
			return
		}
		w.handoff.Add(1)
		w.handoffMu.Unlock()
		// Registered now, the jobs' leases are renewed while they wait for
		// room; at shutdown, releaseUnstarted gives back those still waiting.
		tasks := w.register(fetched, true)
		go func() {
			defer w.handoff.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for got := 0; got < len(tasks); {
				select {
				case w.slots <- struct{}{}:
					got++
				case <-tick.C:
					if w.stopping.Load() {
						w.releaseSlots(got)
						return
					}
				}
			}
			w.dispatch(tasks)
		}()
	}
}

// cannotReasons lists the campaigns this worker leaves to others, for its
// heartbeat.
func (w *Worker) cannotReasons() map[uint64]string {
	var m map[uint64]string
	w.cannot.Range(func(k, v any) bool {
		if m == nil {
			m = map[uint64]string{}
		}
		m[k.(uint64)] = v.(string)
		return true
	})
	return m
}
