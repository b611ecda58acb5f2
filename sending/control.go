package sending

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"tui/queue"
	"tui/store"
)

// Every control reaches Redis first: if Redis cannot be reached, the
// campaign stays exactly as it was.

// Pause stops every worker from starting deliveries of a campaign within a
// second; deliveries already under way finish.
func (s *Service) Pause(ctx context.Context, actor string, id uint64) (store.Campaign, error) {
	c, err := s.Store.Campaign(id)
	if err != nil {
		return c, err
	}
	if !store.CanMove(c.Status, store.StatusPaused) {
		return c, &store.TransitionError{Name: c.Name, From: c.Status, To: store.StatusPaused}
	}
	rdb, err := s.Conn.Client(ctx)
	if err != nil {
		return c, err
	}
	foreign, err := s.foreign(ctx, rdb, id)
	if err != nil {
		return c, err
	}
	// A foreign send is not this one: the ledger alone records the pause.
	if !foreign {
		if err := queue.SetState(ctx, rdb, id, queue.StatePaused); err != nil {
			return c, err
		}
	}
	return s.Store.SetStatus(actor, id, store.StatusPaused)
}

// foreign reports whether the campaign's keys in Redis are another
// database's send (whose keys this database's controls must not touch);
// an error only when Redis could not say.
func (s *Service) foreign(ctx context.Context, rdb redis.UniversalClient, id uint64) (bool, error) {
	err := s.checkOwner(ctx, rdb, id)
	var fe *queue.ForeignSendError
	if errors.As(err, &fe) {
		return true, nil
	}
	return false, err
}

// Cancel stops a send for good: workers skip its remaining jobs, and every
// recipient not yet final is recorded as cancelled.
func (s *Service) Cancel(ctx context.Context, actor string, id uint64) (store.Campaign, error) {
	c, err := s.Store.Campaign(id)
	if err != nil {
		return c, err
	}
	if !store.CanMove(c.Status, store.StatusCancelled) {
		return c, &store.TransitionError{Name: c.Name, From: c.Status, To: store.StatusCancelled}
	}
	if c.Status == store.StatusDraft || c.Status == store.StatusScheduled {
		return s.Store.SetStatus(actor, id, store.StatusCancelled) // nothing in Redis
	}
	rdb, err := s.Conn.Client(ctx)
	var unavailable *queue.UnavailableError
	if errors.As(err, &unavailable) && !unavailable.Answered() {
		return c, &CancelUnreachableError{Err: unavailable, ID: id}
	}
	if err != nil {
		return c, err
	}
	foreign, err := s.foreign(ctx, rdb, id)
	if err != nil {
		return c, err
	}
	if foreign {
		// Nothing of this send in Redis to stop, and the events there
		// are not its own.
		c, _, err = s.Store.CancelSend(actor, id)
		return c, err
	}
	// Fold what already happened first. Once the state says cancelled,
	// workers report the jobs they hold as skipped; folded before the
	// ledger says cancelled, those would count as skipped, not cancelled.
	// Folded after, they change nothing, and a delivery that was under way
	// still counts as sent (a delivery is never undone).
	if _, err := s.FoldPending(ctx, rdb, id); err != nil {
		return c, err
	}
	if err := queue.SetState(ctx, rdb, id, queue.StateCancelled); err != nil {
		return c, err
	}
	c, _, err = s.Store.CancelSend(actor, id)
	if err != nil {
		return c, err
	}
	// The jobs will never be delivered; events still in flight are folded
	// by whoever follows the campaign for a while.
	_ = queue.Deactivate(ctx, rdb, id, false)
	return c, nil
}

// CancelUnreachableError is a cancel refused because Redis, where the
// workers would read it, cannot be reached. It says what to do, also when
// that Redis is gone for good.
type CancelUnreachableError struct {
	Err *queue.UnavailableError
	ID  uint64
}

func (e *CancelUnreachableError) Error() string {
	return fmt.Sprintf("%v. The workers read a cancel there; if that Redis is gone for good, "+
		"`tui campaign cancel %d --force` records the cancel in the ledger alone", e.Err, e.ID)
}

func (e *CancelUnreachableError) Unwrap() error { return e.Err }

