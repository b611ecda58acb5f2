// Package redistest starts real redis-server processes for tests: a
// single server (Start), a Cluster of three masters and three replicas
// (StartCluster), a Sentinel set (StartSentinel) and a TLS-only server
// (StartTLS). Each process listens on a free loopback port, lives in its
// own directory, keeps nothing on disk unless options say so, and is
// killed when the test ends or, should the test binary die, by the
// kernel. Tests are skipped when redis-server is not installed.
//
// A Cluster or a Sentinel set takes a few seconds to form, so the tests
// of a package share one: SharedCluster, SharedSentinel and SharedTLS
// start it for the first test that asks and hand the same processes to
// the next ones, and the package's TestMain stops them all:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		c := redistest.SharedCluster(t)
//		c.FlushAll() // the previous test's keys are still there
//		...
//	}
//
// Tests that share a topology and change it (FlushAll, Restart, Failover)
// must not run in parallel with each other.
package redistest

import (
	"testing"
)

// Server is a running redis-server.
type Server struct {
	t    testing.TB
	node *proc
}

// Option is a redis-server configuration line ("requirepass x",
// "appendonly yes"); options come after the defaults and override them.
type Option string

// Start runs a redis-server, or skips the test when none is installed
// (make test installs it).
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	requireRedis(t)
	dir := t.TempDir()
	n := &proc{dir: dir, password: passwordOf(opts)}
	n.args = func() []string { return append(baseArgs(n.port, dir), optionArgs(opts)...) }
	if err := startFresh(n, func() error {
		n.name = "redis-server " + n.addr()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.kill)
	return &Server{t: t, node: n}
}

// Addr is host:port.
func (s *Server) Addr() string { return s.node.addr() }

// URL is redis://host:port/0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Stop kills the server (SIGKILL: no shutdown save) and waits for it.
func (s *Server) Stop() { s.node.kill() }

// Restart stops the server and starts it again on the same port and dir.
func (s *Server) Restart() {
	s.t.Helper()
	s.node.kill()
	if err := s.node.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Do runs one command and returns its reply as redis-cli --raw prints it.
func (s *Server) Do(args ...string) (string, error) {
	return doText(s.node.addr(), nil, s.node.password, args...)
}
