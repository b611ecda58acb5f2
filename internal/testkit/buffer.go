package testkit

import (
	"bytes"
	"sync"
)

// LockedBuffer is a buffer safe to read while another goroutine or a
// process writes it: a log sink, a child's stderr. It has no ReadFrom:
// os/exec would use it and bypass the lock.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
