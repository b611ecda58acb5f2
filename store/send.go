package store

import (
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SendState is the bookkeeping of a campaign's current send round.
type SendState struct {
	CampaignID uint64    `json:"campaign_id"`
	Round      int       `json:"round"`    // 1 for the first send; retries start new rounds
	Total      int       `json:"total"`    // recipients in the ledger
	Enqueued   bool      `json:"enqueued"` // every queued recipient of this round is in the queue
	StartedAt  time.Time `json:"started_at"`
	StartedBy  string    `json:"started_by"`
	// RoundStartedAt and RoundStartedBy are when and by whom the current
	// round began: a retry of the failed, for a round after the first (see
	// RoundStart). RoundBase is how many recipients had an outcome other
	// than cancelled when it began, so that the round's pace counts its own.
	RoundStartedAt time.Time `json:"round_started_at,omitzero"`
	RoundStartedBy string    `json:"round_started_by,omitempty"`
	RoundBase      int       `json:"round_base,omitempty"`
	// Counts is the ledger's recipients by state, kept up to date by every
	// change so that nobody has to scan a million rows to show a number.
	Counts map[RecipientState]int `json:"counts"`
	// EventCursor is the ID of the last event folded into the ledger.
	EventCursor string `json:"event_cursor,omitempty"`
	// FinishedAt is when every recipient reached a final state.
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// CancelledAt is when the send was cancelled.
	CancelledAt *time.Time `json:"cancelled_at,omitempty"`
	// LedgerPending is set while the ledger is still being written, a
	// chunk at a time; LedgerAfter is the last contact it holds.
	LedgerPending bool   `json:"ledger_pending,omitempty"`
	LedgerAfter   uint64 `json:"ledger_after,omitempty"`
	// Redelivered counts recipients possibly delivered twice: delivered in
	// an attempt that may have repeated an earlier one (see LedgerEntry).
	Redelivered int `json:"redelivered"`
	// Losses are the times Redis lost this send's queue (restarted empty,
	// flushed) and the owner queued again from the ledger.
	Losses []QueueLoss `json:"losses,omitempty"`
	// FailRun counts the recipients that failed for good, in the order
	// their outcomes were folded, since the last one delivered: a run that
	// long says the channel fails everyone (see sending.FailRunPause).
	FailRun int `json:"fail_run,omitempty"`
}

// QueueLoss is one time Redis lost a send's queue.
type QueueLoss struct {
	At       time.Time `json:"at"`
	Requeued int       `json:"requeued"` // recipients queued again from the ledger
}

// Remaining is how many recipients are not final yet.
func (s *SendState) Remaining() int {
	return s.Counts[RecipientQueued] + s.Counts[RecipientRetrying]
}

// RoundStart is when the current round began, and by whom: the send's
// start for its first round, and for a send recorded before rounds kept
// their own.
func (s *SendState) RoundStart() (time.Time, string) {
	if s.RoundStartedAt.IsZero() {
		return s.StartedAt, s.StartedBy
	}
	return s.RoundStartedAt, s.RoundStartedBy
}

// ErrNoRecipients means a send would reach nobody.
var ErrNoRecipients = errors.New("the audience is empty")

// LedgerChunk is how many ledger rows one transaction writes. A send of a
// million recipients wrote its ledger in one transaction: seconds before
// the first job was queued, and the whole ledger's pages held in memory.
// A chunk is small, so that the first jobs reach the workers a moment
// after the preflight, the next chunk written while they deliver; and
// because bbolt holds a transaction's new rows in one node until the
// commit, a chunk of 50,000 cost the sender more CPU than ten of 5,000
// (the node's slice grown and copied, its pages split at once).
// Tests make it smaller to write many chunks.
var LedgerChunk = 5_000

// maxLedgerChunk bounds the chunks ledgerChunkAfter grows.
const maxLedgerChunk = 50_000

// ledgerChunkAfter is the size of a chunk after the first: each chunk's
// transaction reads the whole suppression list to know whom to leave out,
// so that a long list read for every 5,000 rows would cost more than the
// rows. Chunks grow to eight times the list, up to maxLedgerChunk.
func ledgerChunkAfter(suppressed int) int {
	return min(max(LedgerChunk, 8*suppressed), max(LedgerChunk, maxLedgerChunk))
}

// StartSend moves a draft or scheduled campaign to sending and writes the
// first chunk of its ledger — one `queued` row per recipient, in contact
// order — in one transaction: either all of that happens or none. When the
// audience is larger, SendState.LedgerPending says so and ContinueLedger
// writes the rest, a chunk per transaction; a start interrupted between
// chunks goes on from the last row written. version must be the version
// the preflight saw; if the campaign changed since, it returns a
// *ConflictError.
func (s *Store) StartSend(actor string, id, version uint64) (Campaign, SendState, error) {
	var c Campaign
	var st SendState
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCampaigns)
		if err := getJSON(b, itob(id), &c); err != nil {
			return err
		}
		if version != 0 && c.Version != version {
			return &ConflictError{Campaign: c}
		}
		if !c.Status.Editable() || !CanMove(c.Status, StatusSending) {
			return &TransitionError{Name: c.Name, From: c.Status, To: StatusSending}
		}
		sends := tx.Bucket(bucketSends)
		var prev SendState
		if err := getJSON(sends, itob(id), &prev); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		ledgers := tx.Bucket(bucketLedger)
		if ledgers.Bucket(itob(id)) != nil {
			if err := ledgers.DeleteBucket(itob(id)); err != nil {
				return err
			}
		}
		ledger, err := ledgers.CreateBucket(itob(id))
		if err != nil {
			return err
		}
		now := s.now().UTC()
		round := prev.Round + 1
		n, last, more, err := writeLedgerChunk(tx, &c, ledger, round, now, 0, true)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("campaign %q: %w: add contacts with its tags, or change its tags", c.Name, ErrNoRecipients)
		}
		st = SendState{CampaignID: id, Round: round, Total: n, StartedAt: now, StartedBy: actor,
			Counts: map[RecipientState]int{RecipientQueued: n}, LedgerPending: more, LedgerAfter: last}
		if err := putJSON(sends, itob(id), &st); err != nil {
			return err
		}
		from := c.Status
		c.Status, c.Version, c.UpdatedAt, c.UpdatedBy = StatusSending, c.Version+1, now, actor
		c.LastSend = &SendInfo{StartedAt: now, StartedBy: actor, Total: n}
		if err := putJSON(b, itob(id), &c); err != nil {
			return err
		}
		count := fmt.Sprintf("%d recipients", n)
		if more {
			count = fmt.Sprintf("the first %d recipients in the ledger, the rest to follow", n)
		}
		return s.audit(tx, actor, "campaign.send", c.ref(), fmt.Sprintf("%s → sending; %s", from, count))
	})
	if err != nil {
		return Campaign{}, SendState{}, fmt.Errorf("start sending campaign %d: %w", id, err)
	}
	return c, st, nil
}

