package worker

import (
	"context"
	"sort"
	"strings"
	"time"

	"tui/queue"
)

// fetchLoop reads new jobs of every sending campaign while there is room,
// until the worker stops. It reads with a background context and a short
// block, so that a stop never abandons jobs Redis already handed over.
func (w *Worker) fetchLoop(ctx context.Context) {
	for !w.stopping.Load() {
		ids := w.sendingCampaigns()
		if len(ids) == 0 {
			if !w.awaitSends(ctx) {
				return
			}
			continue
		}
		target := w.prefetchTarget()
		want := target - w.held.held()
		if want < min(w.cfg.BatchSize, max(target/2, 1)) {
			// Wait for a commit to free a good share of the slots: reads of
			// a few jobs each would cost a round trip apiece.
			select {
			case <-w.held.released:
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		n := w.held.acquire(ctx, min(w.cfg.BatchSize, want))
		if n == 0 {
			return
		}
		// COUNT applies to each stream: share the slots among the sending
		// campaigns, so that one read holds no more jobs than slots taken.
		var fetched []queue.Fetched
		err := call(5*time.Second, func(ctx context.Context) (err error) {
			fetched, err = queue.ReadJobs(ctx, w.rdb, w.cfg.ID, ids, max(1, n/len(ids)), 500*time.Millisecond)
			return err
		})
		switch got := len(fetched); {
		case got < n:
			w.held.free(n - got)
		case got > n:
			// More campaigns than slots taken (one job each): the rest of
			// the slots, as commits free them.
			for range got - n {
				w.held.take(context.Background())
			}
		}
		if len(fetched) > 0 && err != nil {
			// Read, but not confirmed by a replica (or one campaign's read
			// failed beside another's): a failover could hand these jobs
			// to another worker as new, so they are not delivered; back
			// they go.
			w.giveBackFetched(fetched)
			fetched = nil
		}
		if queue.IsNoGroup(err) {
			w.ensureGroups(ids)
			continue
		}
		if isUnblocked(err) {
			// A stream was deleted under the read (a send completed or was
			// cancelled): not trouble, just news.
			w.refreshControls()
			continue
		}
		if err != nil {
			attempt := w.fail(err)
			if !queue.Sleep(ctx, queue.Backoff(attempt)) {
				return
			}
			continue
		}
		w.health.ok(w.log)
		w.enqueueLocal(fetched, false)
	}
}

// awaitSends waits, while no send is under way, for the owner's wake (a
// send started or resumed), then reads the live settings at once. It waits
// a quarter second at most, so that a stop is not kept waiting; the
// periodic read of the settings finds the sends a missed wake announced.
// False when the worker stops meanwhile.
func (w *Worker) awaitSends(ctx context.Context) bool {
	wait := min(w.cfg.SettingsEvery, 250*time.Millisecond)
	var woke bool
	err := call(wait+2*time.Second, func(ctx context.Context) (err error) {
		if w.wakeID == "" {
			if w.wakeID, err = queue.LastWake(ctx, w.rdb); err != nil {
				return err
			}
		}
		w.wakeID, woke, err = queue.AwaitWake(ctx, w.rdb, w.wakeID, wait)
		return err
	})
	switch {
	case err != nil:
		// Redis trouble: the read of the live settings notes it; wait as
		// long as that read does.
		return queue.Sleep(ctx, wait)
	case woke:
		w.refreshControls()
	}
	return ctx.Err() == nil
}

// giveBackFetched returns jobs read but not to be delivered to their
// streams, and frees their slots.
func (w *Worker) giveBackFetched(fetched []queue.Fetched) {
	byCampaign := map[uint64][]string{}
	for _, f := range fetched {
		byCampaign[f.CampaignID] = append(byCampaign[f.CampaignID], f.EntryID)
	}
	w.release(byCampaign)
	w.held.free(len(fetched))
}

// enqueueLocal registers fetched jobs and hands them to the deliverers.
// Their slots are already held.
func (w *Worker) enqueueLocal(fetched []queue.Fetched, reclaimed bool) {
	w.dispatch(w.register(fetched, reclaimed))
}

// register makes tasks of fetched jobs, checks their idempotency marks in
// one round trip per campaign, and records them, so that their leases are
// renewed from now on.
func (w *Worker) register(fetched []queue.Fetched, reclaimed bool) []*task {
	if len(fetched) == 0 {
		return nil
	}
	now := time.Now()
	byCampaign := map[uint64][]*task{}
	tasks := make([]*task, 0, len(fetched))
	for _, f := range fetched {
		t := &task{f: f, fetchedAt: now, reclaimed: reclaimed}
		t.renewedAt.Store(now.UnixNano())
		tasks = append(tasks, t)
		// A first attempt read fresh from the stream cannot have been
		// delivered: enqueueing refuses duplicates and an outcome is
		// acknowledged in the transaction that marks it. Only reclaimed jobs
		// and retries need the marks.
		if f.Err == nil && (reclaimed || f.Job.Attempt > 1 || f.Job.Redelivery) {
			byCampaign[f.CampaignID] = append(byCampaign[f.CampaignID], t)
		}
	}
	if len(byCampaign) > 0 && w.epochsBehind(fetched) {
		// Jobs the owner queued again after a loss: this worker records
		// again what it delivered before the loss, so that the marks below
		// see it.
		w.refreshControls()
	}
	for id, ts := range byCampaign {
		contacts := make([]uint64, len(ts))
		for i, t := range ts {
			contacts[i] = t.f.Job.ContactID
		}
		var marks map[uint64]string
		err := call(5*time.Second, func(ctx context.Context) (err error) {
			marks, err = queue.DoneMarks(ctx, w.rdb, id, contacts)
			return err
		})
		if err != nil {
			continue // the marks are checked again at commit time by the next reader
		}
		for _, t := range ts {
			t.duplicate = marks[t.f.Job.ContactID]
		}
	}
	w.held.add(tasks)
	return tasks
}

// epochsBehind reports whether a fetched job carries a queue epoch newer
// than the live settings this worker holds.
func (w *Worker) epochsBehind(fetched []queue.Fetched) bool {
	for i := range fetched {
		f := &fetched[i]
		if ctl, ok := w.control(f.CampaignID); f.Job.Redelivery && (!ok || queue.EpochAfter(f.Job.Epoch, ctl.Epoch)) {
			return true
		}
	}
	return false
}

// dispatch hands registered tasks to the deliverers in chunks.
func (w *Worker) dispatch(tasks []*task) {
	if len(tasks) == 0 {
		return
	}
	size := w.chunkSize(tasks)
	for len(tasks) > 0 {
		n := min(size, len(tasks))
		w.todo <- tasks[:n:n]
		tasks = tasks[n:]
	}
}

func (w *Worker) sendingCampaigns() []uint64 {
	var ids []uint64
	for id, c := range *w.controls.Load() {
		if _, cannot := w.cannot.Load(id); c.State == queue.StateSending && !cannot {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (w *Worker) ensureGroups(ids []uint64) {
	over := false
	for _, id := range ids {
		var live bool
		err := call(5*time.Second, func(ctx context.Context) (err error) {
			live, err = queue.EnsureGroup(ctx, w.rdb, id)
			return err
		})
		if err != nil {
			w.fail(err)
			return
		}
		over = over || !live
	}
	if over {
		// A send ended under the read: its settings say so now.
		w.refreshControls()
	}
}

func isUnblocked(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNBLOCKED")
}
