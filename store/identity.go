package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// keyIdentity holds the database's identity: a random ID and where the file
// was when it got it.
var keyIdentity = []byte("identity")

// Identity names a database among those that may share one Redis: its
// sends' keys there carry the ID, so that another database's send of a
// campaign with the same number is refused instead of mixed with it.
type Identity struct {
	ID   string `json:"id"`
	Name string `json:"name"` // host:path, for people reading a refusal
	// Path is the file's absolute path when it got the ID: a copy is told
	// by its path, not by the host, which a container changes at each start.
	Path string `json:"path"`
	// Earlier are the IDs of the databases this one was copied from, the
	// nearest first: their messages' unsubscribe links are this one's too.
	Earlier []string `json:"earlier,omitempty"`
}

// maxEarlier bounds the identities a database remembers it was copied from.
const maxEarlier = 16

// Names reports whether id is this database's, or one it was copied from.
func (i Identity) Names(id string) bool {
	return id == i.ID || slices.Contains(i.Earlier, id)
}

// Identity returns the database's identity, giving it one on first use. A
// file found at another path than the one its identity was given at is a
// copy (`cp tui.db try.db`) and gets an identity of its own — unless one of
// its sends is under way, in which case it is the same database moved, and
// keeps its identity (and its sends' keys) under its new name.
func (s *Store) Identity() (Identity, error) {
	path := s.path
	if abs, err := filepath.Abs(s.path); err == nil {
		path = abs
	}
	name := path
	if host, err := os.Hostname(); err == nil {
		name = host + ":" + path
	}
	var id Identity
	err := s.db.View(func(tx *bolt.Tx) error {
		if raw := tx.Bucket(bucketMeta).Get(keyIdentity); raw != nil {
			return json.Unmarshal(raw, &id)
		}
		return nil
	})
	if err == nil && id.ID != "" && id.Path == path && id.Name == name {
		return id, nil
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		id = Identity{}
		if raw := meta.Get(keyIdentity); raw != nil {
			if err := json.Unmarshal(raw, &id); err != nil {
				id = Identity{}
			}
		}
		switch {
		case id.ID != "" && id.Path == path && id.Name == name:
			return nil
		case id.ID == "" || (id.Path != path && !liveSendTx(tx)):
			var b [8]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			if id.ID != "" {
				id.Earlier = append([]string{id.ID}, id.Earlier[:min(len(id.Earlier), maxEarlier-1)]...)
			}
			id.ID = hex.EncodeToString(b[:])
		}
		id.Name, id.Path = name, path
		return putJSON(meta, keyIdentity, id)
	})
	if err != nil {
		return Identity{}, err
	}
	return id, nil
}

// liveSendTx reports whether any send of the database is under way: neither
// finished nor cancelled.
func liveSendTx(tx *bolt.Tx) bool {
	live := false
	_ = tx.Bucket(bucketSends).ForEach(func(_, v []byte) error {
		var st SendState
		if json.Unmarshal(v, &st) == nil && st.FinishedAt == nil && st.CancelledAt == nil {
			live = true
		}
		return nil
	})
	return live
}