// ContinueLedger writes the next chunk of a send's ledger, if any is left,
// and returns the send's bookkeeping.
func (s *Store) ContinueLedger(id uint64) (SendState, error) {
	var st SendState
	err := s.db.Update(func(tx *bolt.Tx) error {
		sends := tx.Bucket(bucketSends)
		if err := getJSON(sends, itob(id), &st); err != nil {
			return err
		}
		if !st.LedgerPending {
			return nil
		}
		b := tx.Bucket(bucketCampaigns)
		var c Campaign
		if err := getJSON(b, itob(id), &c); err != nil {
			return err
		}
		ledger := tx.Bucket(bucketLedger).Bucket(itob(id))
		if ledger == nil {
			return fmt.Errorf("campaign %d has no ledger", id)
		}
		n, last, more, err := writeLedgerChunk(tx, &c, ledger, st.Round, s.now().UTC(), st.LedgerAfter, false)
		if err != nil {
			return err
		}
		st.Total += n
		st.Counts[RecipientQueued] += n
		if n > 0 {
			st.LedgerAfter = last
		}
		st.LedgerPending = more
		if c.LastSend != nil {
			c.LastSend.Total = st.Total
			if err := putJSON(b, itob(id), &c); err != nil {
				return err
			}
		}
		return putJSON(sends, itob(id), &st)
	})
	if err != nil {
		return st, fmt.Errorf("write the ledger of campaign %d: %w", id, err)
	}
	return st, nil
}

