package worker

import (
	"math/rand/v2"
	"time"

	"tui/queue"
)

// deliverChunks is one deliverer: it takes chunks of jobs and hands their
// outcomes to the committer in chunks too, at least every 2 ms, so that a
// fast channel costs few hand-offs while a slow or rate-limited one records
// each outcome at once (an unrecorded delivery is one a crash repeats).
func (w *Worker) deliverChunks() {
	for chunk := range w.todo {
		var outs []outcome
		var first time.Time
		for _, t := range chunk {
			w.handle(t, &outs)
			if len(outs) == 1 && first.IsZero() {
				first = time.Now()
			}
			if len(outs) > 0 && time.Since(first) > 2*time.Millisecond {
				w.outcomes <- outs
				outs, first = nil, time.Time{}
			}
		}
		if len(outs) > 0 {
			w.outcomes <- outs
		}
	}
}

// handle takes one job from fetch to an outcome for the committer.
func (w *Worker) handle(t *task, outs *[]outcome) {
	f := &t.f
	if f.Err != nil {
		w.finish(outs, t, queue.EventFailed, "failed", "the job is malformed: "+f.Err.Error(), time.Time{})
		return
	}
	if t.duplicate != "" {
		// Delivered (or failed) before a crash kept it from being acked.
		*outs = append(*outs, outcome{t: t, ack: true, out: queue.Outcome{EntryID: f.EntryID, Job: f.Job}})
		return
	}
	ctl, ok := w.waitWhilePaused(t)
	switch {
	case w.stopping.Load():
		w.forget(t, false) // given back by releaseUnstarted
		return
	case !ok || ctl.State == queue.StateCancelled:
		w.finish(outs, t, queue.EventSkipped, "skipped", "the send was cancelled", time.Time{})
		return
	case !w.owns(t):
		w.log.Info("job reclaimed by another worker; not delivering it", "campaign", f.CampaignID, "key", f.Job.Key())
		w.forget(t, true)
		return
	}
	ch, err := w.cfg.Channels.Get(f.Job.Channel)
	if err != nil {
		w.finish(outs, t, queue.EventFailed, "failed", Classify(err).Reason, time.Time{})
		return
	}
	if err := w.limiter.take(w.hardStop, f.CampaignID, ctl.Rate, &w.stopping); err != nil {
		w.forget(t, false)
		return
	}
	if !w.owns(t) { // the wait for a token may have outlived the lease
		w.forget(t, true)
		return
	}
	if !t.start() {
		return // released at shutdown
	}
	w.inFlight.Add(1)
	// Channels bound their own network waits (SMTP and HTTP timeouts); a
	// timer per delivery would cost more than a file delivery itself.
	began := time.Now()
	err = ch.Deliver(w.hardStop, Delivery{Job: f.Job, Attempt: f.Job.Attempt, Worker: w.cfg.ID})
	w.noteDeliveryTime(time.Since(began))
	w.inFlight.Add(-1)
	if err == nil {
		w.finish(outs, t, queue.EventDelivered, "sent", "", time.Time{})
		return
	}
	de := Classify(err)
	if de.Throttled {
		w.limiter.throttled(f.CampaignID, de.RetryAfter)
	}
	if !de.Transient || f.Job.Attempt >= ctl.MaxAttempts {
		w.finish(outs, t, queue.EventFailed, "failed", de.Reason, time.Time{})
		return
	}
	w.finish(outs, t, queue.EventRetry, "", de.Reason, time.Now().Add(retryDelay(f.Job.Attempt, de.RetryAfter)))
}

// waitWhilePaused holds a job while its campaign is paused; it returns the
// campaign's settings once it is not, or false if the campaign is gone.
func (w *Worker) waitWhilePaused(t *task) (queue.Control, bool) {
	for {
		ctl, ok := w.control(t.f.CampaignID)
		if !ok || ctl.State != queue.StatePaused || w.stopping.Load() {
			if !ok && w.health.isDown() {
				// Redis trouble emptied nothing: keep the last known settings.
				return queue.Control{State: queue.StateSending, MaxAttempts: queue.DefaultMaxAttempts}, true
			}
			return ctl, ok
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// owns reports whether the job's lease is still ours: renewed recently
// enough that no other worker can have reclaimed it.
func (w *Worker) owns(t *task) bool {
	if t.lost.Load() {
		return false
	}
	age := time.Since(time.Unix(0, t.renewedAt.Load()))
	return age < w.cfg.Lease-w.cfg.Lease/10
}

// finish sends a job's outcome to the committer.
func (w *Worker) finish(outs *[]outcome, t *task, typ queue.EventType, final, reason string, retryAt time.Time) {
	j := t.f.Job
	ev := queue.Event{Contact: j.ContactID, Round: j.Round, Type: typ, Attempt: j.Attempt, Reason: reason, At: time.Now().UTC()}
	out := queue.Outcome{EntryID: t.f.EntryID, Job: j, Event: ev, Final: final, RetryAt: retryAt}
	if typ == queue.EventRetry {
		out.Job.Attempt = j.Attempt + 1
	}
	*outs = append(*outs, outcome{t: t, out: out, ack: true})
}

// forget drops a job without an outcome: it stays pending in Redis for its
// owner, or for whoever reclaims it.
func (w *Worker) forget(t *task, lost bool) {
	if lost {
		t.lost.Store(true)
	}
	if w.stopping.Load() && !lost {
		return // kept in w.tasks for releaseUnstarted
	}
	w.mu.Lock()
	delete(w.tasks, t.key())
	w.mu.Unlock()
	w.releaseSlots(1)
}

// retryDelay is exponential backoff with jitter, or the provider's wish.
func retryDelay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	d := time.Second << min(attempt-1, 8) // 1 s, 2 s, 4 s … about 4 min
	jitter := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	return d + jitter
}

// noteDeliveryTime keeps a moving average of how long deliveries take.
func (w *Worker) noteDeliveryTime(d time.Duration) {
	avg := w.avgDelivery.Load()
	if avg == 0 {
		w.avgDelivery.Store(int64(d))
		return
	}
	w.avgDelivery.Store(avg - avg/16 + int64(d)/16)
}

// prefetchTarget is how many jobs the worker holds at once: enough to keep
// every deliverer busy for about a quarter second, and no more, so that a
// slow channel (SMTP) leaves jobs to the other workers while a fast one
// (file) reads in big batches.
func (w *Worker) prefetchTarget() int {
	lo, hi := 2*w.cfg.Concurrency, cap(w.slots)
	avg := time.Duration(w.avgDelivery.Load())
	if avg <= 0 {
		return lo
	}
	n := int(int64(w.cfg.Concurrency) * int64(250*time.Millisecond) / int64(avg))
	// A rate-limited send delivers no faster than its rate, however quick
	// the channel: hold a quarter second of it.
	for _, c := range *w.controls.Load() {
		if c.State == queue.StateSending && c.Rate > 0 {
			n = min(n, c.Rate/4)
		}
	}
	return min(max(n, lo), hi)
}
