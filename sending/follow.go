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

// FollowCancelledFor is how long a cancelled send's late events (deliveries
// that were under way) are still folded.
const FollowCancelledFor = time.Minute

// Follow folds the events of every sending campaign as they arrive and
// reports each change through onUpdate, until ctx ends. It looks at the
// database every idle second and dials Redis only while some campaign is
// sending or paused. Redis trouble never ends it: it waits and retries,
// while the connection's state says what is happening.
func (s *Service) Follow(ctx context.Context, onUpdate func(Update)) error {
	var lastWorkers time.Time
	var workers []queue.WorkerInfo
	problems := map[uint64]string{}
	// foreign are the followed sends whose number another database's send
	// holds in Redis: their events are not read, and their problem says so.
	foreign := map[uint64]bool{}
	attempt := 0
	var swept time.Time
	for ctx.Err() == nil {
		sending, err := s.Store.FollowedCampaigns(FollowCancelledFor)
		if err != nil {
			return err
		}
		if len(sending) == 0 {
			// Nothing to follow: sends that ended while Redis missed their
			// drop are still swept, on a connection a send made (none is
			// dialled for it).
			if rdb := s.Conn.Dialled(); rdb != nil && time.Since(swept) >= sweepEvery {
				s.sweepActive(ctx, rdb, nil)
				swept = time.Now()
			}
			t := time.NewTimer(time.Second)
			select {
			case <-t.C:
			case <-s.wake:
				t.Stop()
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		rdb, err := s.Conn.Client(ctx)
		if err != nil {
			attempt++
			if !queue.Sleep(ctx, queue.Backoff(attempt)) {
				break
			}
			continue
		}
		if time.Since(swept) >= sweepEvery {
			s.sweepActive(ctx, rdb, sending)
			swept = time.Now()
		}
		if time.Since(lastWorkers) >= time.Second {
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if ws, err := queue.Workers(wctx, rdb); err == nil {
				workers = ws
			}
			cancel()
			lastWorkers = time.Now()
			for _, c := range sending {
				if s.noteForeign(ctx, rdb, c, workers, foreign, problems, onUpdate) {
					continue
				}
				problem := s.watchQueue(ctx, rdb, c)
				problems[c.ID] = problem
				// A fold with no events refreshes the numbers and finishes a
				// send whose last events were folded before its enqueue ended.
				res, err := s.FoldPending(ctx, rdb, c.ID)
				if err == nil {
					onUpdate(Update{Campaign: res.Campaign, Send: res.Send, Failed: res.Failed, LastRetry: res.LastRetry, Workers: workers,
						RedisErr: problem, At: time.Now()})
				}
			}
		}
		if err := s.followOnce(ctx, rdb, sending, workers, foreign, problems, onUpdate); err != nil {
			if ctx.Err() != nil {
				break
			}
			attempt++
			if !queue.Sleep(ctx, queue.Backoff(attempt)) {
				break
			}
			continue
		}
		attempt = 0
	}
	return nil
}

// followOnce waits up to a quarter second for new events of the given
// campaigns and folds whatever arrives.
func (s *Service) followOnce(ctx context.Context, rdb redis.UniversalClient, sending []store.Campaign, workers []queue.WorkerInfo, foreign map[uint64]bool, problems map[uint64]string, onUpdate func(Update)) error {
	ids := make([]uint64, 0, len(sending))
	cursors := make([]string, 0, len(sending))
	for _, c := range sending {
		if foreign[c.ID] {
			continue
		}
		st, err := s.Store.SendState(c.ID)
		if err != nil {
			continue
		}
		ids = append(ids, c.ID)
		cursors = append(cursors, st.EventCursor)
	}
	if len(ids) == 0 {
		queue.Sleep(ctx, 250*time.Millisecond)
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	res, err := queue.ReadEvents(rctx, rdb, ids, cursors, foldBatch, 250*time.Millisecond)
	cancel()
	if err != nil {
		return err
	}
	for _, id := range ids {
		msgs := res[id]
		if len(msgs) == 0 {
			continue
		}
		fr, err := s.fold(ctx, rdb, id, msgs)
		var fe *queue.ForeignSendError
		if errors.As(err, &fe) {
			foreign[id], problems[id] = true, fe.Error()
			continue
		}
		if err != nil {
			return err
		}
		onUpdate(Update{Campaign: fr.Campaign, Send: fr.Send, Failed: fr.Failed, LastRetry: fr.LastRetry, Workers: workers,
			RedisErr: problems[id], At: time.Now()})
	}
	return nil
}

// sweepEvery is how often a follow looks for sends of this database that
// are over in the ledger but still active in Redis.
var sweepEvery = 30 * time.Second

// sweepActive drops from Redis the sends of this database that its ledger
// says are over but Redis still holds as active: a send that completed or
// was cancelled while Redis could not be reached for the drop. Workers read
// every active send, and one left there for ever would halve each read of
// the others. Only this database's sends are touched, and only one whose
// settings no later round has written since (queue.DropIfOver).
func (s *Service) sweepActive(ctx context.Context, rdb redis.UniversalClient, followed []store.Campaign) {
	ident, err := s.identity()
	if err != nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	active, err := queue.ActiveCampaigns(sctx, rdb)
	if err != nil {
		return
	}
	skip := map[uint64]bool{}
	for _, c := range followed {
		skip[c.ID] = true // sending, paused, or cancelled a moment ago
	}
	for id, ctl := range active {
		if skip[id] || ctl.Owner != ident.ID || ctl.Round == 0 {
			continue
		}
		c, err := s.Store.Campaign(id)
		if err == nil && (c.Status == store.StatusSending || c.Status == store.StatusPaused) {
			continue
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			continue
		}
		_, _ = queue.DropIfOver(sctx, rdb, id, ident.ID, ctl.Round, err == nil && c.Status == store.StatusCancelled)
	}
}

// noteForeign checks, once a second, whether another database's send holds
// this send's number in Redis. If so it marks it foreign, pushes its
// numbers with the sentence that says so, and reports true: nothing of it
// is read or queued again then. A send found its own again (the other one
// ended) is followed as before.
func (s *Service) noteForeign(ctx context.Context, rdb redis.UniversalClient, c store.Campaign, workers []queue.WorkerInfo,
	foreign map[uint64]bool, problems map[uint64]string, onUpdate func(Update)) bool {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var fe *queue.ForeignSendError
	if err := s.checkOwner(wctx, rdb, c.ID); !errors.As(err, &fe) {
		delete(foreign, c.ID)
		return false
	}
	foreign[c.ID], problems[c.ID] = true, fe.Error()
	if st, err := s.Store.SendState(c.ID); err == nil {
		onUpdate(Update{Campaign: c, Send: st, Workers: workers, RedisErr: problems[c.ID], At: time.Now()})
	}
	return true
}

// watchQueue looks after a followed send once a second: it queues again
// from the ledger a send whose queue Redis lost (restarted empty, flushed),
// without waiting for a person, and it returns what Redis refuses the send
// now (out of memory, a read-only replica: Explain's sentence), or "".
func (s *Service) watchQueue(ctx context.Context, rdb redis.UniversalClient, c store.Campaign) string {
	if c.Status != store.StatusSending && c.Status != store.StatusPaused {
		return ""
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := queue.Probe(wctx, rdb, c.ID); err != nil {
		if queue.IsUnreachable(err) {
			return ""
		}
		return queue.Explain(err)
	}
	st, err := s.Store.SendState(c.ID)
	if err != nil || !st.Enqueued || st.Remaining() == 0 {
		// An enqueue still under way (or interrupted: resume finishes it)
		// has no control hash to miss yet.
		return ""
	}
	q, err := queue.InspectQueue(wctx, rdb, c.ID)
	if err != nil || !q.Lost() {
		return ""
	}
	// What workers recorded since the loss is folded first: those
	// recipients are done and are not queued again.
	if _, err := s.FoldPending(ctx, rdb, c.ID); err != nil {
		return ""
	}
	if c, err = s.Store.Campaign(c.ID); err != nil {
		return ""
	}
	if st, err = s.Store.SendState(c.ID); err != nil || st.Remaining() == 0 ||
		(c.Status != store.StatusSending && c.Status != store.StatusPaused) {
		return ""
	}
	if _, err := s.requeueLost(ctx, rdb, "tui", c, st, nil); err != nil {
		return "Redis lost the queue of this send and queueing it again from the ledger failed: " + err.Error() +
			fmt.Sprintf(" — run `tui campaign resume %d`", c.ID)
	}
	return ""
}
