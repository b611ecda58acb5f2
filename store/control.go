package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CancelSend cancels a sending or paused campaign: every recipient not yet
// final becomes cancelled, in the transaction that moves the status.
func (s *Store) CancelSend(actor string, id uint64) (Campaign, SendState, error) {
	var c Campaign
	var st SendState
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if c, err = s.setStatusTx(tx, actor, id, StatusCancelled); err != nil {
			return err
		}
		states := map[uint64]*SendState{}
		sp, err := sendStateTx(tx, id, states)
		if err != nil || sp == nil {
			return err
		}
		now := s.now().UTC()
		if ledger := tx.Bucket(bucketLedger).Bucket(itob(id)); ledger != nil {
			cur := ledger.Cursor()
			for k, v := cur.First(); k != nil; k, v = cur.Next() {
				var e LedgerEntry
				if err := decodeLedgerEntry(v, &e); err != nil {
					return err
				}
				if e.State.Final() {
					continue
				}
				sp.Counts[e.State]--
				sp.Counts[RecipientCancelled]++
				e.State, e.UpdatedAt = RecipientCancelled, now
				data, err := appendLedgerEntry(nil, &e)
				if err != nil {
					return err
				}
				if err := ledger.Put(k, data); err != nil {
					return err
				}
			}
		}
		sp.CancelledAt = &now
		sp.FinishedAt = &now
		if c.LastSend != nil {
			c.LastSend.FinishedAt = &now
			if err := putJSON(tx.Bucket(bucketCampaigns), itob(id), &c); err != nil {
				return err
			}
		}
		st = *sp
		return putSendStates(tx, states)
	})
	if err != nil {
		return Campaign{}, SendState{}, fmt.Errorf("cancel campaign %d: %w", id, err)
	}
	return c, st, nil
}

// RetryFailed starts a new round for the recipients that failed (or were
// skipped): they are queued again, everyone else keeps their outcome. The
// campaign becomes sending. It returns the new round and how many were
// re-queued.
func (s *Store) RetryFailed(actor string, id uint64) (Campaign, SendState, int, error) {
	var c Campaign
	var st SendState
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCampaigns)
		if err := getJSON(b, itob(id), &c); err != nil {
			return err
		}
		states := map[uint64]*SendState{}
		sp, err := sendStateTx(tx, id, states)
		if err != nil {
			return err
		}
		if sp == nil {
			return fmt.Errorf("campaign %q has never been sent", c.Name)
		}
		ledger := tx.Bucket(bucketLedger).Bucket(itob(id))
		if ledger == nil {
			return fmt.Errorf("campaign %q has no ledger", c.Name)
		}
		now := s.now().UTC()
		round := sp.Round + 1
		cur := ledger.Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			var e LedgerEntry
			if err := decodeLedgerEntry(v, &e); err != nil {
				return err
			}
			if e.State != RecipientFailed && e.State != RecipientSkipped {
				continue
			}
			sp.Counts[e.State]--
			sp.Counts[RecipientQueued]++
			e.State, e.Round, e.Attempts, e.LastError, e.UpdatedAt = RecipientQueued, round, 0, "", now
			data, err := appendLedgerEntry(nil, &e)
			if err != nil {
				return err
			}
			if err := ledger.Put(k, data); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return fmt.Errorf("campaign %q has no failed recipients to retry", c.Name)
		}
		if c.Status != StatusSending {
			if c, err = s.setStatusTx(tx, actor, id, StatusSending); err != nil {
				return err
			}
		}
		sp.Round, sp.Enqueued, sp.FinishedAt = round, false, nil
		sp.RoundStartedAt, sp.RoundStartedBy, sp.RoundBase = now, actor, sp.Counts[RecipientSent]
		if c.LastSend != nil {
			c.LastSend.FinishedAt = nil
			if err := putJSON(b, itob(id), &c); err != nil {
				return err
			}
		}
		st = *sp
		if err := putSendStates(tx, states); err != nil {
			return err
		}
		return s.audit(tx, actor, "campaign.retry_failed", c.ref(), fmt.Sprintf("round %d; %d recipients", round, n))
	})
	if err != nil {
		return Campaign{}, SendState{}, 0, fmt.Errorf("retry failed recipients of campaign %d: %w", id, err)
	}
	return c, st, n, nil
}

// FollowedCampaigns are the campaigns whose events still matter: sending or
// paused, and those cancelled within the last window, whose in-flight
// deliveries may still report.
func (s *Store) FollowedCampaigns(window time.Duration) ([]Campaign, error) {
	all, err := s.Campaigns()
	if err != nil {
		return nil, err
	}
	var out []Campaign
	for _, c := range all {
		switch c.Status {
		case StatusSending, StatusPaused:
			out = append(out, c)
		case StatusCancelled:
			if st, err := s.SendState(c.ID); err == nil && st.CancelledAt != nil && s.now().Sub(*st.CancelledAt) < window {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// SetRate changes a campaign's rate in any status — a send under way too:
// rate is how fast, not what, so it needs no new preflight.
func (s *Store) SetRate(actor string, id uint64, rate int) (Campaign, error) {
	if rate < 0 || rate > MaxRate {
		return Campaign{}, &ValidationError{Fields: []*FieldError{{Field: "rate",
			Msg: fmt.Sprintf("messages per second must be between 0 (no limit) and %d", MaxRate)}}}
	}
	var c Campaign
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCampaigns)
		if err := getJSON(b, itob(id), &c); err != nil {
			return err
		}
		from := c.Rate
		c.Rate, c.Version, c.UpdatedAt, c.UpdatedBy = rate, c.Version+1, s.now().UTC(), actor
		if err := putJSON(b, itob(id), &c); err != nil {
			return err
		}
		return s.audit(tx, actor, "campaign.rate", c.ref(), fmt.Sprintf("%d/s → %d/s", from, rate))
	})
	if err != nil {
		return Campaign{}, fmt.Errorf("set the rate of campaign %d: %w", id, err)
	}
	return c, nil
}
