package ui

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tui/internal/english"
	"tui/store"
)

// The contacts screen must stay fast with a million contacts: it loads a
// window of rows in a command, never the whole set. These benchmarks time
// what those commands and a keystroke cost. TUI_BENCH_CONTACTS sets the
// size (default 1,000,000).

// ctBenchRows generates contact rows without holding them in memory;
// every tenth contact is tagged vip through the tag column-free import
// below, and the city cycles through 500 values.
type ctBenchRows struct {
	n, i int
	buf  []byte
}

func (r *ctBenchRows) Read(p []byte) (int, error) {
	if r.i == 0 && len(r.buf) == 0 {
		r.buf = append(r.buf, "email,name,city\n"...)
	}
	for len(r.buf) < len(p) && r.i < r.n {
		r.i++
		r.buf = fmt.Appendf(r.buf, "c%07d@example.com,Contact %d,City %d\n", r.i, r.i, r.i%500)
	}
	if len(r.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func ctBenchStore(b *testing.B) (*store.Store, int) {
	b.Helper()
	n := 1_000_000
	if v := os.Getenv("TUI_BENCH_CONTACTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("TUI_BENCH_CONTACTS=%q: want a number ≥ 1000", v)
		}
	}
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm" // building the fixture is not what is measured
	}
	dir, err := os.MkdirTemp(base, "tui-contacts-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	st, err := store.Open(filepath.Join(dir, "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	start := time.Now()
	if _, err := st.ImportCSV(context.Background(), &ctBenchRows{n: n}, store.ImportOptions{Actor: "bench"}); err != nil {
		b.Fatal(err)
	}
	// Tag every tenth contact vip, in the store's own batches.
	var ids []uint64
	for i := 10; i <= n; i += 10 {
		ids = append(ids, uint64(i))
		if len(ids) == 10_000 {
			if err := st.TagContacts("bench", ids, []string{"vip"}, nil); err != nil {
				b.Fatal(err)
			}
			ids = ids[:0]
		}
	}
	if len(ids) > 0 {
		if err := st.TagContacts("bench", ids, []string{"vip"}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("fixture: %d contacts in %s", n, time.Since(start).Round(time.Millisecond))
	return st, n
}

// ctLoaded builds a contacts screen at 80×24 (21 lines under the App's
// chrome) with its first window loaded.
func ctLoaded(b *testing.B, st *store.Store) *ContactsScreen {
	s := NewContactsScreen(NewCommon(st, "bench", ctStatus()))
	s.SetSize(80, 21)
	s.Update(s.load(0, false)())
	return s
}

func BenchmarkContactsScreen(b *testing.B) {
	st, n := ctBenchStore(b)

	b.Run("first-window", func(b *testing.B) {
		for b.Loop() {
			s := ctLoaded(b, st)
			if v := s.View(); !strings.Contains(v, "of "+english.Thousands(n)) {
				b.Fatalf("first window:\n%s", v)
			}
		}
	})
	b.Run("keystroke", func(b *testing.B) {
		s := ctLoaded(b, st)
		down, top := ctKey("j"), ctKey("g")
		i := 0
		for b.Loop() {
			k := down
			if i++; i%150 == 0 { // stay inside the loaded window
				k = top
			}
			s.Update(k)
			_ = s.View()
		}
	})
	b.Run("window-at-end", func(b *testing.B) {
		s := ctLoaded(b, st)
		for b.Loop() {
			msg := s.load(n-200, false)().(contactsPageMsg)
			if msg.err != nil || len(msg.page.Contacts) != 200 {
				b.Fatalf("window at the end: %d rows, %v", len(msg.page.Contacts), msg.err)
			}
		}
	})
	b.Run("tag-filter-window", func(b *testing.B) {
		s := ctLoaded(b, st)
		s.filter.Tag = "vip"
		for b.Loop() {
			if msg := s.load(0, true)().(contactsPageMsg); msg.err != nil || len(msg.page.Contacts) != 200 {
				b.Fatalf("tag window: %d rows, %v", len(msg.page.Contacts), msg.err)
			}
		}
	})
	b.Run("text-filter-window", func(b *testing.B) {
		s := ctLoaded(b, st)
		s.filter.Text = "city 7" // City 7, City 70..79, City 700: common
		for b.Loop() {
			if msg := s.load(0, true)().(contactsPageMsg); msg.err != nil || len(msg.page.Contacts) != 200 {
				b.Fatalf("text window: %d rows, %v", len(msg.page.Contacts), msg.err)
			}
		}
	})
	b.Run("rare-text-filter-window", func(b *testing.B) {
		s := ctLoaded(b, st)
		s.filter.Text = fmt.Sprintf("c%07d@", n/2) // one match: the scan reads everything
		for b.Loop() {
			if msg := s.load(0, true)().(contactsPageMsg); msg.err != nil || len(msg.page.Contacts) != 1 {
				b.Fatalf("rare text window: %d rows, %v", len(msg.page.Contacts), msg.err)
			}
		}
	})
	b.Run("text-filter-count-for-G", func(b *testing.B) {
		s := ctLoaded(b, st)
		s.filter.Text = "city 7"
		for b.Loop() {
			if msg := s.loadEnd()().(contactsPageMsg); msg.err != nil || msg.counted == 0 {
				b.Fatalf("count: %d, %v", msg.counted, msg.err)
			}
		}
	})
}
