// Package testkit is what the tests of several packages share: waiting for
// a condition with a deadline, and loopback addresses to listen on. It
// imports no project package, so the tests of queue and worker may use it;
// the database fixtures are in testkit/seed.
package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond until it holds and fails the test if it does not
// within the deadline. Tests wait for conditions this way, never for a
// fixed time: a loaded machine makes everything slower, not different.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Ports come from [portLow, portLow+portSpan): below Linux's ephemeral
// range (32768 up), so that no outgoing connection or ":0" listener takes
// one by chance, and above internal/redistest's servers and their cluster
// bus ports (11000 to 31000).
const (
	portLow  = 31000
	portSpan = 1700
)

var (
	portsMu   sync.Mutex
	handedOut = map[int]bool{} // free between our check and the test's bind
)

// FreeAddr returns "127.0.0.1:PORT" for a loopback port below 55535 that is
// free now and that no other call in this process has returned: to listen
// on, or to dial where nothing listens.
func FreeAddr(t testing.TB) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := portLow + rand.IntN(portSpan)
		if handedOut[p] {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		_ = ln.Close()
		handedOut[p] = true
		return addr
	}
	t.Fatalf("no free loopback port in %d-%d", portLow, portLow+portSpan)
	return ""
}
