package worker

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"tui/queue"
)

// deliverChunks is one deliverer: it takes chunks of jobs and hands their
// outcomes to the committer in chunks too, at least every 2 ms, so that a
// fast channel costs few hand-offs while a slow or rate-limited one records
// each outcome at once (an unrecorded delivery is one a crash repeats).
func (w *Worker) deliverChunks() {
	var st staging
	for chunk := range w.todo {
		// A channel slower than this, or not timed yet, hands over every
		// outcome as it comes: the next delivery may take seconds.
		slowest, known := w.slowestChannel(chunk)
		eager := !known || slowest > int64(200*time.Microsecond)
		buf := getOutBuf()
		// One clock reading per delivery serves the lease check, the
		// delivery time, the event and the flush: at file-channel speed
		// reading the clock cost more than the rest of the bookkeeping.
		now := time.Now()
		var flushAt time.Time
		for _, t := range chunk {
			before, start := len(buf.outs), now
			now = w.handle(t, &buf.outs, &st, now)
			if len(buf.outs) == before {
				continue
			}
			if flushAt.IsZero() {
				flushAt = start.Add(2 * time.Millisecond)
			}
			// A delivery that took longer than that goes at once, and so
			// does one of a rate-limited campaign: the next job may wait
			// for a token, and an unrecorded delivery is one a crash repeats.
			if eager || now.After(flushAt) || w.rateLimited(t.f.CampaignID, now) {
				w.writeStaged(&st, &buf.outs)
				if !w.handOver(buf) {
					// The committer was busy (Redis away?): the clock moved,
					// and the next lease check must see it.
					now = time.Now()
				}
				buf, flushAt = getOutBuf(), time.Time{}
			}
		}
		w.writeStaged(&st, &buf.outs)
		if len(buf.outs) > 0 {
			w.outcomes <- buf
		} else {
			putOutBuf(buf)
		}
	}
}

// handOver passes outcomes to the committer and reports whether that was
// immediate; a hand-over that had to wait may have waited long.
func (w *Worker) handOver(buf *outBuf) bool {
	select {
	case w.outcomes <- buf:
		return true
	default:
	}
	w.outcomes <- buf
	return false
}

// rateLimited reports whether the next job of the campaign may wait long
// for a token: a rate below a thousand a second (above it, a wait lasts a
// few milliseconds, as the 2 ms flush already allows, and an outcome per
// hand-over would cost more than the delivery), or a provider asked some
// campaign to wait beyond now.
func (w *Worker) rateLimited(campaignID uint64, now time.Time) bool {
	ctl, _ := w.control(campaignID)
	return (ctl.Rate > 0 && ctl.Rate < 1000) || w.limiter.holdsUntil.Load() > now.UnixNano()
}

// handle takes one job from fetch to an outcome for the committer. now is
// the time when it starts; it returns the time when it is done.
func (w *Worker) handle(t *task, outs *[]outcome, st *staging, now time.Time) time.Time {
	f := &t.f
	if f.Err != nil {
		w.finish(outs, t, queue.EventFailed, "failed", "the job is malformed: "+f.Err.Error(), time.Time{}, now)
		return now
	}
	if t.duplicate != "" {
		// Delivered (or failed) before a crash kept it from being acked.
		*outs = append(*outs, outcome{t: t, ack: true, out: queue.Outcome{EntryID: f.EntryID, Job: f.Job}})
		return now
	}
	// While outcomes cannot be recorded (Redis away, or no replica
	// confirming them), or after Redis trouble until the live settings are
	// read again, deliver nothing: an unrecorded delivery is one that a
	// crash or a failover repeats, and a Redis back from a restart may
	// have lost the send.
	if w.gate.closed() {
		if !w.gate.wait(w.hardStop, &w.stopping) {
			w.forget(t, false)
			return time.Now()
		}
		now = time.Now()
	}
	ctl, done := w.settle(t, outs, now)
	if done {
		return now
	}
	if w.parked(f.CampaignID) {
		w.giveBackTask(t) // fetched before a failure stopped this worker reading it
		return now
	}
	ch, err := w.cfg.Channels.Get(f.Job.Channel)
	if err != nil {
		if de := Classify(err); de.Transient {
			w.forget(t, false) // the channels are closed: shutting down
		} else {
			w.cannotDeliver(t, de.Reason)
		}
		return now
	}
	waited, err := w.limiter.take(w.hardStop, f.CampaignID, ctl.Rate, &w.stopping, now)
	if err != nil {
		w.forget(t, false)
		return time.Now()
	}
	if waited {
		w.metrics.noteRateWait(now)
		now = time.Now()
		// The wait for a token may have outlived a pause, a cancel or the
		// lease: at 4 a second, eight deliverers each waited up to two
		// seconds with a job in hand, and delivered it after a pause.
		if ctl, done = w.settle(t, outs, now); done {
			return now
		}
	}
	if !t.start() {
		return now // released at shutdown
	}
	if fc, ok := ch.(*FileChannel); ok && st != nil {
		// The line is written with the chunk's others, before any of
		// their outcomes is handed over (writeStaged).
		w.stage(st, fc, t, outs, ctl.MaxAttempts, now)
		return now
	}
	w.inFlight.Add(1)
	// Channels bound their own network waits (SMTP and HTTP timeouts); a
	// timer per delivery would cost more than a file delivery itself.
	err = ch.Deliver(w.hardStop, Delivery{Job: f.Job, Attempt: f.Job.Attempt, Worker: w.cfg.ID})
	end := time.Now()
	w.noteDeliveryTime(f.Job.Channel, end.Sub(now))
	w.metrics.observeDelivery(f.Job.Channel, end.Sub(now))
	w.inFlight.Add(-1)
	if err == nil {
		w.unclear.end(f.CampaignID)
		w.finish(outs, t, queue.EventDelivered, "sent", "", time.Time{}, end)
		return end
	}
	de := Classify(err)
	if de.Throttled {
		w.limiter.throttled(f.CampaignID, de.RetryAfter, de.Reason)
	}
	if w.parks(t, de) {
		return end
	}
	w.finishFailed(outs, t, de, ctl.MaxAttempts, end)
	return end
}