// writeLedgerChunk writes a chunk of `queued` rows (LedgerChunk, or
// ledgerChunkAfter when not the first) for the audience after contact ID
// after, in ascending order, and says how many it wrote, the last contact,
// and whether more remain.
func writeLedgerChunk(tx *bolt.Tx, c *Campaign, ledger *bolt.Bucket, round int, now time.Time, after uint64, first bool) (n int, last uint64, more bool, err error) {
	ledger.FillPercent = 1 // keys arrive in ascending order
	entry := LedgerEntry{CampaignID: c.ID, State: RecipientQueued, Round: round, UpdatedAt: now}
	var arena []byte // bbolt keeps the value slices until commit: never reuse them
	a := newAudienceTx(tx, c)
	// A chunk is shorter than releaseEvery: the map is released at its end.
	defer a.walk.end()
	size := LedgerChunk
	if !first {
		size = ledgerChunkAfter(len(a.suppressed))
	}
	err = a.eachAfter(after, func(key, raw []byte) (bool, error) {
		if n == size {
			more = true
			return false, nil
		}
		entry.ContactID = btoi(key)
		n++
		last = entry.ContactID
		if cap(arena)-len(arena) < 256+len(raw) {
			arena = make([]byte, 0, max(64<<10, 256+len(raw)))
		}
		start := len(arena)
		var err error
		if addr, ok := rawContactAddress(raw); ok {
			arena, err = appendLedgerRow(arena, &entry, addr)
		} else if entry.Address, err = contactAddress(raw); err == nil {
			arena, err = appendLedgerEntry(arena, &entry)
		}
		if err != nil {
			return false, err
		}
		return true, ledger.Put(key, arena[start:len(arena):len(arena)])
	})
	return n, last, more, err
}

// SendState reads a campaign's send bookkeeping; ErrNotFound if it was never sent.
func (s *Store) SendState(id uint64) (SendState, error) {
	var st SendState
	err := s.db.View(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bucketSends), itob(id), &st) })
	if err != nil {
		return SendState{}, fmt.Errorf("read send state of campaign %d: %w", id, err)
	}
	return st, nil
}

// MarkEnqueued records that every queued recipient of a round is in the queue.
func (s *Store) MarkEnqueued(id uint64, round int) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSends)
		var st SendState
		if err := getJSON(b, itob(id), &st); err != nil {
			return err
		}
		if st.Round != round {
			return fmt.Errorf("round %d is over; the campaign is in round %d", round, st.Round)
		}
		st.Enqueued = true
		return putJSON(b, itob(id), &st)
	})
	if err != nil {
		return fmt.Errorf("record the enqueue of campaign %d: %w", id, err)
	}
	return nil
}

// RecordQueueLoss notes that Redis lost the send's queue at `at` and that
// requeued recipients were queued again from the ledger, in the send's
// bookkeeping and the audit log.
func (s *Store) RecordQueueLoss(actor string, id uint64, at time.Time, requeued int) (SendState, error) {
	var st SendState
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSends)
		if err := getJSON(b, itob(id), &st); err != nil {
			return err
		}
		st.Losses = append(st.Losses, QueueLoss{At: at.UTC(), Requeued: requeued})
		if err := putJSON(b, itob(id), &st); err != nil {
			return err
		}
		var c Campaign
		if err := getJSON(tx.Bucket(bucketCampaigns), itob(id), &c); err != nil {
			return err
		}
		return s.audit(tx, actor, "campaign.requeue", c.ref(),
			fmt.Sprintf("Redis lost the queue; %d recipients queued again from the ledger, each marked as a possible redelivery", requeued))
	})
	if err != nil {
		return st, fmt.Errorf("record the lost queue of campaign %d: %w", id, err)
	}
	return st, nil
}

// RawContact is a contact record copied out of the database, decoded later
// (and in parallel) by whoever needs its fields.
type RawContact []byte

// Decode reads the record.
func (r RawContact) Decode() (Contact, error) {
	var c Contact
	err := decodeContact(r, &c)
	return c, err
}

// DecodeForMessage reads only what rendering a message needs: ID, address,
// name and fields.
func (r RawContact) DecodeForMessage() (Contact, error) {
	var c Contact
	err := decodeMessageFields(r, &c)
	return c, err
}

