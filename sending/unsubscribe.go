package sending

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/queue"
	"tui/store"
)

// Unsubscribes wait in Redis (queue.UnsubscribesKey) until the process
// that owns the database folds them into the suppression list. When that
// process dials Redis for them is a rule of its own, beside "nothing dials
// Redis until a send starts": only a database that has sent messages
// carrying unsubscribe links can have unsubscribes pending, so only such a
// database looks for them — when its owner starts, every
// UnsubscribeFoldEvery while it runs, and before each send's ledger is
// written. Someone who never sent with links configured is never dialled
// for this.

// UnsubscribeFoldEvery is how often a running owner looks for unsubscribes.
const UnsubscribeFoldEvery = 30 * time.Second

const unsubscribeBatch = 500

// UnsubscribesExpected reports whether unsubscribes may be pending: messages
// with unsubscribe links have gone out from this database.
func (s *Service) UnsubscribesExpected() bool {
	sent, err := s.Store.LinksSent()
	return err == nil && sent
}

// FoldUnsubscribes folds every unsubscribe waiting in Redis into the
// suppression list, then trims what it folded. It returns the entries it
// added (an address already suppressed keeps its entry).
//
// This database is one of the stream's readers (a copy of the file is
// another): it notes in Redis where it has folded to, and the stream is
// trimmed only as far as every reader has.
func (s *Service) FoldUnsubscribes(ctx context.Context, rdb redis.UniversalClient) ([]store.Suppression, error) {
	ident, err := s.identity()
	if err != nil {
		return nil, err
	}
	var added []store.Suppression
	for first := true; ; first = false {
		cursor, err := s.Store.UnsubscribeCursor()
		if err != nil {
			return added, err
		}
		if first {
			// Before reading: from now on, nobody trims what this
			// database has not folded.
			if err := queue.NoteUnsubscribeReader(ctx, rdb, ident.ID, cursor, time.Now()); err != nil {
				return added, err
			}
		}
		got, err := queue.UnsubscribesAfter(ctx, rdb, cursor, unsubscribeBatch)
		if err != nil || len(got) == 0 {
			return added, err
		}
		reqs := make([]store.UnsubscribeRequest, 0, len(got))
		for _, u := range got {
			if u.Campaign == 0 {
				continue // malformed: trimmed with the rest
			}
			if u.DB != "" && !ident.Names(u.DB) {
				continue // another database's link: its owner takes it
			}
			reqs = append(reqs, store.UnsubscribeRequest{Campaign: u.Campaign, Contact: u.Contact, Via: u.Via, At: u.At})
		}
		last := got[len(got)-1].ID
		more, err := s.Store.ApplyUnsubscribes(last, reqs)
		if err != nil {
			return added, err
		}
		added = append(added, more...)
		// Only what every reader's database holds is trimmed; a failed
		// trim is done by the next fold.
		if err := queue.NoteUnsubscribeReader(ctx, rdb, ident.ID, last, time.Now()); err != nil {
			return added, err
		}
		if err := queue.TrimUnsubscribes(ctx, rdb, time.Now()); err != nil {
			return added, err
		}
		if len(got) < unsubscribeBatch {
			return added, nil
		}
	}
}

// beforeSend runs once Redis is dialled for a send and before its ledger is
// written: it notes that this send's messages carry unsubscribe links, and
// folds the unsubscribes already waiting, so nobody who asked to hear no
// more is written into the ledger.
func (s *Service) beforeSend(ctx context.Context, rdb redis.UniversalClient) error {
	if s.Links != nil {
		if err := s.Store.NoteLinksSent(); err != nil {
			return err
		}
	}
	if !s.UnsubscribesExpected() {
		return nil
	}
	if _, err := s.FoldUnsubscribes(ctx, rdb); err != nil {
		return fmt.Errorf("fold the unsubscribes waiting in Redis before the send (nothing changed; try again): %w", err)
	}
	return nil
}

// WatchUnsubscribes folds unsubscribes at once and then every interval,
// until ctx ends, as long as the database expects them; it dials Redis
// only then. onFold, when set, hears of the entries each fold added.
// Redis trouble only delays the next fold.
func (s *Service) WatchUnsubscribes(ctx context.Context, every time.Duration, onFold func([]store.Suppression)) {
	failures := 0
	for ctx.Err() == nil {
		wait := every
		if s.UnsubscribesExpected() {
			rdb, err := s.Conn.Client(ctx)
			var added []store.Suppression
			if err == nil {
				added, err = s.FoldUnsubscribes(ctx, rdb)
			}
			switch {
			case err != nil:
				failures++
				wait = min(queue.Backoff(failures+2), every)
			default:
				failures = 0
				if len(added) > 0 && onFold != nil {
					onFold(added)
				}
			}
		}
		if !queue.Sleep(ctx, wait) {
			return
		}
	}
}

// CatchUpUnsubscribes folds the unsubscribes waiting in Redis before a
// preflight, so that it leaves out and counts everyone who asked to hear no
// more; a send is about to dial Redis anyway. It does nothing (and dials
// nothing) unless the database expects unsubscribes. Start folds again
// before it writes the ledger, so an error here only makes the preflight's
// count late.
func (s *Service) CatchUpUnsubscribes(ctx context.Context) error {
	if !s.UnsubscribesExpected() {
		return nil
	}
	rdb, err := s.Conn.Client(ctx)
	if err != nil {
		return err
	}
	_, err = s.FoldUnsubscribes(ctx, rdb)
	return err
}
