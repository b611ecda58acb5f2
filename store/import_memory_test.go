package store

import (
	"context"
	"io"
	"runtime"
	"testing"
	"time"
)

// TestImportMemoryBounded guards against an import that holds its file, its
// rows or its problems in memory: 50,000 rows of 600 bytes (30 MB; a third
// of them invalid, so the problem list fills up) must not raise the heap by
// more than a generous bound, which holding the file or its rows would
// exceed. BenchmarkImport1MRows measures the real figure.
func TestImportMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 50,000 rows")
	}
	const rows = 50_000
	const bound = 64 << 20
	s := fxOpen(t)
	s.now = time.Now
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	h := startHeapSampler(2 * time.Millisecond)
	rep, err := s.ImportCSV(context.Background(), &everyThirdInvalid{r: newPaddedRowsReader(rows, 500)}, ImportOptions{Tags: []string{"t"}})
	peak := h.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != rows || rep.Invalid == 0 || len(rep.Problems) != MaxReportedProblems {
		t.Fatalf("report: %d rows, %d invalid, %d problems", rep.Rows, rep.Invalid, len(rep.Problems))
	}
	if grew := int64(peak) - int64(before.HeapAlloc); grew > bound {
		t.Errorf("heap grew by %d MiB during a %d-row import (bound %d MiB)", grew>>20, rows, bound>>20)
	} else {
		t.Logf("heap grew by at most %d MiB", grew>>20)
	}
}

// everyThirdInvalid breaks the address of every third row of a generated
// CSV by replacing the @ with a space.
type everyThirdInvalid struct {
	r    io.Reader
	line int
}

func (e *everyThirdInvalid) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	for i := 0; i < n; i++ {
		switch p[i] {
		case '\n':
			e.line++
		case '@':
			if e.line%3 == 1 {
				p[i] = ' '
			}
		}
	}
	return n, err
}
