package store

import bolt "go.etcd.io/bbolt"

// bbolt reads the database through a read-only shared map of the whole
// file. Every page a walk touches stays in the process's resident memory
// until the map goes: a send of a million recipients, whose walks (the
// preflight, the ledger's chunks, the queueing pass, the folds) each read
// every contact or ledger row, held the whole 444 MB file resident
// although each page was needed for a moment. The long walks therefore
// release the map as they go (releaseMapped), every releaseEvery rows.

// releaseAbove is the file size up to which the map is never released: a
// file that small can be resident whole, and a release costs every walk
// after it a page fault per page it reads again (a send of 100,000, whose
// file is 50 MB, spent 7 % less CPU without them).
var releaseAbove = 96 << 20

// releaseEvery is how many rows a long walk reads between releases of the
// map: about 7 MB of contacts, tags and ledger rows, and a release costs
// the walk a page fault per page it reads again.
const releaseEvery = 16384

// mapWalk counts the rows of a long walk in one transaction (open for as
// long as the mapWalk is used) and releases the map every releaseEvery of
// them.
type mapWalk struct {
	tx *bolt.Tx
	n  int
}

// end releases the map if rows were read since the last release: for a
// walk that runs many times in short transactions (a fold per batch of
// events), each shorter than releaseEvery rows.
func (w *mapWalk) end() {
	if w.n > 0 {
		w.n = 0
		releaseMapped(w.tx)
	}
}

// row counts one row read.
func (w *mapWalk) row() {
	if w.n++; w.n >= releaseEvery {
		w.n = 0
		releaseMapped(w.tx)
	}
}
