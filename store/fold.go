package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RecipientEvent is a worker's report on one recipient, as the ledger folds
// it. State is the state it reports (sent, failed, retrying, skipped), or
// empty for news that changes no state (a job taken over by another worker).
type RecipientEvent struct {
	ContactID uint64
	Round     int
	State     RecipientState
	Attempt   int
	Reason    string
	// TakenOver: the job was taken over from a worker that stopped
	// answering, which may have delivered it before.
	TakenOver bool
	// Bounce: the provider refused the address for good; it is suppressed
	// in the same transaction, with Reason.
	Bounce bool
	At     time.Time
}

// merge folds one event into a ledger entry. It is idempotent and
// order-insensitive: an event read twice, or late, changes nothing. A
// delivery is never undone; otherwise the first final state stands; older
// rounds are history; attempts only grow.
func merge(e *LedgerEntry, ev *RecipientEvent) bool {
	if ev.Round != 0 && ev.Round < e.Round {
		return false
	}
	changed := false
	// Possibly delivered twice: sent in an attempt taken over from a
	// worker that stopped answering (it may have delivered first), or sent
	// in two attempts (a delivery whose record Redis lost, recorded again
	// by its worker beside the one queued again after the loss).
	if ev.State == RecipientSent && !e.Redelivered &&
		(ev.TakenOver || (e.State == RecipientSent && ev.Attempt != e.Attempts)) {
		e.Redelivered, changed = true, true
	}
	if ev.Attempt > e.Attempts {
		e.Attempts, changed = ev.Attempt, true
	}
	switch {
	case ev.State == "":
	case e.State == RecipientSent:
	case ev.State == RecipientSent:
		e.State, e.LastError, changed = RecipientSent, "", true
	case e.State.Final():
	case ev.State.Final():
		e.State, e.LastError, changed = ev.State, ev.Reason, true
	case ev.State == RecipientRetrying && ev.Attempt >= e.Attempts:
		if e.State != RecipientRetrying || e.LastError != ev.Reason {
			e.State, e.LastError, changed = RecipientRetrying, ev.Reason, true
		}
	}
	if changed && ev.At.After(e.UpdatedAt) {
		e.UpdatedAt = ev.At
	}
	return changed
}

// FoldResult is what folding a batch of events did.
type FoldResult struct {
	Campaign  Campaign
	Send      SendState
	Changed   int
	Completed bool          // this fold finished the send
	Failed    []LedgerEntry // recipients that failed in this fold
	// LastRetry is the last recipient this fold left to be tried again,
	// with the reason of its last try, or nil: while recipients wait for
	// another try, the only word on why.
	LastRetry *LedgerEntry
	// FailRunBefore is the send's FailRun before this fold.
	FailRunBefore int
}

