package store

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RecipientState is where one recipient of a send stands.
type RecipientState string

// The recipient states of the ledger.
const (
	RecipientQueued    RecipientState = "queued"
	RecipientRetrying  RecipientState = "retrying"
	RecipientSent      RecipientState = "sent"
	RecipientFailed    RecipientState = "failed"
	RecipientSkipped   RecipientState = "skipped"
	RecipientCancelled RecipientState = "cancelled"
)

// Final reports whether nothing more will happen to the recipient.
func (s RecipientState) Final() bool {
	return s == RecipientSent || s == RecipientFailed || s == RecipientSkipped || s == RecipientCancelled
}

// LedgerEntry is the truth about one recipient of one campaign.
type LedgerEntry struct {
	CampaignID uint64         `json:"campaign_id"`
	ContactID  uint64         `json:"contact_id"`
	Address    string         `json:"address"`
	State      RecipientState `json:"state"`
	Round      int            `json:"round"` // the send round that last (re)queued the recipient
	Attempts   int            `json:"attempts"`
	LastError  string         `json:"last_error,omitempty"`
	UpdatedAt  time.Time      `json:"updated_at"`
	// Redelivered: the recipient was delivered in an attempt that may have
	// repeated an earlier delivery (a job taken over from a worker that
	// stopped answering, or queued again after Redis lost the queue).
	Redelivered bool `json:"redelivered,omitempty"`
}

// Key is the idempotency key of the delivery: campaignID:contactID.
func (e *LedgerEntry) Key() string { return fmt.Sprintf("%d:%d", e.CampaignID, e.ContactID) }

// PutLedger writes ledger entries in one transaction, keeping the send's
// counts by state right.
func (s *Store) PutLedger(entries []LedgerEntry) error {
	if len(entries) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		states := map[uint64]*SendState{}
		for i := range entries {
			e := &entries[i]
			b, err := tx.Bucket(bucketLedger).CreateBucketIfNotExists(itob(e.CampaignID))
			if err != nil {
				return err
			}
			if e.UpdatedAt.IsZero() {
				e.UpdatedAt = s.now().UTC()
			}
			st, err := sendStateTx(tx, e.CampaignID, states)
			if err != nil {
				return err
			}
			if old := b.Get(itob(e.ContactID)); old != nil && st != nil {
				var prev LedgerEntry
				if err := decodeLedgerEntry(old, &prev); err != nil {
					return err
				}
				st.Counts[prev.State]--
			}
			if st != nil {
				st.Counts[e.State]++
			}
			data, err := appendLedgerEntry(nil, e)
			if err != nil {
				return err
			}
			if err := b.Put(itob(e.ContactID), data); err != nil {
				return err
			}
		}
		return putSendStates(tx, states)
	})
	if err != nil {
		return fmt.Errorf("write ledger: %w", err)
	}
	return nil
}

// sendStateTx loads a campaign's send state once per transaction; nil when
// the campaign was never sent.
func sendStateTx(tx *bolt.Tx, id uint64, cache map[uint64]*SendState) (*SendState, error) {
	if st, ok := cache[id]; ok {
		return st, nil
	}
	var st SendState
	err := getJSON(tx.Bucket(bucketSends), itob(id), &st)
	if errors.Is(err, ErrNotFound) {
		cache[id] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if st.Counts == nil {
		st.Counts = map[RecipientState]int{}
	}
	cache[id] = &st
	return &st, nil
}

func putSendStates(tx *bolt.Tx, states map[uint64]*SendState) error {
	for id, st := range states {
		if st == nil {
			continue
		}
		for k, v := range st.Counts {
			if v <= 0 {
				delete(st.Counts, k)
			}
		}
		if err := putJSON(tx.Bucket(bucketSends), itob(id), st); err != nil {
			return err
		}
	}
	return nil
}

// LedgerCounts counts a campaign's recipients by state. A send keeps its
// counts as it goes; only a campaign without send state is scanned.
func (s *Store) LedgerCounts(campaignID uint64) (map[RecipientState]int, error) {
	counts := map[RecipientState]int{}
	st, err := s.SendState(campaignID)
	if err == nil {
		for k, v := range st.Counts {
			counts[k] = v
		}
		return counts, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	err = s.ForEachLedger(campaignID, func(e LedgerEntry) error {
		counts[e.State]++
		return nil
	})
	return counts, err
}

// NewestFailures reads a campaign's failed recipients, keeping the n most
// recent in memory however many there are, oldest first.
func (s *Store) NewestFailures(campaignID uint64, n int) ([]LedgerEntry, error) {
	var out []LedgerEntry
	byTime := func() {
		sort.Slice(out, func(i, j int) bool { return out[i].UpdatedAt.After(out[j].UpdatedAt) })
	}
	err := s.ForEachLedger(campaignID, func(e LedgerEntry) error {
		if e.State != RecipientFailed {
			return nil
		}
		out = append(out, e)
		if len(out) >= 4*n {
			byTime()
			out = out[:n]
		}
		return nil
	})
	byTime()
	if len(out) > n {
		out = out[:n]
	}
	slices.Reverse(out)
	return out, err
}

// ForEachLedger visits a campaign's ledger in contact order.
func (s *Store) ForEachLedger(campaignID uint64, fn func(LedgerEntry) error) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLedger).Bucket(itob(campaignID))
		if b == nil {
			return nil
		}
		walk := mapWalk{tx: tx}
		return b.ForEach(func(_, v []byte) error {
			walk.row()
			var e LedgerEntry
			if err := decodeLedgerEntry(v, &e); err != nil {
				return err
			}
			return fn(e)
		})
	})
	if err != nil {
		return fmt.Errorf("read ledger of campaign %d: %w", campaignID, err)
	}
	return nil
}
