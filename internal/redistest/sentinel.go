package redistest

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// DefaultMasterName is the name the sentinels monitor the master under.
const DefaultMasterName = "tuimaster"

// Sentinel is a running Sentinel set: a master, one replica and three
// sentinels with a quorum of two.
//
// A Sentinel handle is bound to the test that obtained it: its methods
// fail that test. The processes may be shared (SharedSentinel).
type Sentinel struct {
	t testing.TB
	*sentinelSet
}

type sentinelSet struct {
	name     string
	dir      string
	data     []*dataNode
	watchers []*proc // the sentinels
	password string

	mu      sync.Mutex // serialises Failover, RestartMaster, FlushAll and Stop
	stopped bool
}

// dataNode is a master or replica; replicaOf is the port it replicates
// (0 for the master) so a restart brings it back in the role the
// sentinels last gave it.
type dataNode struct {
	*proc
	replicaOf int
}

// StartSentinel starts a master, a replica and three sentinels
// (down-after-milliseconds 1000, failover-timeout 5000, quorum 2) and
// waits until the replica is in sync and every sentinel knows the replica
// and the two other sentinels. It is stopped when the test ends. Options
// are redis-server configuration lines for the master and the replica;
// "requirepass X" also sets masterauth, the sentinels' auth-pass and the
// password in URL.
func StartSentinel(t testing.TB, opts ...Option) *Sentinel {
	t.Helper()
	requireRedis(t)
	s, err := startSentinel(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return &Sentinel{t: t, sentinelSet: s}
}

func startSentinel(opts []Option) (_ *sentinelSet, err error) {
	dir, err := tempDir("sentinel")
	if err != nil {
		return nil, err
	}
	s := &sentinelSet{name: DefaultMasterName, dir: dir, password: passwordOf(opts)}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	for i, role := range []string{"master", "replica"} {
		n := &dataNode{proc: &proc{dir: filepath.Join(dir, role), password: s.password}}
		if err := os.Mkdir(n.dir, 0o700); err != nil {
			return nil, err
		}
		if i == 1 {
			n.replicaOf = s.data[0].port
		}
		n.args = func() []string {
			args := baseArgs(n.port, n.dir)
			if n.replicaOf != 0 {
				args = append(args, "--replicaof", "127.0.0.1", fmt.Sprint(n.replicaOf))
			}
			if s.password != "" {
				args = append(args, "--masterauth", s.password)
			}
			return append(args, optionArgs(opts)...)
		}
		if err := startFresh(n.proc, func() error {
			n.name = "sentinel " + role + " " + n.addr()
			return nil
		}); err != nil {
			return nil, err
		}
		s.data = append(s.data, n)
	}
	// The sentinels learn the replica from the master's INFO, which they
	// ask for every ten seconds once settled: start them after the
	// replica is attached so the first INFO already lists it.
	if err := waitFor("the replica to sync", startTimeout, func() error {
		return s.replicationOK(s.data[0], s.data[1])
	}); err != nil {
		return nil, err
	}
	for i := range 3 {
		w := &proc{dir: filepath.Join(dir, fmt.Sprintf("sentinel%d", i))}
		if err := os.Mkdir(w.dir, 0o700); err != nil {
			return nil, err
		}
		conf := filepath.Join(w.dir, "sentinel.conf")
		w.args = func() []string { return []string{conf, "--sentinel"} }
		if err := startFresh(w, func() error {
			w.name = "sentinel " + w.addr()
			return os.WriteFile(conf, []byte(s.sentinelConf(w)), 0o600)
		}); err != nil {
			return nil, err
		}
		s.watchers = append(s.watchers, w)
		// A sentinel asks a settled master and its replicas for INFO every
		// ten seconds and waits four hello periods (8 s) before turning a
		// former master into a replica: a failover would take twenty
		// seconds to settle. Redis 7 lets tests shorten those periods; the
		// logic stays the same. A shorter TILT period bounds what a stall
		// of the loaded machine costs: in TILT a sentinel does not act.
		if _, err := w.do("SENTINEL", "DEBUG", "info-period", "1000", "publish-period", "500",
			"tilt-period", "5000"); err != nil {
			return nil, fmt.Errorf("%s: SENTINEL DEBUG: %w", w.name, err)
		}
	}
	if err := s.waitSettled("the new sentinel set"); err != nil {
		return nil, err
	}
	return s, nil
}

// sentinelConf is a sentinel's configuration file; the sentinel rewrites
// it as it learns about replicas, other sentinels and failovers.
func (s *sentinelSet) sentinelConf(w *proc) string {
	var b strings.Builder
	fmt.Fprintf(&b, "port %d\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir %s\nlogfile \"\"\n", w.port, w.dir)
	fmt.Fprintf(&b, "sentinel monitor %s 127.0.0.1 %d 2\n", s.name, s.data[0].port)
	fmt.Fprintf(&b, "sentinel down-after-milliseconds %s 1000\n", s.name)
	fmt.Fprintf(&b, "sentinel failover-timeout %s 5000\n", s.name)
	fmt.Fprintf(&b, "sentinel parallel-syncs %s 1\n", s.name)
	if s.password != "" {
		fmt.Fprintf(&b, "sentinel auth-pass %s %s\n", s.name, s.password)
	}
	return b.String()
}

// replicationOK says why replica is not yet an in-sync replica of master.
func (s *sentinelSet) replicationOK(master, replica *dataNode) error {
	v, err := replica.do("INFO", "replication")
	if err != nil {
		return err
	}
	info := text(v)
	if got := infoField(info, "role"); got != "slave" {
		return fmt.Errorf("%s has role %s", replica.addr(), got)
	}
	if got := infoField(info, "master_port"); got != fmt.Sprint(master.port) {
		return fmt.Errorf("%s replicates port %s, not %d", replica.addr(), got, master.port)
	}
	if got := infoField(info, "master_link_status"); got != "up" {
		return fmt.Errorf("%s: master_link_status:%s", replica.addr(), got)
	}
	if got := infoField(info, "master_sync_in_progress"); got != "0" {
		return fmt.Errorf("%s is still syncing", replica.addr())
	}
	if v, err = master.do("INFO", "replication"); err != nil {
		return err
	}
	info = text(v)
	if got := infoField(info, "role"); got != "master" {
		return fmt.Errorf("%s has role %s", master.addr(), got)
	}
	if s := infoField(info, "slave0"); !strings.Contains(s, fmt.Sprintf("port=%d,state=online", replica.port)) {
		return fmt.Errorf("master %s: replica %q", master.addr(), s)
	}
	return nil
}

// settled says why the set is not yet fit for a test: the sentinels must
// agree on the master, which must be a master with the other node as an
// in-sync replica, and each sentinel must see that replica as healthy
// and know both other sentinels.
func (s *sentinelSet) settled() error {
	var master string
	for _, w := range s.watchers {
		v, err := w.do("SENTINEL", "get-master-addr-by-name", s.name)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		addr := strings.Join(strings.Split(text(v), "\n"), ":")
		if master == "" {
			master = addr
		} else if addr != master {
			return fmt.Errorf("sentinels disagree on the master: %s and %s", master, addr)
		}
	}
	m, r := s.byAddr(master)
	if m == nil {
		return fmt.Errorf("the sentinels name %s as master, which is none of ours", master)
	}
	if err := s.replicationOK(m, r); err != nil {
		return err
	}
	for _, w := range s.watchers {
		v, err := w.do("SENTINEL", "replicas", s.name)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		arr, _ := v.([]any)
		known := false
		for _, e := range arr {
			p := pairs(e)
			if p["name"] != r.addr() {
				continue // a stale entry, such as the master's old address
			}
			if p["flags"] != "slave" || p["master-link-status"] != "ok" || p["master-port"] != fmt.Sprint(m.port) {
				return fmt.Errorf("%s sees replica %s as %s, link %s, master port %s",
					w.name, r.addr(), p["flags"], p["master-link-status"], p["master-port"])
			}
			known = true
		}
		if !known {
			return fmt.Errorf("%s does not know replica %s yet", w.name, r.addr())
		}
		if v, err = w.do("SENTINEL", "sentinels", s.name); err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		arr, _ = v.([]any)
		ok, seen := 0, []string{}
		for _, e := range arr {
			p := pairs(e)
			if p["flags"] == "sentinel" {
				ok++
			}
			seen = append(seen, p["name"]+" "+p["flags"])
		}
		if ok != len(s.watchers)-1 {
			return fmt.Errorf("%s knows %d healthy other sentinels, not %d: %v", w.name, ok, len(s.watchers)-1, seen)
		}
	}
	return nil
}

func (s *sentinelSet) waitSettled(what string) error {
	return waitFor(what+" to settle", startTimeout, s.settled)
}

// byAddr returns the data node at addr and the other one.
func (s *sentinelSet) byAddr(addr string) (node, other *dataNode) {
	for i, n := range s.data {
		if n.addr() == addr {
			return n, s.data[1-i]
		}
	}
	return nil, nil
}

// masterAddr asks the sentinels (the first that answers) for the master.
func (s *sentinelSet) masterAddr() (string, error) {
	var err error
	for _, w := range s.watchers {
		var v any
		if v, err = w.do("SENTINEL", "get-master-addr-by-name", s.name); err == nil {
			return strings.Join(strings.Split(text(v), "\n"), ":"), nil
		}
	}
	return "", fmt.Errorf("no sentinel answered: %w", err)
}

// MasterName is the name the sentinels know the master by.
func (s *Sentinel) MasterName() string { return s.name }

// SentinelAddrs are the sentinels' host:port.
func (s *Sentinel) SentinelAddrs() []string {
	out := make([]string, len(s.watchers))
	for i, w := range s.watchers {
		out[i] = w.addr()
	}
	return out
}

// URL is the form tui takes for Sentinel: the sentinels as hosts (the
// first in the host part, the others as addr parameters) and the master
// name; a password belongs to the master and replica.
func (s *Sentinel) URL() string {
	q := "master_name=" + url.QueryEscape(s.name)
	for _, a := range s.SentinelAddrs()[1:] {
		q += "&addr=" + a
	}
	return nodeURL("redis", s.password, s.watchers[0].addr()) + "?" + q
}

// MasterAddr is the master's host:port as the sentinels report it.
func (s *Sentinel) MasterAddr() string {
	s.t.Helper()
	addr, err := s.masterAddr()
	if err != nil {
		s.t.Fatal(err)
	}
	return addr
}

// ReplicaAddr is the host:port of the node that is not the master.
func (s *Sentinel) ReplicaAddr() string {
	s.t.Helper()
	_, r := s.byAddr(s.MasterAddr())
	if r == nil {
		s.t.Fatalf("the sentinels name an unknown master")
	}
	return r.addr()
}

// Do runs one command on the master, the replica or a sentinel and
// returns its reply as redis-cli --raw prints it.
func (s *Sentinel) Do(addr string, args ...string) (string, error) {
	for _, w := range s.watchers {
		if w.addr() == addr {
			return doText(addr, nil, "", args...)
		}
	}
	return doText(addr, nil, s.password, args...)
}

// Failover asks a sentinel to fail over (SENTINEL FAILOVER) and returns
// once every sentinel names the former replica as master and the former
// master replicates it with its link up.
func (s *Sentinel) Failover() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failover(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sentinelSet) failover() error {
	old, err := s.masterAddr()
	if err != nil {
		return err
	}
	oldM, newM := s.byAddr(old)
	if oldM == nil {
		return fmt.Errorf("the sentinels name %s as master, which is none of ours", old)
	}
	// A sentinel refuses (NOGOODSLAVE, INPROG) until it has fresh news of
	// the replica or while a previous failover is still being wound up.
	if err := waitFor("a sentinel to accept SENTINEL FAILOVER", startTimeout, func() error {
		_, err := s.watchers[0].do("SENTINEL", "FAILOVER", s.name)
		return err
	}); err != nil {
		return err
	}
	if err := waitFor("the sentinels to promote "+newM.addr(), startTimeout, func() error {
		for _, w := range s.watchers {
			v, err := w.do("SENTINEL", "get-master-addr-by-name", s.name)
			if err != nil {
				return err
			}
			if got := strings.Join(strings.Split(text(v), "\n"), ":"); got != newM.addr() {
				return fmt.Errorf("%s still names %s", w.name, got)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	newM.replicaOf, oldM.replicaOf = 0, newM.port
	return s.waitSettled("the set after failover")
}

// FlushAll empties the master and waits until the replica is empty too.
func (s *Sentinel) FlushAll() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	m, r := s.byAddr(s.MasterAddr())
	if m == nil {
		s.t.Fatal("the sentinels name an unknown master")
	}
	if _, err := m.do("FLUSHALL"); err != nil {
		s.t.Fatalf("FLUSHALL on %s: %v", m.addr(), err)
	}
	// Clients may write again at once: wait for the replica to have taken
	// the flush (its offset reaches the master's), not for it to be empty.
	info, err := m.do("INFO", "replication")
	if err != nil {
		s.t.Fatal(err)
	}
	want, _ := strconv.ParseInt(infoField(text(info), "master_repl_offset"), 10, 64)
	if err := waitFor("the replica to take the flush", startTimeout, func() error {
		v, err := r.do("INFO", "replication")
		if err != nil {
			return err
		}
		if got, _ := strconv.ParseInt(infoField(text(v), "slave_repl_offset"), 10, 64); got < want {
			return fmt.Errorf("%s is at offset %d of %d", r.addr(), got, want)
		}
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
}

// RestartMaster kills the master (SIGKILL) and starts it again at once,
// empty. It returns when the set has settled: normally with the same
// master, back before the sentinels' one-second down-after, and the
// replica resynced from it and so empty too; if the restart took longer
// the sentinels may have failed over, and MasterAddr says so.
func (s *Sentinel) RestartMaster() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _ := s.byAddr(s.MasterAddr())
	if m == nil {
		s.t.Fatal("the sentinels name an unknown master")
	}
	m.kill()
	if err := m.start(); err != nil {
		s.t.Fatalf("restart master: %v", err)
	}
	if err := s.waitSettled("the set after the master's restart"); err != nil {
		s.t.Fatal(err)
	}
}

// Stop kills the sentinels, the master and the replica, and removes their
// directories.
func (s *Sentinel) Stop() { s.stop() }

func (s *sentinelSet) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.watchers {
		w.kill()
	}
	for _, n := range s.data {
		n.kill()
	}
	s.stopped = true
	_ = os.RemoveAll(s.dir)
}

func (s *sentinelSet) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}