// settle reads the campaign's live settings for a job about to be
// delivered and disposes of the job when it is not to be delivered now:
// the worker is stopping, the send is paused, cancelled or gone, the job
// was queued again under a new epoch, or another worker took it over.
// done says it did.
func (w *Worker) settle(t *task, outs *[]outcome, now time.Time) (ctl queue.Control, done bool) {
	f := &t.f
	ctl, ok := w.control(f.CampaignID)
	if !ok && w.health.isDown() {
		// Redis trouble emptied nothing: keep the last known settings.
		ctl, ok = queue.Control{State: queue.StateSending, MaxAttempts: queue.DefaultMaxAttempts}, true
	}
	switch {
	case w.stopping.Load():
		w.forget(t, false) // given back by releaseUnstarted
		return ctl, true
	case ok && ctl.State == queue.StatePaused:
		// Held here, the jobs of a paused send would keep the deliverers
		// from every other campaign: they go back to the stream, to be
		// read again on resume.
		w.giveBackTask(t)
		return ctl, true
	case !ok:
		// No live settings: the send ended (its jobs are gone with it), or
		// Redis lost them (restarted empty, flushed). Never a cancel: the
		// job goes back, and the owner queues again from the ledger
		// whatever Redis forgot.
		w.giveBackTask(t)
		return ctl, true
	case ctl.State == queue.StateCancelled:
		w.finish(outs, t, queue.EventSkipped, "skipped", "the send was cancelled", time.Time{}, now)
		return ctl, true
	case staleEpoch(&f.Job, ctl) && !w.settingsBehind(f, &ctl):
		// Queued before Redis lost the send; the owner has queued it
		// again, and that job is the one to deliver.
		w.forget(t, true)
		return ctl, true
	case !w.owns(t, now):
		w.log.Info("job reclaimed by another worker; not delivering it", "campaign", f.CampaignID, "key", f.Job.Key())
		w.forget(t, true)
		return ctl, true
	}
	return ctl, false
}

// finishFailed records a delivery that failed: for good, or to be tried again
// later while attempts remain and the error is transient.
func (w *Worker) finishFailed(outs *[]outcome, t *task, de *DeliveryError, maxAttempts int, now time.Time) {
	if attempt := t.f.Job.Attempt; de.Transient && attempt < maxAttempts {
		w.finish(outs, t, queue.EventRetry, "", de.Reason, now.Add(retryDelay(attempt, de.RetryAfter)), now)
		return
	}
	w.finish(outs, t, queue.EventFailed, "failed", de.Reason, time.Time{}, now)
	// A refused address travels with its failure, to be suppressed by the
	// owner in the same fold that records it.
	(*outs)[len(*outs)-1].out.Event.Bounce = de.Bounce && !de.Transient
}

// staging gathers a deliverer's file deliveries, to be written with one
// write(2) before their outcomes are handed over: at file speed a write per
// line was nearly a quarter of a worker's CPU. A line not yet written is a
// delivery not yet made, so a crash before the write loses nothing: the jobs
// are delivered again, once.
type staging struct {
	ch    *FileChannel
	name  string // the channel's name, as the jobs give it
	lines []byte
	items []stagedLine
	drop  []int
}

