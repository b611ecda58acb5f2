package redistest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// Ports come from [portLow, portLow+portSpan) and their cluster bus ports
// (+10000) from the span above it: both stay below Linux's ephemeral range
// (32768 up), so no outgoing connection or ":0" listener in the same
// machine takes them by chance, and a port handed out here is never
// another topology's bus port.
const (
	portLow  = 11000
	portSpan = 10000
	busShift = 10000
)

var (
	portsMu sync.Mutex
	// handedOut remembers ports given to this process's servers: they are
	// free between our check and the server's bind, and must not be
	// handed out twice.
	handedOut = map[int]bool{}
)

// FreePort returns a loopback port below 55535 that is free, and whose
// cluster bus port (port+10000) is free too.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePortPair()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func freePortPair() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := portLow + rand.IntN(portSpan)
		if handedOut[p] || !canListen(p) || !canListen(p+busShift) {
			continue
		}
		handedOut[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free loopback port pair in %d-%d", portLow, portLow+portSpan+busShift)
}

func canListen(port int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}
