package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// BackupInfo says what a backup or a compaction wrote.
type BackupInfo struct {
	Path  string // the file written
	Bytes int64
	TxID  uint64 // the transaction the copy holds
}

// Backup writes a consistent copy of the database to w: one read
// transaction's view of it, while others go on reading and writing. The
// process that owns the database can serve a backup with it.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupFile copies the database at src, which no process of this program
// has open, to dst: written whole under a temporary name beside dst,
// synced, checked, then renamed over dst, so that dst is always either the
// previous backup or a complete new one. A database held by a running tui
// fails with ErrLocked.
func BackupFile(src, dst string) (BackupInfo, error) {
	if err := checkFile(src); err != nil {
		return BackupInfo{}, err
	}
	if a, err := os.Stat(src); err == nil {
		if b, err := os.Stat(dst); err == nil && os.SameFile(a, b) {
			return BackupInfo{}, fmt.Errorf("%s is the database itself: give the backup another path", dst)
		}
	}
	db, err := openBolt(src, &bolt.Options{ReadOnly: true, Timeout: LockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return BackupInfo{}, &PathError{Path: src, Err: ErrLocked}
	}
	if err != nil {
		return BackupInfo{}, fmt.Errorf("open database %s: %w", src, err)
	}
	defer db.Close()
	s := &Store{db: &boltDB{DB: db, path: src}, path: src}
	return writeVerified(dst, func(f *os.File) error {
		_, err := s.Backup(f)
		return err
	})
}

// CompactFile rewrites the database at path without its free pages:
// copied into a new file beside it, checked, then renamed over it while
// the old one is still held, so that no other tui writes to the old one
// meanwhile. A database held by a running tui fails with ErrLocked.
func CompactFile(path string) (before int64, after BackupInfo, err error) {
	if err := checkFile(path); err != nil {
		return 0, BackupInfo{}, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return 0, BackupInfo{}, err
	}
	src, err := openBolt(path, &bolt.Options{Timeout: LockTimeout, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return 0, BackupInfo{}, &PathError{Path: path, Err: ErrLocked}
	}
	if err != nil {
		return 0, BackupInfo{}, fmt.Errorf("open database %s: %w", path, err)
	}
	defer src.Close()
	after, err = writeVerified(path, func(f *os.File) error {
		name := f.Name()
		if err := f.Close(); err != nil {
			return err
		}
		dst, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: LockTimeout, FreelistType: bolt.FreelistMapType})
		if err != nil {
			return err
		}
		err = guard(path, func() error { return bolt.Compact(dst, src, 16<<20) })
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		return err
	})
	return info.Size(), after, err
}

// guard runs fn with bbolt's panics and faults turned into a
// *DamagedError, as a transaction of boltDB is.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged(path, r)
		}
	}()
	return fn()
}

// writeVerified has write fill a new file beside dst, syncs it, checks its
// structure, and renames it over dst. Nothing is left behind on failure.
func writeVerified(dst string, write func(*os.File) error) (BackupInfo, error) {
	dir := filepath.Dir(dst)
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("create %s: %w", dst, err)
	}
	name := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(name)
		}
	}()
	if err := write(f); err != nil {
		f.Close()
		return BackupInfo{}, fmt.Errorf("write %s: %w", dst, err)
	}
	f.Close()
	// Sync through a fresh handle: write may have closed its own.
	g, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return BackupInfo{}, err
	}
	err = g.Sync()
	g.Close()
	if err != nil {
		return BackupInfo{}, fmt.Errorf("write %s: %w", dst, err)
	}
	rep, err := CheckFile(name)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("check the copy: %w", err)
	}
	if !rep.OK() {
		return BackupInfo{}, fmt.Errorf("the copy fails its check, so it was not kept: %s", rep.Problems[0])
	}
	if err := os.Rename(name, dst); err != nil {
		return BackupInfo{}, fmt.Errorf("put the copy at %s: %w", dst, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return BackupInfo{Path: dst, Bytes: rep.Size, TxID: rep.TxID}, nil
}
