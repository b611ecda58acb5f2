package testkit

import (
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// Addresses are loopback, below 55535, never handed out twice, and free to
// listen on.
func TestFreeAddrGivesDistinctListenablePorts(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		addr := FreeAddr(t)
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("%q: %v", addr, err)
		}
		if p, _ := strconv.Atoi(port); p <= 0 || p >= 55535 {
			t.Fatalf("port %d is not below 55535", p)
		}
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		ln.Close()
	}
}

// Eventually returns once the condition holds, having asked until then.
func TestEventuallyWaitsForTheCondition(t *testing.T) {
	var calls atomic.Int32
	Eventually(t, 10*time.Second, "the third call", func() bool { return calls.Add(1) >= 3 })
	if n := calls.Load(); n != 3 {
		t.Fatalf("asked %d times, want 3", n)
	}
}
