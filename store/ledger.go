package store

import (
	"fmt"
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
	Attempts   int            `json:"attempts"`
	LastError  string         `json:"last_error,omitempty"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// Key is the idempotency key of the delivery: campaignID:contactID.
func (e *LedgerEntry) Key() string { return fmt.Sprintf("%d:%d", e.CampaignID, e.ContactID) }

// PutLedger writes ledger entries for one campaign in one transaction.
func (s *Store) PutLedger(entries []LedgerEntry) error {
	if len(entries) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i := range entries {
			e := &entries[i]
			b, err := tx.Bucket(bucketLedger).CreateBucketIfNotExists(itob(e.CampaignID))
			if err != nil {
				return err
			}
			if e.UpdatedAt.IsZero() {
				e.UpdatedAt = s.now().UTC()
			}
			data, err := appendLedgerEntry(nil, e)
			if err != nil {
				return err
			}
			if err := b.Put(itob(e.ContactID), data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write ledger: %w", err)
	}
	return nil
}

// LedgerCounts counts a campaign's recipients by state.
func (s *Store) LedgerCounts(campaignID uint64) (map[RecipientState]int, error) {
	counts := map[RecipientState]int{}
	err := s.ForEachLedger(campaignID, func(e LedgerEntry) error {
		counts[e.State]++
		return nil
	})
	return counts, err
}

// ForEachLedger visits a campaign's ledger in contact order.
func (s *Store) ForEachLedger(campaignID uint64, fn func(LedgerEntry) error) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLedger).Bucket(itob(campaignID))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
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
