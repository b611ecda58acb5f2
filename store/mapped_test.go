package store

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The long walks release bbolt's map of the file as they go: after each,
// the process holds only the pages read since the last release, where a
// walk of the same rows without releases holds every page it read.
// Measured on the map itself (its Rss in /proc/self/smaps), so that
// nothing else the process does can move the figure.
func TestLongWalksReleaseTheMap(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("releasing the map is Linux only (MADV_DONTNEED); elsewhere the pages stay mapped")
	}
	if testing.Short() {
		t.Skip("imports 60,000 rows")
	}
	const rows = 60_000 // about 3.7 × releaseEvery
	// A file this small stays mapped whole unless told otherwise.
	defer func(above int) { releaseAbove = above }(releaseAbove)
	releaseAbove = 0
	s := fxOpen(t)
	s.now = time.Now
	c, st := fxSentToAll(t, s, rows, 300)
	if st.Total != rows {
		t.Fatalf("%d rows in the ledger, want %d", st.Total, rows)
	}
	var ids []uint64
	if err := s.ForEachQueued(c.ID, 0, func(e *LedgerEntry, _ RawContact) bool { ids = append(ids, e.ContactID); return true }); err != nil {
		t.Fatal(err)
	}

	// Plain walks of the same buckets, without releases.
	contacts := func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketContacts) }
	tag := func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketTags).Bucket([]byte("t")) }
	ledger := func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketLedger).Bucket(itob(c.ID)) }
	rawWalk := func(buckets ...func(*bolt.Tx) *bolt.Bucket) func(tx *bolt.Tx) {
		return func(tx *bolt.Tx) {
			for _, b := range buckets {
				_ = b(tx).ForEach(func(_, _ []byte) error { return nil })
			}
		}
	}
	round := 0
	for _, tc := range []struct {
		name string
		raw  func(tx *bolt.Tx)
		walk func() error
	}{
		{"ForEachContact", rawWalk(contacts), func() error {
			return s.ForEachContact(func(Contact) error { return nil })
		}},
		{"ListContacts, filtered", rawWalk(contacts), func() error {
			_, err := s.ListContacts(ContactFilter{Text: "nobody matches"}, 0, 50, true)
			return err
		}},
		{"ContactsEnd, filtered", rawWalk(contacts), func() error {
			_, _, err := s.ContactsEnd(ContactFilter{Text: "nobody matches"}, 50)
			return err
		}},
		{"ForEachRecipientInParts", rawWalk(tag, contacts), func() error {
			return s.ForEachRecipientInParts(&c, 2, func(int, uint64, RawContact) bool { return true })
		}},
		{"StartSend and ContinueLedger", rawWalk(tag, contacts), func() error {
			c2, err := s.CreateCampaign("test", Campaign{Name: "Again", Channel: ChannelFile, Tags: []string{"t"}, Body: "Hi {{.name}}"})
			if err != nil {
				return err
			}
			_, st, err := s.StartSend("test", c2.ID, 0)
			for err == nil && st.LedgerPending {
				st, err = s.ContinueLedger(c2.ID)
			}
			return err
		}},
		{"ForEachQueued", rawWalk(ledger, contacts), func() error {
			return s.ForEachQueued(c.ID, 0, func(*LedgerEntry, RawContact) bool { return true })
		}},
		{"ForEachLedger", rawWalk(ledger), func() error {
			return s.ForEachLedger(c.ID, func(LedgerEntry) error { return nil })
		}},
		{"ApplyEvents", rawWalk(ledger), func() error {
			// Folds of 1,000 events each, as a send's folds come: every
			// one shorter than releaseEvery.
			round++
			for off := 0; off < len(ids); off += 1000 {
				evs := make([]RecipientEvent, 0, 1000)
				for _, id := range ids[off:min(off+1000, len(ids))] {
					evs = append(evs, RecipientEvent{ContactID: id, Round: 1, State: RecipientSent, Attempt: round, At: time.Now()})
				}
				if _, err := s.ApplyEvents(c.ID, "", evs); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fxRelease(t, s)
			if err := s.db.View(func(tx *bolt.Tx) error { tc.raw(tx); return nil }); err != nil {
				t.Fatal(err)
			}
			held := fxMappedRSS(t, s)
			fxRelease(t, s)
			if err := tc.walk(); err != nil {
				t.Fatal(err)
			}
			after := fxMappedRSS(t, s)
			t.Logf("map resident after the walk: %d KiB; after a plain walk of the same rows: %d KiB", after>>10, held>>10)
			if held < 2<<20 {
				t.Fatalf("a plain walk holds only %d KiB of the map: too little to tell", held>>10)
			}
			if after > held/2 {
				t.Errorf("the walk left %d KiB of the map resident, a plain walk %d KiB: want at most half", after>>10, held>>10)
			}
		})
	}
	// Under releaseAbove, the same walk leaves the map as a plain walk does.
	t.Run("a file under releaseAbove", func(t *testing.T) {
		fxRelease(t, s)
		if err := s.db.View(func(tx *bolt.Tx) error { rawWalk(contacts)(tx); return nil }); err != nil {
			t.Fatal(err)
		}
		held := fxMappedRSS(t, s)
		fxRelease(t, s)
		releaseAbove = 1 << 40
		if err := s.ForEachContact(func(Contact) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if after := fxMappedRSS(t, s); after < held/2 {
			t.Errorf("%d KiB of a small file's map resident after a walk, %d KiB after a plain walk: it was released", after>>10, held>>10)
		}
	})
}

// fxRelease releases the whole map and checks that it did.
func fxRelease(tb testing.TB, s *Store) {
	tb.Helper()
	if err := s.db.View(func(tx *bolt.Tx) error { releaseMapped(tx); return nil }); err != nil {
		tb.Fatal(err)
	}
	if n := fxMappedRSS(tb, s); n > 1<<20 {
		tb.Fatalf("%d KiB of the map resident just after releasing it", n>>10)
	}
}

// fxMappedRSS is how much of the store's map of its file is resident in
// this process, from /proc/self/smaps.
func fxMappedRSS(tb testing.TB, s *Store) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var total int64
	found, in := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			// A mapping's header: range, perms, offset, device, inode[, path].
			in = len(fields) >= 6 && strings.Join(fields[5:], " ") == s.Path()
			found = found || in
			continue
		}
		if in && len(fields) == 3 && fields[0] == "Rss:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			total += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if !found {
		tb.Fatalf("no map of %s in /proc/self/smaps", s.Path())
	}
	return total
}
