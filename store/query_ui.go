package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Queries the TUI needs beyond the store's own API.

// RecentCampaigns returns at most limit campaigns, newest first. It reads
// only what it returns, so a first screen can show while Campaigns reads
// the rest of a long list.
func (s *Store) RecentCampaigns(limit int) ([]Campaign, error) {
	out := make([]Campaign, 0, max(min(limit, 1024), 0))
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCampaigns).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var cp Campaign
			if err := json.Unmarshal(v, &cp); err != nil {
				return fmt.Errorf("campaign %d: %w", btoi(k), err)
			}
			out = append(out, cp)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list recent campaigns: %w", err)
	}
	return out, nil
}
