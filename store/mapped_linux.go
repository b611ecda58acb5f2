package store

import (
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releaseMapped tells the kernel that this process no longer needs the
// pages it has read of bbolt's map of the database file (MADV_DONTNEED).
// The map is shared and read-only, so this only drops the process's page
// table entries: the pages stay in the page cache, and a later read of any
// of them (a key or value slice still held, the cursor's current page)
// maps the same bytes again with a minor fault. It is safe at any moment
// of a transaction: the map cannot move while one is open (bbolt remaps
// only when a write transaction grows the file, at its commit, once no
// read transaction is open).
func releaseMapped(tx *bolt.Tx) {
	size := tx.Size() // the pages in use: within the map, which covers the file
	if size <= int64(releaseAbove) {
		return
	}
	// The map's start is a number, not a Go pointer: the raw call takes
	// it as is.
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, tx.DB().Info().Data, uintptr(size), unix.MADV_DONTNEED)
}