type stagedLine struct {
	out         int // its outcome's index in the hand-over buffer
	end         int // where its line ends in lines, once rendered
	maxAttempts int
}

// stage records a file delivery as made, to be written by writeStaged.
func (w *Worker) stage(st *staging, fc *FileChannel, t *task, outs *[]outcome, maxAttempts int, now time.Time) {
	if st.ch != nil && (st.ch != fc || st.name != t.f.Job.Channel) {
		w.writeStaged(st, outs)
	}
	st.ch, st.name = fc, t.f.Job.Channel
	w.unclear.end(t.f.CampaignID)
	w.finish(outs, t, queue.EventDelivered, "sent", "", time.Time{}, now)
	st.items = append(st.items, stagedLine{out: len(*outs) - 1, maxAttempts: maxAttempts})
}

// writeStaged writes the staged deliveries' lines. The leases are checked
// again first, on a fresh clock: a worker stopped (SIGSTOP, a frozen VM)
// between staging and writing may have lost its jobs to another, which
// delivers them; those are dropped here, their outcomes with them. Lines
// the write did not wholly reach are failures, retried as a failed
// Deliver's would be.
func (w *Worker) writeStaged(st *staging, outs *[]outcome) {
	if len(st.items) == 0 {
		return
	}
	start := time.Now()
	st.lines, st.drop = st.lines[:0], st.drop[:0]
	kept := st.items[:0]
	for _, it := range st.items {
		t := (*outs)[it.out].t
		if !w.owns(t, start) {
			w.log.Info("job reclaimed by another worker; not delivering it", "campaign", t.f.CampaignID, "key", t.f.Job.Key())
			w.forget(t, true)
			st.drop = append(st.drop, it.out)
			continue
		}
		st.lines = st.ch.appendLine(st.lines, Delivery{Job: t.f.Job, Attempt: t.f.Job.Attempt, Worker: w.cfg.ID})
		it.end = len(st.lines)
		kept = append(kept, it)
	}
	if len(kept) > 0 {
		n, err := st.ch.writeLines(w.hardStop, st.lines, start)
		end := time.Now()
		per := end.Sub(start) / time.Duration(len(kept))
		w.noteDeliveryTime(st.name, per)
		w.metrics.observeDeliveries(st.name, per, len(kept))
		if err != nil {
			de := Classify(err)
			var redo []outcome
			for _, it := range kept {
				if it.end <= n {
					continue
				}
				redo = redo[:0]
				w.finishFailed(&redo, (*outs)[it.out].t, de, it.maxAttempts, end)
				(*outs)[it.out] = redo[0]
			}
		}
	}
	if len(st.drop) > 0 {
		// The indices are ascending: staged in order.
		o, d := (*outs)[:0], 0
		for i, x := range *outs {
			if d < len(st.drop) && st.drop[d] == i {
				d++
				continue
			}
			o = append(o, x)
		}
		clear((*outs)[len(o):])
		*outs = o
	}
	st.ch, st.items, st.lines = nil, st.items[:0], st.lines[:0]
	if cap(st.lines) > maxPooledLine*4 {
		st.lines = nil
	}
}

// owns reports whether the job's lease is still ours at now: renewed
// recently enough that no other worker can have reclaimed it.
func (w *Worker) owns(t *task, now time.Time) bool {
	if t.lost.Load() {
		return false
	}
	age := now.UnixNano() - t.renewedAt.Load()
	return age < int64(w.cfg.Lease-w.cfg.Lease/10)
}

// finish sends a job's outcome to the committer.
func (w *Worker) finish(outs *[]outcome, t *task, typ queue.EventType, final, reason string, retryAt, now time.Time) {
	j := t.f.Job
	ev := queue.Event{Contact: j.ContactID, Round: j.Round, Type: typ, Attempt: j.Attempt, Reason: reason,
		TakenOver: j.TakenOver, At: now.UTC()}
	out := queue.Outcome{EntryID: t.f.EntryID, Job: j, Event: ev, Final: final, RetryAt: retryAt}
	if typ == queue.EventRetry {
		out.Job.Attempt = j.Attempt + 1
	}
	*outs = append(*outs, outcome{t: t, out: out, ack: true})
}