// ForEachQueued visits, in contact order, the ledger rows of a campaign that
// are still waiting (queued, or retrying) and whose contact ID is above
// after, with the contact's
// record (nil when the contact was deleted since the send started). fn
// returns false to stop.
func (s *Store) ForEachQueued(id, after uint64, fn func(e *LedgerEntry, c RawContact) bool) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		ledger := tx.Bucket(bucketLedger).Bucket(itob(id))
		if ledger == nil {
			return nil
		}
		// Both buckets are keyed by contact ID, so one forward cursor over
		// the contacts follows the ledger without a seek from the root per
		// row; the records are copied into shared chunks, not one by one.
		contacts := &forwardCursor{c: tx.Bucket(bucketContacts).Cursor()}
		var arena []byte
		walk := mapWalk{tx: tx}
		cur := ledger.Cursor()
		for k, v := cur.Seek(itob(after + 1)); k != nil; k, v = cur.Next() {
			walk.row()
			if len(v) > 1 && v[0] <= ledgerCodecVersion {
				if st := v[1] &^ redeliveredBit; st != stateCode(RecipientQueued) && st != stateCode(RecipientRetrying) {
					continue // final: skip without decoding
				}
			}
			var e LedgerEntry
			if err := decodeLedgerEntry(v, &e); err != nil {
				return err
			}
			if e.State.Final() {
				continue
			}
			var raw RawContact
			if v, ok := contacts.find(k); ok {
				raw = arenaCopy(&arena, v)
			}
			if !fn(&e, raw) {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the queued recipients of campaign %d: %w", id, err)
	}
	return nil
}

// arenaCopy copies a record out of a transaction into a shared chunk: one
// allocation for hundreds of records instead of one each. Empty is nil, as a
// plain copy would be.
func arenaCopy(arena *[]byte, v []byte) RawContact {
	if len(v) == 0 {
		return nil
	}
	checkRecordSize(v)
	if cap(*arena)-len(*arena) < len(v) {
		*arena = make([]byte, 0, max(64<<10, len(v)))
	}
	start := len(*arena)
	*arena = append(*arena, v...)
	return RawContact((*arena)[start:len(*arena):len(*arena)])
}

// minPartIDs is the least span of contact IDs ForEachRecipientInParts
// gives a part of its own. Tests make it small to walk many parts.
var minPartIDs uint64 = 4096

// ForEachRecipientInParts walks a campaign's audience in parts of the
// contact ID range, each in a read transaction and a goroutine of its own,
// and calls fn with each recipient, its part and its contact ID, in
// ascending ID order within the part: the recipients the ledger is written
// for, in its order. raw is valid only during the call; a false from fn
// stops that part. An audience of a small ID range is walked in one part.
func (s *Store) ForEachRecipientInParts(c *Campaign, parts int, fn func(part int, id uint64, raw RawContact) bool) error {
	var first, last uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketContacts).Cursor()
		if k, _ := cur.First(); k != nil {
			first = btoi(k)
		}
		if k, _ := cur.Last(); k != nil {
			last = btoi(k)
		}
		return nil
	})
	if err != nil || last == 0 {
		return err
	}
	span := last - first + 1
	parts = int(max(1, min(uint64(parts), span/minPartIDs)))
	step := span / uint64(parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		after, upTo := first-1+step*uint64(p), first-1+step*uint64(p+1)
		if p == parts-1 {
			upTo = last
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[p] = s.db.View(func(tx *bolt.Tx) error {
				a := newAudienceTx(tx, c)
				defer a.walk.end()
				return a.eachAfter(after, func(key, raw []byte) (bool, error) {
					id := btoi(key)
					return id <= upTo && fn(p, id, raw), nil
				})
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("resolve the audience of %q: %w", c.Name, err)
	}
	return nil
}

// LedgerRank counts a campaign's ledger rows whose contact ID is at most
// upTo: how many recipients an enqueue that stopped at upTo had covered.
func (s *Store) LedgerRank(id, upTo uint64) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		ledger := tx.Bucket(bucketLedger).Bucket(itob(id))
		if ledger == nil || upTo == 0 {
			return nil
		}
		cur := ledger.Cursor()
		for k, _ := cur.First(); k != nil && btoi(k) <= upTo; k, _ = cur.Next() {
			n++
		}
		return nil
	})
	return n, err
}