// CancelInLedger records a cancel in the ledger alone, for a send whose
// Redis cannot be reached and may never be again: every recipient not
// final is recorded as cancelled, and nothing is dialled. Workers are not
// told (LedgerCancelCaveat). A send that is over already is refused with a
// *store.TransitionError.
func (s *Service) CancelInLedger(actor string, id uint64) (store.Campaign, error) {
	c, _, err := s.Store.CancelSend(actor, id)
	return c, err
}

// LedgerCancelCaveat says what a cancel in the ledger alone cannot do.
const LedgerCancelCaveat = "Workers are not told: deliveries made since the last fold count as cancelled, and if that " +
	"Redis comes back with the queue, workers that reach it go on until a send of this database dials it and drops the queue"

// RetryFailed queues again, in a new round, the recipients that failed or
// were skipped, and nobody else.
func (s *Service) RetryFailed(ctx context.Context, actor string, id uint64, progress func(Progress)) (Result, error) {
	if err := s.retryable(id); err != nil {
		return Result{}, err
	}
	rdb, err := s.Conn.Client(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := s.checkOwner(ctx, rdb, id); err != nil {
		return Result{}, fmt.Errorf("%w; nothing was changed", err)
	}
	if st, err := s.Store.SendState(id); err == nil && !st.Enqueued {
		return Result{}, fmt.Errorf("the send is still being queued; resume it first (`tui campaign resume %d`)", id)
	}
	// Outcomes still in Redis first: a recipient that has since been
	// delivered must not be retried.
	if _, err := s.FoldPending(ctx, rdb, id); err != nil {
		return Result{}, err
	}
	c, st, _, err := s.Store.RetryFailed(actor, id)
	if err != nil {
		return Result{}, err
	}
	s.wakeFollow()
	ctl := queue.Control{State: queue.StateSending, Rate: c.Rate, MaxAttempts: c.Attempts(), Round: st.Round}
	if err := s.setControl(ctx, rdb, id, ctl); err != nil {
		return Result{}, err
	}
	return s.enqueue(ctx, rdb, c, st, progress, false)
}

// retryable answers, without dialling Redis, a retry that has nothing to
// do: a campaign never sent, a cancelled one, or a completed send that
// failed nobody (a completed send has folded every outcome, so its ledger's
// counts are final). Anything else is decided by the ledger after the fold.
func (s *Service) retryable(id uint64) error {
	c, err := s.Store.Campaign(id)
	if err != nil {
		return err
	}
	st, err := s.Store.SendState(id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("campaign %q has never been sent, so nobody failed; send it with `tui campaign send %d`", c.Name, id)
	case err != nil:
		return err
	case c.Status == store.StatusCancelled:
		return &store.TransitionError{Name: c.Name, From: c.Status, To: store.StatusSending}
	case c.Status == store.StatusCompleted && st.Counts[store.RecipientFailed]+st.Counts[store.RecipientSkipped] == 0:
		return fmt.Errorf("campaign %q has no failed recipients to retry: every recipient was sent", c.Name)
	}
	return nil
}

// clearMarks removes the idempotency marks of recipients queued again in a
// new round; their old "failed" mark would make workers skip them.
func clearMarks(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, jobs []queue.Job) error {
	if len(jobs) == 0 || jobs[0].Round <= 1 {
		return nil
	}
	contacts := make([]uint64, len(jobs))
	for i, j := range jobs {
		contacts[i] = j.ContactID
	}
	return queue.ClearMarks(ctx, rdb, campaignID, contacts)
}

// SetRate changes how fast a campaign sends; a send under way follows
// within a second on every worker.
func (s *Service) SetRate(ctx context.Context, actor string, id uint64, rate int) (store.Campaign, error) {
	c, err := s.Store.Campaign(id)
	if err != nil {
		return c, err
	}
	if c.Status == store.StatusSending || c.Status == store.StatusPaused {
		rdb, err := s.Conn.Client(ctx)
		if err != nil {
			return c, err
		}
		foreign, err := s.foreign(ctx, rdb, id)
		if err != nil {
			return c, err
		}
		if !foreign { // else this send is not in Redis: the ledger alone
			if err := queue.SetRate(ctx, rdb, id, rate); err != nil {
				return c, err
			}
		}
	}
	return s.Store.SetRate(actor, id, rate)
}