// cannotDeliver leaves a campaign whose channel this worker cannot build
// (a setting missing from its environment) or cannot deliver on at all (see
// parks) to other workers: it stops reading the campaign, gives the job
// back at the next tick, says so once in its log and in its heartbeat,
// where the app shows it. Failing the recipients instead would burn a whole
// send on one misconfigured worker.
func (w *Worker) cannotDeliver(t *task, reason string) {
	id := t.f.CampaignID
	if _, known := w.cannot.LoadOrStore(id, reason); !known {
		w.parkedCount.Add(1)
		w.log.Warn("cannot deliver this campaign here; leaving its jobs to other workers",
			"campaign", id, "channel", t.f.Job.Channel, "reason", reason)
	}
	w.giveBackTask(t)
}

// giveBackTask returns a job that never started, or whose delivery failed
// for a reason of this worker's, to the stream at the next tick
// (flushGiveBack), and frees its slot.
func (w *Worker) giveBackTask(t *task) { w.held.giveBackLater(t) }

// flushGiveBack releases the jobs given back (a paused send's, or those of
// a campaign this worker cannot deliver), so that they are read again at
// once rather than reclaimed after the lease.
func (w *Worker) flushGiveBack() { w.release(w.held.takeGiveBack()) }

// forget drops a job without an outcome: it stays pending in Redis for its
// owner, or for whoever reclaims it.
func (w *Worker) forget(t *task, lost bool) {
	if lost {
		t.lost.Store(true)
	}
	if w.stopping.Load() && !lost {
		return // kept among the holdings for releaseUnstarted
	}
	w.held.drop(t)
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

// noteDeliveryTime keeps moving averages of how long deliveries take: over
// all channels, and per channel.
func (w *Worker) noteDeliveryTime(channel string, d time.Duration) {
	movingAverage(&w.avgDelivery, d)
	a, ok := w.channelAvg.Load(channel)
	if !ok {
		a, _ = w.channelAvg.LoadOrStore(channel, new(atomic.Int64))
	}
	movingAverage(a.(*atomic.Int64), d)
}

func movingAverage(avg *atomic.Int64, d time.Duration) {
	a := avg.Load()
	if a == 0 {
		avg.Store(max(int64(d), 1))
		return
	}
	avg.Store(max(a-a/16+int64(d)/16, 1))
}

// chunkSize is how many of these jobs one deliverer takes at a time. A
// batch is spread over the deliverers; but when every channel among the
// jobs delivers in microseconds (the file channel), a chunk holds about a
// millisecond of deliveries, since a hand-off costs more than a delivery.
// A channel not timed yet, or a slow one (smtp) in the batch, spreads it.
func (w *Worker) chunkSize(tasks []*task) int {
	spread := min(max(1, (len(tasks)+w.cfg.Concurrency-1)/w.cfg.Concurrency), 64)
	slowest, known := w.slowestChannel(tasks)
	if !known {
		return spread
	}
	return max(spread, min(int(int64(time.Millisecond)/slowest), 128))
}

// slowestChannel returns the longest average delivery time (ns, at least 1)
// among the channels of the jobs, and false if one has none yet.
func (w *Worker) slowestChannel(tasks []*task) (int64, bool) {
	slowest := int64(0)
	last := "\x00" // no channel has this name
	for _, t := range tasks {
		if t.f.Job.Channel == last {
			continue
		}
		last = t.f.Job.Channel
		a, ok := w.channelAvg.Load(last)
		if !ok || a.(*atomic.Int64).Load() == 0 {
			return 0, false
		}
		slowest = max(slowest, a.(*atomic.Int64).Load())
	}
	return slowest, true
}

// prefetchTarget is how many jobs the worker holds at once: enough to keep
// every deliverer busy for about a quarter second, and no more, so that a
// slow channel (SMTP) leaves jobs to the other workers while a fast one
// (file) reads in big batches.
func (w *Worker) prefetchTarget() int {
	lo, hi := 2*w.cfg.Concurrency, w.held.capacity()
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

// staleEpoch reports a job queued before the send's queue was lost and
// queued again: its epoch is not the send's.
func staleEpoch(j *queue.Job, ctl queue.Control) bool {
	return j.Epoch != "" && ctl.Epoch != "" && j.Epoch != ctl.Epoch
}

// settingsBehind handles a job newer than the live settings this worker
// holds (the owner queued the send again a moment ago): it reads the
// settings again, and reports whether the job's epoch is now the send's.
func (w *Worker) settingsBehind(f *queue.Fetched, ctl *queue.Control) bool {
	if !queue.EpochAfter(f.Job.Epoch, ctl.Epoch) {
		return false
	}
	w.refreshControls()
	c, ok := w.control(f.CampaignID)
	if !ok || c.Epoch != f.Job.Epoch {
		return false
	}
	*ctl = c
	return true
}
