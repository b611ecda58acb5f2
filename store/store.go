// Package store keeps everything tui knows in one bbolt file: campaigns,
// contacts and their tags, the suppression list, the per-recipient ledger
// and the audit log. It imports no other package of the project.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout this build reads and writes.
const SchemaVersion = 2

// LockTimeout is how long Open waits for a database held by another process.
const LockTimeout = time.Second

var (
	// ErrLocked means another process holds the database file.
	ErrLocked = errors.New("database is in use by another tui process")
	// ErrNotDatabase means the file exists but is not a tui database.
	ErrNotDatabase = errors.New("file is not a tui database")
	// ErrNewerSchema means the file was written by a newer tui.
	ErrNewerSchema = errors.New("database was written by a newer version of tui")
	// ErrNotFound means the record does not exist (any more).
	ErrNotFound = errors.New("not found")
)

var (
	bucketMeta        = []byte("meta")
	bucketCampaigns   = []byte("campaigns")
	bucketContacts    = []byte("contacts")
	bucketAddresses   = []byte("contact_addresses") // address → contact id
	bucketTags        = []byte("tags")              // tag → nested bucket of contact ids
	bucketSuppression = []byte("suppression")       // address → Suppression
	bucketLedger      = []byte("ledger")            // campaign id → nested bucket contact id → LedgerEntry
	bucketAudit       = []byte("audit")             // sequence → AuditEntry
	bucketSends       = []byte("sends")             // campaign id → SendState

	keySchema        = []byte("schema_version")
	keyContactCount  = []byte("contact_count")
	keyCampaignCount = []byte("campaign_count")
	keySuppressCount = []byte("suppressed_count")
)

// Store is an open database. It is safe for concurrent use.
type Store struct {
	db   *boltDB
	path string
	now  func() time.Time
	// borrowed handles share another's database and do not close it.
	borrowed bool
}

// DefaultPath is where the database lives when neither --db nor TUI_DB says
// otherwise: $XDG_DATA_HOME/tui/tui.db, or ~/.local/share/tui/tui.db.
func DefaultPath() (string, error) {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the data directory: %w (set --db or TUI_DB)", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "tui", "tui.db"), nil
}

// Open opens or creates the database at path (mode 0600, its directory 0700).
// A database held by another process fails with ErrLocked within LockTimeout;
// a file that is not a tui database fails with ErrNotDatabase and is left
// untouched; an empty one with ErrEmpty; a damaged one with a
// *DamagedError.
//
// A new database is made whole under a temporary name and then linked into
// place, so tui never leaves an empty or half-made file at path: an empty
// file there was cut short by something else, and is refused rather than
// taken for a new database (its data would be silently gone).
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the database directory: %w", err)
	}
	if err := createIfMissing(path); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		s, replaced, err := open(path)
		if !replaced || attempt == 2 {
			return s, err
		}
		// `tui db compact` renamed a new file over path while this one
		// waited for the lock: open that one instead.
	}
}

func open(path string) (s *Store, replaced bool, err error) {
	if err := checkFile(path); err != nil {
		return nil, false, err
	}
	before, err := os.Stat(path)
	if err != nil {
		return nil, false, fmt.Errorf("open database %s: %w", path, err)
	}
	db, err := openBolt(path, boltOptions())
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, false, &PathError{Path: path, Err: ErrLocked}
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrChecksum):
		return nil, false, &PathError{Path: path, Err: ErrNotDatabase}
	case err != nil:
		var de *DamagedError
		if errors.As(err, &de) {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("open database %s: %w", path, err)
	}
	if after, err := os.Stat(path); err != nil || !os.SameFile(before, after) {
		db.Close()
		return nil, true, nil
	}
	s = &Store{db: &boltDB{DB: db, path: path}, path: path, now: time.Now}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, false, err
	}
	persistFreelist(db)
	return s, false, nil
}

// createIfMissing makes a new, empty tui database at path when nothing is
// there: under a temporary name first, then linked into place, so that
// path never holds a half-made file. Another process making one at the
// same moment wins the link; both then open the same file.
func createIfMissing(path string) error {
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return nil // whatever is there, open says what it is
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("create database %s: %w", path, err)
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name)
	db, err := bolt.Open(name, 0o600, boltOptions())
	if err != nil {
		return fmt.Errorf("create database %s: %w", path, err)
	}
	s := &Store{db: &boltDB{DB: db, path: name}, path: name, now: time.Now}
	persistFreelist(db)
	err = s.migrate()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", path, err)
	}
	if err := os.Link(name, path); err != nil && !errors.Is(err, os.ErrExist) {
		// A file system without hard links: a rename is whole too, though
		// it would replace a database made at this very moment.
		if _, serr := os.Lstat(path); !errors.Is(serr, os.ErrNotExist) {
			return nil
		}
		if err := os.Rename(name, path); err != nil {
			return fmt.Errorf("create database %s: %w", path, err)
		}
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // the new name survives a crash
		d.Close()
	}
	return nil
}

