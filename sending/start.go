package sending

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/queue"
	"tui/store"
)

// EnqueueBatchSize is the number of jobs per pipeline.
const EnqueueBatchSize = 1000

// Progress is how far an enqueue has come.
type Progress struct {
	Total    int // recipients in the ledger
	Enqueued int // jobs in the queue, this run and earlier ones
	Failed   int // recipients whose message could not be rendered at enqueue
}

// Result is what a start or resume did.
type Result struct {
	Campaign store.Campaign
	Round    int
	Total    int
	Added    int // jobs added by this run
	Already  int // jobs a previous, interrupted run had added
	Failed   int // recipients failed at enqueue (template or deleted contact)
	// Loss is set when Redis had lost the queue and this run queued again
	// from the ledger.
	Loss *store.QueueLoss
}

// Start begins a send: it dials Redis first — if Redis cannot be reached,
// nothing at all changes — then writes the ledger and moves the campaign to
// sending in one transaction, then enqueues one job per recipient. An
// enqueue interrupted at any point is finished by Resume, and no recipient
// is ever enqueued twice. version is the campaign version the preflight saw.
func (s *Service) Start(ctx context.Context, actor string, id, version uint64, progress func(Progress)) (Result, error) {
	rdb, err := s.Conn.Client(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := s.beforeSend(ctx, rdb); err != nil {
		return Result{}, err
	}
	if err := refuseOutdatedWorkers(ctx, rdb); err != nil {
		return Result{}, err
	}
	if err := s.checkOwner(ctx, rdb, id); err != nil {
		return Result{}, fmt.Errorf("%w; nothing was changed", err)
	}
	c, st, err := s.Store.StartSend(actor, id, version)
	if err != nil {
		return Result{}, err
	}
	s.wakeFollow()
	ctl := queue.Control{State: queue.StateSending, Rate: c.Rate, MaxAttempts: c.Attempts(), Epoch: queue.NewEpoch(), Round: st.Round}
	if err := s.setControl(ctx, rdb, c.ID, ctl); err != nil {
		return Result{Campaign: c, Round: st.Round, Total: st.Total}, fmt.Errorf("%w (the send is recorded; resume it with `tui campaign resume %d`)", err, c.ID)
	}
	return s.enqueue(ctx, rdb, c, st, progress, false)
}

// refuseOutdatedWorkers fails while a live worker runs a tui that cannot
// read the jobs this one queues: it would fail every recipient it took.
// Nothing is changed then. A read of the workers that fails refuses
// nothing: the send's own steps meet the same trouble and say so.
func refuseOutdatedWorkers(ctx context.Context, rdb redis.UniversalClient) error {
	workers, err := queue.Workers(ctx, rdb)
	if err != nil {
		return nil
	}
	if w, ok := queue.Outdated(workers, time.Now()); ok {
		return fmt.Errorf("%s (workers first, then the app); nothing was changed", queue.OutdatedSentence(w))
	}
	return nil
}

// ErrNothingToResume means the campaign's enqueue already finished.
var ErrNothingToResume = errors.New("every recipient is already queued")

// Resume lets a paused campaign send again, and finishes an interrupted
// enqueue; a campaign that is sending with everything queued has nothing to
// resume.
func (s *Service) Resume(ctx context.Context, actor string, id uint64, progress func(Progress)) (Result, error) {
	c, err := s.Store.Campaign(id)
	if err != nil {
		return Result{}, err
	}
	st, err := s.Store.SendState(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Status != store.StatusSending && c.Status != store.StatusPaused) {
		return Result{}, fmt.Errorf("campaign %q is %s and has no send to resume", c.Name, c.Status.Phrase())
	}
	if err != nil {
		return Result{}, err
	}
	rdb, err := s.Conn.Client(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := refuseOutdatedWorkers(ctx, rdb); err != nil {
		return Result{}, err
	}
	if err := s.checkOwner(ctx, rdb, id); err != nil {
		return Result{}, fmt.Errorf("%w; nothing was changed", err)
	}
	if st.Enqueued {
		// An enqueue that finished may not have said so to Redis (a blip
		// between the two): retries would wait for ever.
		if err := queue.SetEnqueuing(ctx, rdb, id, false); err != nil {
			return Result{}, err
		}
	}
	if st.Enqueued && c.Status == store.StatusSending {
		lost, err := s.queueLost(ctx, rdb, id, st)
		if err != nil {
			return Result{}, err
		}
		if !lost {
			return Result{Campaign: c, Round: st.Round, Total: st.Total}, ErrNothingToResume
		}
		return s.requeueLost(ctx, rdb, actor, c, st, progress)
	}
	if c.Status == store.StatusPaused {
		if err := queue.SetState(ctx, rdb, id, queue.StateSending); err != nil {
			return Result{}, err
		}
		if c, err = s.Store.SetStatus(actor, id, store.StatusSending); err != nil {
			return Result{}, err
		}
		s.wakeFollow()
	}
	if st.Enqueued {
		lost, err := s.queueLost(ctx, rdb, id, st)
		if err != nil {
			return Result{}, err
		}
		if !lost {
			return Result{Campaign: c, Round: st.Round, Total: st.Total, Already: st.Total}, nil
		}
		return s.requeueLost(ctx, rdb, actor, c, st, progress)
	}
	if st.Round > 1 {
		// An interrupted retry round: if Redis lost the queue meanwhile,
		// the earlier rounds' waiting recipients lost their jobs too.
		lost, err := s.queueLost(ctx, rdb, id, st)
		if err != nil {
			return Result{}, err
		}
		if lost {
			return s.requeueLost(ctx, rdb, actor, c, st, progress)
		}
	}
	return s.enqueue(ctx, rdb, c, st, progress, false)
}

// requeueLost queues again, from the ledger, everyone not done of a send
// whose queue Redis lost (restarted without persistence, flushed): the
// ledger is the truth. Each job is marked as a possible redelivery with a
// higher attempt, since a delivery whose record Redis lost cannot be told
// from one that never happened; the loss is recorded with the send.
func (s *Service) requeueLost(ctx context.Context, rdb redis.UniversalClient, actor string, c store.Campaign, st store.SendState, progress func(Progress)) (Result, error) {
	state := queue.StateSending
	if c.Status == store.StatusPaused {
		state = queue.StatePaused
	}
	// A new epoch: jobs workers still hold from before the loss are not
	// delivered; the ones queued now are.
	ctl := queue.Control{State: state, Rate: c.Rate, MaxAttempts: c.Attempts(), Epoch: queue.NewEpoch(), Round: st.Round}
	if err := s.setControl(ctx, rdb, c.ID, ctl); err != nil {
		return Result{}, err
	}
	at := time.Now()
	// Workers learn of the new epoch and record again what they delivered
	// before the loss; the owner folds that, and queues only those still
	// waiting. The done-marks stop whatever is folded too late.
	if err := queue.Activate(ctx, rdb, c.ID); err != nil {
		return Result{}, err
	}
	awaitEpoch(ctx, rdb, c.ID, ctl.Epoch)
	if _, err := s.FoldPending(ctx, rdb, c.ID); err != nil {
		return Result{}, err
	}
	st, err := s.Store.SendState(c.ID)
	if err != nil {
		return Result{}, err
	}
	res, err := s.enqueue(ctx, rdb, c, st, progress, true)
	if res.Added > 0 || err == nil {
		if st, rerr := s.Store.RecordQueueLoss(actor, c.ID, at, res.Added); rerr == nil {
			res.Loss = &st.Losses[len(st.Losses)-1]
		}
	}
	return res, err
}

// How long the owner waits, after a loss, for the live workers to take in
// a send's new epoch: at least epochSettle (a flushed Redis forgot the
// workers too, and each registers again with its next heartbeat, every
// second), at most epochPatience (a worker that does not answer does not
// hold the send; what it delivered may go out again, marked).
const (
	epochSettle   = 1500 * time.Millisecond
	epochPatience = 10 * time.Second
)

// awaitEpoch waits until every live worker took in a campaign's new queue
// epoch (queue.AckEpoch), within the bounds above.
func awaitEpoch(ctx context.Context, rdb redis.UniversalClient, id uint64, epoch string) {
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		if now.Sub(start) >= epochPatience {
			return
		}
		if now.Sub(start) < epochSettle {
			continue
		}
		workers, err1 := queue.Workers(ctx, rdb)
		acks, err2 := queue.EpochAcks(ctx, rdb, id)
		if err1 != nil || err2 != nil {
			continue
		}
		waiting := false
		for i := range workers {
			if w := &workers[i]; w.Alive(now) && !w.Stopping && acks[w.ID] != epoch {
				waiting = true
			}
		}
		if !waiting {
			return
		}
	}
}

// queueLost reports whether Redis no longer holds a send that the ledger
// says is queued: the job stream is gone, or was made anew and empty (a
// worker recreates its group), while recipients wait — a Redis restarted
// without persistence. Pending events are folded first, so that only
// recipients still waiting count.
func (s *Service) queueLost(ctx context.Context, rdb redis.UniversalClient, id uint64, st store.SendState) (bool, error) {
	q, err := queue.InspectQueue(ctx, rdb, id)
	if err != nil {
		return false, err
	}
	if !q.Lost() && q.JobsAdded > 0 {
		return false, nil
	}
	if _, err := s.FoldPending(ctx, rdb, id); err != nil {
		return false, err
	}
	st, err = s.Store.SendState(id)
	if err != nil {
		return false, err
	}
	return st.Remaining() > 0, nil
}

type recipient struct {
	entry   store.LedgerEntry
	contact store.RawContact // nil: deleted since the start
}

type batch struct {
	recipients []recipient
	jobs       []queue.Job
	failed     []store.LedgerEntry // written to the ledger as they are
	ready      chan struct{}       // closed once rendered
}

// render turns the batch's recipients into jobs, or into failed ledger rows
// when a message cannot be rendered (a contact edited or imported after the
// preflight) or the contact is gone.
func (b *batch) render(r *Renderer, c *store.Campaign, round int, epoch string, redeliver bool) {
	b.jobs = make([]queue.Job, 0, len(b.recipients))
	for i := range b.recipients {
		rc := &b.recipients[i]
		e := rc.entry
		if rc.contact == nil {
			e.State, e.LastError = store.RecipientSkipped, "the contact was deleted after the send started"
			b.failed = append(b.failed, e)
			continue
		}
		msg, err := r.RenderRaw(e.ContactID, rc.contact)
		if err != nil {
			e.State, e.LastError = store.RecipientFailed, err.Error()
			b.failed = append(b.failed, e)
			continue
		}
		j := queue.Job{CampaignID: c.ID, ContactID: e.ContactID, Round: round, To: e.Address,
			Channel: string(c.Channel), From: c.From, URL: c.URL, Subject: msg.Subject, Body: msg.Body, Epoch: epoch,
			Format: msg.Format, Unsubscribe: msg.Unsubscribe, UnsubscribeMailto: msg.UnsubscribeMailto}
		if redeliver {
			// The attempt Redis forgot may have happened: this is the one
			// after it.
			j.Redelivery, j.Attempt = true, e.Attempts+2
		}
		if c.Channel == store.ChannelMessenger {
			j.Kind, j.MessagingType, j.Tag = string(rc.contact.Kind()), string(c.EffectiveMessagingType()), c.MessageTag
		}
		b.jobs = append(b.jobs, j)
	}
	b.recipients = nil
}

// enqueue renders and enqueues the queued recipients of the send's round
// after the last one the stream already holds; with everyone, those of
// earlier rounds still waiting too (Redis lost the queue). Recipients of an
// earlier round that are still queued or retrying are otherwise in the
// stream already. Rendering runs in parallel with the pipelines; batches
// still reach Redis in contact order, as the stream IDs require.
func (s *Service) enqueue(parent context.Context, rdb redis.UniversalClient, c store.Campaign, st store.SendState, progress func(Progress), everyone bool) (Result, error) {
	res := Result{Campaign: c, Round: st.Round, Total: st.Total}
	r, err := NewRenderer(&c, s.RenderLinks())
	if err != nil {
		return res, err
	}
	// From here until the enqueue is done, workers put nothing back into
	// the stream (retries, jobs given back), so that its newest entry says
	// how far the enqueue got.
	if err := queue.SetEnqueuing(parent, rdb, c.ID, true); err != nil {
		return res, err
	}
	after, err := queue.LastEnqueued(parent, rdb, c.ID, st.Round)
	if err != nil {
		return res, err
	}
	epoch, err := queue.EpochOf(parent, rdb, c.ID)
	if err != nil {
		return res, err
	}
	prior, err := s.Store.LedgerRank(c.ID, after)
	if err != nil {
		return res, err
	}
	// Workers may start on the first jobs while the rest are still queued.
	if err := queue.Activate(parent, rdb, c.ID); err != nil {
		return res, err
	}
	p := &enqueuePass{s: s, rdb: rdb, c: c, round: st.Round, epoch: epoch, everyone: everyone, renderer: r,
		progress: progress, prior: prior, res: &res}
	// The ledger of a large send is written a chunk at a time, so the
	// first deliveries start within moments, and an interrupted start goes
	// on from where it was. The next chunk is written while one is queued
	// (the pass stops at its chunk's end): the queue does not wait for the
	// ledger, and a job is still queued only once its row is written. The
	// first, small chunk of a fresh start is queued alone: nothing competes
	// with the first deliveries.
	for first := true; ; first = false {
		p.total = st.Total
		if !st.LedgerPending {
			if err := p.run(parent, after, 0); err != nil {
				return res, err
			}
			break
		}
		upTo := st.LedgerAfter
		alone := first && after == 0
		var wait func() (store.SendState, error)
		if !alone {
			wait = s.writeNextChunk(c.ID)
		}
		err := p.run(parent, after, upTo)
		if alone && err == nil {
			wait = s.writeNextChunk(c.ID)
		}
		if wait == nil {
			return res, err
		}
		next, werr := wait() // a write under way ends before anything returns
		if err == nil {
			err = werr
		}
		if err != nil {
			return res, err
		}
		after, st = upTo, next
		res.Total = st.Total
	}
	// Every job is in: workers may put jobs back again. This goes first, so
	// that a ledger saying "enqueued" never leaves the flag set (a resume
	// that runs again finds nobody left to queue).
	if err := queue.SetEnqueuing(parent, rdb, c.ID, false); err != nil {
		return res, fmt.Errorf("%w (everyone is queued; resume it with `tui campaign resume %d`)", err, c.ID)
	}
	if err := s.Store.MarkEnqueued(c.ID, st.Round); err != nil {
		return res, err
	}
	return res, nil
}

// writeNextChunk writes the next chunk of a send's ledger in the
// background; wait returns what ContinueLedger did, once it is done.
func (s *Service) writeNextChunk(id uint64) (wait func() (store.SendState, error)) {
	type written struct {
		st  store.SendState
		err error
	}
	done := make(chan written, 1)
	go func() {
		st, err := s.Store.ContinueLedger(id)
		done <- written{st, err}
	}()
	return func() (store.SendState, error) {
		w := <-done
		return w.st, w.err
	}
}

// enqueuePass queues the recipients the ledger holds after a contact (up
// to another, when not 0), in contact order: the ledger is read, messages
// rendered in parallel, and batches reach Redis in order, as the stream
// IDs require.
type enqueuePass struct {
	s        *Service
	rdb      redis.UniversalClient
	c        store.Campaign
	round    int
	epoch    string
	everyone bool
	renderer *Renderer
	progress func(Progress)
	prior    int // jobs queued before this enqueue began
	total    int
	res      *Result
}

func (p *enqueuePass) run(parent context.Context, after, upTo uint64) error {
	s, rdb, c, res, r, epoch, everyone := p.s, p.rdb, p.c, p.res, p.renderer, p.epoch, p.everyone
	st := store.SendState{Round: p.round, Total: p.total}
	progress, prior := p.progress, p.prior
	ctx, cancel := context.WithCancel(parent)
	defer cancel()

	workers := runtime.GOMAXPROCS(0)
	toRender := make(chan *batch, workers*2)
	ordered := make(chan *batch, workers*4)
	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the reader: the ledger, in contact order
		defer wg.Done()
		defer close(toRender)
		defer close(ordered)
		send := func(b *batch) bool {
			select {
			case ordered <- b:
			case <-ctx.Done():
				return false
			}
			select {
			case toRender <- b:
				return true
			case <-ctx.Done():
				return false
			}
		}
		// Batches are made whole: grown row by row, copying the rows as
		// the slice grew cost a tenth of the sender's CPU.
		newBatch := func() *batch {
			return &batch{ready: make(chan struct{}), recipients: make([]recipient, 0, EnqueueBatchSize)}
		}
		cur := newBatch()
		readErr = s.Store.ForEachQueued(c.ID, after, func(e *store.LedgerEntry, ct store.RawContact) bool {
			if upTo != 0 && e.ContactID > upTo {
				return false // the next chunk, being written: the next pass's
			}
			if e.Round != st.Round && !everyone {
				return true
			}
			cur.recipients = append(cur.recipients, recipient{entry: *e, contact: ct})
			if len(cur.recipients) < EnqueueBatchSize {
				return true
			}
			ok := send(cur)
			cur = newBatch()
			return ok
		})
		if len(cur.recipients) > 0 {
			send(cur)
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() { // renderers
			defer wg.Done()
			for b := range toRender {
				b.render(r, &c, p.round, epoch, everyone)
				close(b.ready)
			}
		}()
	}

	var sendErr error
	var failed []store.LedgerEntry
	for b := range ordered {
		select {
		case <-b.ready:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		// Marks Redis holds after losing a queue were written since, by
		// deliveries that did happen: they stay, and stop a second copy.
		if !everyone {
			if err := clearMarks(ctx, rdb, c.ID, b.jobs); err != nil {
				sendErr = err
				break
			}
		}
		added, skipped, err := queue.EnqueueBatch(ctx, rdb, b.jobs)
		res.Added += added
		res.Already += skipped
		if err == nil {
			// Written once the ledger is no longer being read: a write
			// that must grow the file would wait for that read, which
			// waits for this loop.
			failed = append(failed, b.failed...)
		}
		if err != nil {
			sendErr = err
			break
		}
		if progress != nil {
			progress(Progress{Total: st.Total, Enqueued: prior + res.Added + res.Already, Failed: len(failed)})
		}
	}
	cancel()
	for range ordered { // drain, so the reader can stop
	}
	wg.Wait()
	// The recipients whose message could not be rendered, from the batches
	// that went out, even when the enqueue stopped: a resume starts after
	// the last job queued and would not see them again.
	if len(failed) > 0 {
		if err := s.Store.PutLedger(failed); err != nil && sendErr == nil {
			sendErr = err
		} else if err == nil {
			res.Failed += len(failed)
		}
	}
	if sendErr == nil {
		sendErr = parent.Err()
	}
	if sendErr != nil {
		return fmt.Errorf("enqueue of %q stopped after %d new jobs (resume it with `tui campaign resume %d` or send again; nobody will be queued twice): %w",
			c.Name, res.Added, c.ID, sendErr)
	}
	return readErr
}