// ApplyEvents folds events of one campaign into its ledger and records the
// stream position they came from, in one transaction. Events at or before
// the recorded position are folded again harmlessly. When every recipient
// is final, the campaign becomes completed.
func (s *Store) ApplyEvents(campaignID uint64, cursor string, events []RecipientEvent) (FoldResult, error) {
	var res FoldResult
	err := s.db.Update(func(tx *bolt.Tx) error {
		states := map[uint64]*SendState{}
		st, err := sendStateTx(tx, campaignID, states)
		if err != nil {
			return err
		}
		if st == nil {
			return fmt.Errorf("campaign %d has never been sent", campaignID)
		}
		res.FailRunBefore = st.FailRun
		ledger := tx.Bucket(bucketLedger).Bucket(itob(campaignID))
		if ledger == nil {
			return fmt.Errorf("campaign %d has no ledger", campaignID)
		}
		// The ledger rows a fold reads are released with the rest of the
		// map: the folds of a send read every row of its ledger.
		walk := mapWalk{tx: tx}
		defer walk.end()
		// Keys and rows written go to arenas: bbolt keeps the slices until
		// the commit, so they are never reused, but a fold of thousands of
		// events costs a few allocations instead of two per event.
		var keys, rows []byte
		cur := ledger.Cursor()
		for i := range events {
			walk.row()
			ev := &events[i]
			if cap(keys)-len(keys) < 8 {
				keys = make([]byte, 0, 8*min(len(events)-i, 4096))
			}
			keys = binary.BigEndian.AppendUint64(keys, ev.ContactID)
			key := keys[len(keys)-8 : len(keys) : len(keys)]
			// A Seek on the transaction's one cursor, not a Get: a Get makes
			// a cursor of its own each time, and grows its stack anew.
			k, raw := cur.Seek(key)
			if raw == nil || !bytes.Equal(k, key) {
				continue // not a recipient of this send (a stale stream)
			}
			var e LedgerEntry
			if err := decodeLedgerEntry(raw, &e); err != nil {
				return err
			}
			if ev.Bounce {
				if err := s.suppressBounceTx(tx, campaignID, e.Address, ev); err != nil {
					return err
				}
			}
			before, wasRedelivered := e.State, e.Redelivered
			if !merge(&e, ev) {
				continue
			}
			res.Changed++
			if e.Redelivered && !wasRedelivered {
				st.Redelivered++
			}
			if before != e.State {
				st.Counts[before]--
				st.Counts[e.State]++
				switch e.State {
				case RecipientFailed:
					st.FailRun++
					if len(res.Failed) < 100 {
						res.Failed = append(res.Failed, e)
					}
				case RecipientSent:
					st.FailRun = 0
				}
			}
			if e.State == RecipientRetrying {
				retry := e
				res.LastRetry = &retry
			}
			if cap(rows)-len(rows) < 512 {
				rows = make([]byte, 0, 64<<10)
			}
			start := len(rows)
			var err error
			if rows, err = appendLedgerEntry(rows, &e); err != nil {
				return err
			}
			if err := ledger.Put(key, rows[start:len(rows):len(rows)]); err != nil {
				return err
			}
		}
		if CompareStreamIDs(cursor, st.EventCursor) > 0 {
			st.EventCursor = cursor
		}
		c, err := s.noteProgressTx(tx, campaignID, st, &res)
		if err != nil {
			return err
		}
		res.Campaign = c
		if err := putSendStates(tx, states); err != nil {
			return err
		}
		res.Send = *st
		return nil
	})
	if err != nil {
		return FoldResult{}, fmt.Errorf("fold events of campaign %d: %w", campaignID, err)
	}
	return res, nil
}

// noteProgressTx copies the counts into the campaign's last-send summary and
// completes the campaign when nothing is left to do.
func (s *Store) noteProgressTx(tx *bolt.Tx, id uint64, st *SendState, res *FoldResult) (Campaign, error) {
	b := tx.Bucket(bucketCampaigns)
	var c Campaign
	if err := getJSON(b, itob(id), &c); err != nil {
		return c, err
	}
	if c.LastSend == nil {
		c.LastSend = &SendInfo{StartedAt: st.StartedAt, StartedBy: st.StartedBy}
	}
	c.LastSend.Total = st.Total
	c.LastSend.Sent = st.Counts[RecipientSent]
	c.LastSend.Failed = st.Counts[RecipientFailed]
	if st.Enqueued && st.Remaining() == 0 && c.Status == StatusSending {
		now := s.now().UTC()
		st.FinishedAt = &now
		c.LastSend.FinishedAt = &now
		if err := putJSON(b, itob(id), &c); err != nil {
			return c, err
		}
		done, err := s.setStatusTx(tx, "tui", id, StatusCompleted)
		if err != nil {
			return c, err
		}
		res.Completed = true
		return done, nil
	}
	return c, putJSON(b, itob(id), &c)
}

// CompareStreamIDs orders two Redis stream IDs ("ms-seq"); "" is the start.
func CompareStreamIDs(a, b string) int {
	am, as := splitStreamID(a)
	bm, bs := splitStreamID(b)
	switch {
	case am != bm:
		if am < bm {
			return -1
		}
		return 1
	case as != bs:
		if as < bs {
			return -1
		}
		return 1
	}
	return 0
}

func splitStreamID(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	s, _ := strconv.ParseUint(seq, 10, 64)
	return m, s
}
