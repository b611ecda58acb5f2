package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AuditEntry records who did what, when.
type AuditEntry struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"` // campaign.create, campaign.status, contact.import, ...
	Object string    `json:"object"`
	Detail string    `json:"detail,omitempty"`
}

// audit appends an entry inside the transaction that made the change.
func (s *Store) audit(tx *bolt.Tx, actor, action, object, detail string) error {
	b := tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e := AuditEntry{Seq: seq, At: s.now().UTC(), Actor: actor, Action: action, Object: object, Detail: detail}
	return putJSON(b, itob(seq), &e)
}

// Audit returns up to limit entries, newest first.
func (s *Store) Audit(limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}
