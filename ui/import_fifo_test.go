//go:build unix

package ui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tui/internal/english"
)

// A named pipe stands in for a large file that is still being read: the
// test decides when rows arrive, so the progress and the cancellation are
// seen without any timing assumptions.
func TestImportShowsProgressAndCancelsWithEsc(t *testing.T) {
	st := newTestStore(t)
	path := filepath.Join(t.TempDir(), "stream.csv")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("cannot make a named pipe here: %v", err)
	}
	s := startApp(t, st, 80, 24)
	s.press("2", "i")
	s.waitFor("Import contacts from a CSV file")
	s.typeText(path + "\n\n")

	// Opening for writing waits until the import has opened the pipe.
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closeWriter := func() {
		if !closed {
			closed = true
			w.Close()
		}
	}
	t.Cleanup(closeWriter)

	var b strings.Builder
	b.WriteString("email,name\n")
	for i := 1; i <= 10000; i++ {
		fmt.Fprintf(&b, "p%05d@example.com,P %d\n", i, i)
	}
	written := make(chan error, 1)
	go func() { _, err := w.WriteString(b.String()); written <- err }()

	// The store commits rows in batches of 10,000 and reports after each;
	// then it waits for the pipe.
	s.waitFor("Importing stream.csv… 10,000 rows")
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	s.press("esc")
	s.waitFor("Cancelling")
	// The import may be waiting for the pipe; a line wakes it up to
	// notice. Its error (the reader may be gone already) does not matter.
	_, _ = w.WriteString("late@example.com,Late\n")

	scr := s.waitFor("did not finish")
	closeWriter()
	if !strings.Contains(scr, "the rows read before esc were saved") {
		t.Errorf("the report of a cancelled import:\n%s", frame(scr))
	}
	// Whether the late line was read depends on when the import looked at
	// the cancellation; either way the report and the store agree.
	counts, err := st.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if counts.Contacts != 10000 && counts.Contacts != 10001 {
		t.Fatalf("the store holds %d contacts; want the 10,000 rows sent before esc (and perhaps the late one)", counts.Contacts)
	}
	created := english.Thousands(counts.Contacts) + " created"
	if !strings.Contains(scr, created) {
		t.Errorf("the report does not say %q:\n%s", created, frame(scr))
	}
	s.press("esc")
	s.waitFor("of " + english.Thousands(counts.Contacts))
}
