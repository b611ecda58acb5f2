package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ForEachContact visits every contact in creation order in one read
// transaction, without holding them all in memory; fn returns an error to
// stop.
func (s *Store) ForEachContact(fn func(Contact) error) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		walk := mapWalk{tx: tx}
		return tx.Bucket(bucketContacts).ForEach(func(_, v []byte) error {
			walk.row()
			var c Contact
			if err := decodeContact(v, &c); err != nil {
				return err
			}
			return fn(c)
		})
	})
	if err != nil {
		return fmt.Errorf("list contacts: %w", err)
	}
	return nil
}
