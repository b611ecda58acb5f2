//go:build !linux

package store

import bolt "go.etcd.io/bbolt"

// releaseMapped does nothing where MADV_DONTNEED on a shared file map is
// not known to be harmless: the pages read stay mapped until the database
// is closed.
func releaseMapped(*bolt.Tx) {}
