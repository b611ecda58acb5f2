package sending

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/queue"
	"tui/store"
)

// toRecipientEvent translates a worker's event for the ledger.
func toRecipientEvent(e queue.Event) store.RecipientEvent {
	re := store.RecipientEvent{ContactID: e.Contact, Round: e.Round, Attempt: e.Attempt, Reason: e.Reason,
		TakenOver: e.TakenOver, Bounce: e.Bounce, At: e.At}
	switch e.Type {
	case queue.EventDelivered:
		re.State = store.RecipientSent
	case queue.EventFailed:
		re.State = store.RecipientFailed
	case queue.EventRetry:
		re.State = store.RecipientRetrying
	case queue.EventSkipped:
		re.State = store.RecipientSkipped
	}
	return re
}

// foldBatch is how many event entries (each a worker's batch, up to 500
// outcomes) are folded per transaction: each commit costs a write to disk,
// so at full speed bigger transactions fold faster (50 left a 1M send's
// fold seconds behind its workers), within tens of MB.
const foldBatch = 200

// FoldPending folds every event waiting in Redis for one campaign, then
// trims what it folded. It returns the last fold's result.
func (s *Service) FoldPending(ctx context.Context, rdb redis.UniversalClient, id uint64) (store.FoldResult, error) {
	var last store.FoldResult
	st, err := s.Store.SendState(id)
	if err != nil {
		return last, err
	}
	cursor := st.EventCursor
	for {
		msgs, err := queue.EventsAfter(ctx, rdb, id, cursor, foldBatch)
		if err != nil {
			return last, err
		}
		if len(msgs) == 0 {
			if last.Campaign.ID == 0 {
				// The send's last events may have been folded before its
				// enqueue ended: this fold completes it.
				if last, err = s.Store.ApplyEvents(id, cursor, nil); err == nil && last.Completed {
					deactivate(ctx, rdb, id)
				}
			}
			return last, err
		}
		res, err := s.fold(ctx, rdb, id, msgs)
		if err != nil {
			return last, err
		}
		// The numbers are the last batch's; what happened to recipients
		// in the batches before it is kept.
		res.Failed = append(last.Failed, res.Failed...)
		if over := len(res.Failed) - 100; over > 0 {
			res.Failed = res.Failed[over:]
		}
		if res.LastRetry == nil {
			res.LastRetry = last.LastRetry
		}
		last = res
		cursor = msgs[len(msgs)-1].ID
		if len(msgs) < foldBatch {
			return last, nil
		}
	}
}

// fold applies stream entries to the ledger, then trims them from Redis:
// only what the ledger holds is ever removed.
func (s *Service) fold(ctx context.Context, rdb redis.UniversalClient, id uint64, msgs []redis.XMessage) (store.FoldResult, error) {
	// The events of another database's send of the same number are not
	// this ledger's: folded, they would mark its recipients by theirs, and
	// trimmed, that send would never complete.
	if err := s.checkOwner(ctx, rdb, id); err != nil {
		return store.FoldResult{}, err
	}
	// Decoded first and sized once: appending a million events one by one
	// spent more time copying the slice than applying it.
	batches := make([]queue.EventBatch, 0, len(msgs))
	n := 0
	for _, m := range msgs {
		b, err := queue.ParseEventBatch(m.Values)
		if err != nil {
			continue // a malformed entry cannot be folded; it is trimmed with the rest
		}
		batches = append(batches, b)
		n += len(b.Events)
	}
	events := make([]store.RecipientEvent, 0, n)
	for i := range batches {
		for _, e := range batches[i].Events {
			events = append(events, toRecipientEvent(e))
		}
	}
	cursor := msgs[len(msgs)-1].ID
	res, err := s.Store.ApplyEvents(id, cursor, events)
	if err != nil {
		return res, err
	}
	// What the ledger now holds leaves Redis even if the caller stops
	// meanwhile (a send's own follow stops the moment its queueing ends).
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := queue.TrimEvents(tctx, rdb, id, cursor); err != nil {
		return res, err
	}
	if res.Completed {
		deactivate(ctx, rdb, id)
	}
	if c, paused := s.pauseOnFailRun(ctx, id, res); paused {
		res.Campaign = c
	}
	return res, nil
}

// FailRunPause is how many recipients in a row may fail for good, with none
// delivered between, before the send is paused: the channel then fails
// everyone (an endpoint down, an account the provider blocked), and the
// rest of the audience would fail the same way, each after its tries.
// Resumed, the send is paused again after as many more.
const FailRunPause = 100

// pauseOnFailRun pauses a send whose fold made its run of failures reach a
// multiple of FailRunPause, unless nobody is left to protect; the pause
// names the run and the last reason, for the pane, the command line and
// the audit log.
func (s *Service) pauseOnFailRun(ctx context.Context, id uint64, res store.FoldResult) (store.Campaign, bool) {
	if res.Campaign.Status != store.StatusSending || len(res.Failed) == 0 || res.Send.Remaining() == 0 ||
		res.Send.FailRun/FailRunPause <= res.FailRunBefore/FailRunPause {
		return res.Campaign, false
	}
	actor := fmt.Sprintf("tui, as %d recipients in a row failed (the last: %s)", res.Send.FailRun,
		res.Failed[len(res.Failed)-1].LastError)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	c, err := s.Pause(pctx, actor, id)
	return c, err == nil
}

// deactivate drops the queue of a send the ledger completed: its working
// keys and its control hash, and its place among the active sends. It runs
// to its end even when the caller stops: a completed send left active would
// be read by every worker for ever.
func deactivate(ctx context.Context, rdb redis.UniversalClient, id uint64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = queue.Deactivate(ctx, rdb, id, true)
}

// Update is pushed to followers of a send: the latest numbers.
type Update struct {
	Campaign store.Campaign
	Send     store.SendState
	Failed   []store.LedgerEntry // new failures since the last update
	// LastRetry is the newest recipient left to be tried again, with the
	// reason of its last try, or nil when this update has none new.
	LastRetry *store.LedgerEntry
	Workers   []queue.WorkerInfo
	// RedisErr is what Redis refuses this send now (Explain's sentence:
	// out of memory, a read-only replica), or "".
	RedisErr string
	At       time.Time
}

// ErrNoSends means nothing is sending, so there is no reason to dial Redis.
var ErrNoSends = errors.New("no campaign is sending")

// FoldAll folds the pending events of every campaign that is sending or
// paused. It dials Redis only when there is such a campaign.
func (s *Service) FoldAll(ctx context.Context) ([]store.FoldResult, error) {
	sending, err := s.Store.FollowedCampaigns(FollowCancelledFor)
	if err != nil {
		return nil, err
	}
	if len(sending) == 0 {
		return nil, ErrNoSends
	}
	rdb, err := s.Conn.Client(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.FoldResult
	for _, c := range sending {
		res, err := s.FoldPending(ctx, rdb, c.ID)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}