// boltOptions are the bbolt settings of every database. NoFreelistSync is
// only for the open itself: bbolt would otherwise write to a file whose
// freelist is not synced before Open has checked the file is ours.
// persistFreelist turns it off afterwards.
func boltOptions() *bolt.Options {
	return &bolt.Options{
		Timeout:        LockTimeout,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	}
}

// persistFreelist makes every commit write the freelist. Without it each
// Open walks the whole file to rebuild it: 0.3 s with a million contacts,
// more than the first frame may take. bbolt reads the flag at each commit.
func persistFreelist(db *bolt.DB) { db.NoFreelistSync = false }

// boltMagic is the magic number bbolt writes in both meta pages.
const boltMagic = 0xED0CDAED

// PathError ties a database error to its file and says what to do about it.
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string {
	switch {
	case errors.Is(e.Err, ErrLocked):
		return fmt.Sprintf("%s: %v. Close the other tui, run `tui --ssh ADDR` so several people share one process, or pass --db with another file", e.Path, e.Err)
	case errors.Is(e.Err, ErrNotDatabase):
		return fmt.Sprintf("%s: %v (it was left untouched). Pass --db with a new or existing tui database path", e.Path, e.Err)
	case errors.Is(e.Err, ErrEmpty):
		return fmt.Sprintf("%s: %v. tui never leaves an empty database, so this one was cut short (a full disk, a failed copy?). Restore it from a backup; or, to start afresh, delete it (or pass --db with a path that does not exist yet)", e.Path, e.Err)
	case errors.Is(e.Err, ErrNewerSchema):
		return fmt.Sprintf("%s: %v. Upgrade tui, or pass --db with another file", e.Path, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *PathError) Unwrap() error { return e.Err }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close releases the file lock; a borrowed handle's Close does nothing.
func (s *Store) Close() error {
	if s.borrowed {
		return nil
	}
	return s.db.Close()
}

// Borrow returns a handle on the same open database whose Close does
// nothing: the process that owns the database runs other processes'
// commands with it, and their deferred Close must not close it.
func (s *Store) Borrow() *Store {
	return &Store{db: s.db, path: s.path, now: s.now, borrowed: true}
}

// migrations[i] upgrades a database from schema i to i+1.
var migrations = []func(tx *bolt.Tx) error{
	func(tx *bolt.Tx) error { // 0 → 1: the initial layout
		for _, b := range [][]byte{bucketMeta, bucketCampaigns, bucketContacts, bucketAddresses,
			bucketTags, bucketSuppression, bucketLedger, bucketAudit} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
	func(tx *bolt.Tx) error { // 1 → 2: per-campaign send state
		_, err := tx.CreateBucketIfNotExists(bucketSends)
		return err
	},
}

func (s *Store) migrate() error {
	// Most opens find the schema current: check without a write transaction,
	// which would cost a sync and touch the file.
	current := false
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		version := getUint(meta, keySchema)
		if version > SchemaVersion {
			return &PathError{Path: s.path, Err: fmt.Errorf("%w (schema %d, this build reads %d)", ErrNewerSchema, version, SchemaVersion)}
		}
		current = version == SchemaVersion
		return nil
	})
	if err != nil || current {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		version := 0
		if meta := tx.Bucket(bucketMeta); meta != nil {
			version = int(getUint(meta, keySchema))
		} else if tx.Bucket(bucketCampaigns) == nil {
			// A bbolt file from some other program: not ours to change.
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return &PathError{Path: s.path, Err: ErrNotDatabase}
			}
		}
		if version > SchemaVersion {
			return &PathError{Path: s.path, Err: fmt.Errorf("%w (schema %d, this build reads %d)", ErrNewerSchema, version, SchemaVersion)}
		}
		for v := version; v < SchemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migrate database schema %d to %d: %w", v, v+1, err)
			}
		}
		return putUint(tx.Bucket(bucketMeta), keySchema, SchemaVersion)
	})
}

func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func btoi(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func getUint(b *bolt.Bucket, key []byte) uint64 { return btoi(b.Get(key)) }

func putUint(b *bolt.Bucket, key []byte, v uint64) error { return b.Put(key, itob(v)) }

func addUint(b *bolt.Bucket, key []byte, delta int64) error {
	v := int64(getUint(b, key)) + delta
	if v < 0 {
		v = 0
	}
	return putUint(b, key, uint64(v))
}

func getJSON(b *bolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return ErrNotFound
	}
	return json.Unmarshal(data, v)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// Counts are the totals the status bar shows.
type Counts struct {
	Campaigns  int `json:"campaigns"`
	Contacts   int `json:"contacts"`
	Suppressed int `json:"suppressed"`
}

// Counts reads the maintained totals; it does not scan.
func (s *Store) Counts() (Counts, error) {
	var c Counts
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		c.Campaigns = int(getUint(meta, keyCampaignCount))
		c.Contacts = int(getUint(meta, keyContactCount))
		c.Suppressed = int(getUint(meta, keySuppressCount))
		return nil
	})
	return c, err
}
