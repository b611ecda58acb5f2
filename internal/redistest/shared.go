package redistest

import (
	"os"
	"strings"
	"sync"
	"testing"
)

// The package's shared topologies, by their options. They outlive the
// test that started them, so they live in directories of their own
// (not t.TempDir) and are stopped by StopAll.
var shared = struct {
	sync.Mutex
	clusters  map[string]*cluster
	sentinels map[string]*sentinelSet
	tls       map[string]*tlsServer
	failed    map[string]error // a start that failed, so later tests fail fast
}{
	clusters:  map[string]*cluster{},
	sentinels: map[string]*sentinelSet{},
	tls:       map[string]*tlsServer{},
	failed:    map[string]error{},
}

func optionsKey(kind string, opts []Option) string {
	parts := []string{kind}
	for _, o := range opts {
		parts = append(parts, string(o))
	}
	return strings.Join(parts, "\x00")
}

// getShared returns the running instance under key, or starts one.
func getShared[T interface{ isStopped() bool }](t testing.TB, m map[string]T, key string, start func() (T, error)) T {
	t.Helper()
	requireRedis(t)
	shared.Lock()
	defer shared.Unlock()
	if err := shared.failed[key]; err != nil {
		t.Fatalf("the shared topology did not start for an earlier test: %v", err)
	}
	if v, ok := m[key]; ok && !v.isStopped() {
		return v
	}
	v, err := start()
	if err != nil {
		shared.failed[key] = err
		t.Fatal(err)
	}
	m[key] = v
	return v
}

// SharedCluster returns the package's Cluster with these options,
// starting it for the first test that asks. It is left as the previous
// test left it (call FlushAll for an empty one) and stopped by StopAll;
// a test that calls Stop makes the next one start a fresh cluster.
func SharedCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	c := getShared(t, shared.clusters, optionsKey("cluster", opts), func() (*cluster, error) { return startCluster(opts) })
	return &Cluster{t: t, cluster: c}
}

// SharedSentinel is SharedCluster for a Sentinel set. The master may be
// either node, as the previous test's failovers left it.
func SharedSentinel(t testing.TB, opts ...Option) *Sentinel {
	t.Helper()
	s := getShared(t, shared.sentinels, optionsKey("sentinel", opts), func() (*sentinelSet, error) { return startSentinel(opts) })
	return &Sentinel{t: t, sentinelSet: s}
}

// SharedTLS is SharedCluster for a TLS server.
func SharedTLS(t testing.TB, opts ...Option) *TLSServer {
	t.Helper()
	s := getShared(t, shared.tls, optionsKey("tls", opts), func() (*tlsServer, error) { return startTLS(opts) })
	return &TLSServer{t: t, tlsServer: s}
}

// StopAll stops every shared topology. Without it the processes still die
// with the test binary, but their directories stay behind.
func StopAll() {
	shared.Lock()
	defer shared.Unlock()
	for k, c := range shared.clusters {
		c.stop()
		delete(shared.clusters, k)
	}
	for k, s := range shared.sentinels {
		s.stop()
		delete(shared.sentinels, k)
	}
	for k, s := range shared.tls {
		s.stop()
		delete(shared.tls, k)
	}
	clear(shared.failed)
}

// Main runs a package's tests and then stops the shared topologies:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	StopAll()
	os.Exit(code)
}
