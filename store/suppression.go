package store

import (
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Suppression is an address that must never receive anything: unsubscribed,
// bounced, or complained.
type Suppression struct {
	Address string    `json:"address"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	By      string    `json:"by,omitempty"`
	// Source is where the entry came from: SourceUnsubscribe,
	// SourceBounce, or "" for a person (By says who).
	Source string `json:"source,omitempty"`
	// Campaign is the campaign whose message was unsubscribed from or
	// bounced.
	Campaign uint64 `json:"campaign,omitempty"`
}

// Suppress adds an address to the suppression list, or updates its reason.
func (s *Store) Suppress(actor, addr, reason string) (Suppression, error) {
	norm, err := NormalizeAddress(addr)
	if err != nil {
		return Suppression{}, err
	}
	reason = strings.TrimSpace(reason)
	if why := textProblem(reason); why != "" {
		return Suppression{}, fmt.Errorf("the reason %s", why)
	}
	if reason == "" {
		reason = "suppressed by hand"
	}
	sup := Suppression{Address: norm, Reason: reason, At: s.now().UTC(), By: actor}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSuppression)
		if b.Get([]byte(norm)) == nil {
			if err := addUint(tx.Bucket(bucketMeta), keySuppressCount, 1); err != nil {
				return err
			}
		}
		if err := putJSON(b, []byte(norm), &sup); err != nil {
			return err
		}
		return s.audit(tx, actor, "suppression.add", norm, reason)
	})
	if err != nil {
		return Suppression{}, fmt.Errorf("suppress %s: %w", norm, err)
	}
	return sup, nil
}

// Unsuppress removes an address from the suppression list.
func (s *Store) Unsuppress(actor, addr string) error {
	norm, err := NormalizeAddress(addr)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSuppression)
		if b.Get([]byte(norm)) == nil {
			return ErrNotFound
		}
		if err := b.Delete([]byte(norm)); err != nil {
			return err
		}
		if err := addUint(tx.Bucket(bucketMeta), keySuppressCount, -1); err != nil {
			return err
		}
		return s.audit(tx, actor, "suppression.remove", norm, "")
	})
	if err != nil {
		return fmt.Errorf("unsuppress %s: %w", norm, err)
	}
	return nil
}

// Suppressions lists the suppression list in address order.
func (s *Store) Suppressions() ([]Suppression, error) {
	var out []Suppression
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSuppression).ForEach(func(k, v []byte) error {
			var sup Suppression
			if err := getJSON(tx.Bucket(bucketSuppression), k, &sup); err != nil {
				return err
			}
			out = append(out, sup)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list suppressions: %w", err)
	}
	return out, nil
}
