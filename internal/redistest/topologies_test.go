package redistest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/queue"
)

func TestMain(m *testing.M) { Main(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// eventually polls f until it returns nil or 20 s pass.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := waitFor(what, 20*time.Second, f); err != nil {
		t.Fatal(err)
	}
}

func TestFreePortLeavesBusPortFree(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if p >= 55535 {
			t.Fatalf("port %d: its bus port %d would be out of range", p, p+10000)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		for _, q := range []int{p, p + 10000} {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", q))
			if err != nil {
				t.Fatalf("port %d is not free: %v", q, err)
			}
			ln.Close()
		}
	}
}

func clusterClient(t *testing.T, c *Cluster) *redis.ClusterClient {
	u, err := url.Parse(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	// One address, as a user pastes it: the client finds the other nodes.
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{u.Host}})
	t.Cleanup(func() { cl.Close() })
	return cl
}

func dbsize(t *testing.T, do func(string, ...string) (string, error), addr string) int {
	t.Helper()
	out, err := do(addr, "DBSIZE")
	if err != nil {
		t.Fatalf("DBSIZE on %s: %v", addr, err)
	}
	var n int
	fmt.Sscan(out, &n)
	return n
}

func TestClusterServesEverySlotFromOneNodeURL(t *testing.T) {
	c := SharedCluster(t)
	c.FlushAll()
	if len(c.Addrs()) != 6 || len(c.Masters()) != 3 || len(c.Replicas()) != 3 {
		t.Fatalf("want 6 nodes, 3 masters, 3 replicas; have %v, masters %v, replicas %v", c.Addrs(), c.Masters(), c.Replicas())
	}
	cl := clusterClient(t, c)
	for i := range 100 {
		if err := cl.Set(ctx(t), fmt.Sprint("key:", i), i, 0).Err(); err != nil {
			t.Fatalf("SET key:%d: %v", i, err)
		}
	}
	for i := range 100 {
		if got, err := cl.Get(ctx(t), fmt.Sprint("key:", i)).Int(); err != nil || got != i {
			t.Fatalf("GET key:%d = %d, %v", i, got, err)
		}
	}
	// The keys spread over the three masters, so slots of every master
	// were reached through the one address.
	for _, m := range c.Masters() {
		if n := dbsize(t, c.Do, m); n == 0 {
			t.Errorf("master %s holds no key", m)
		}
	}
}

func TestClusterURLsParseAsTuiReadsThem(t *testing.T) {
	c := SharedCluster(t)
	one, err := queue.ParseURL(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(one.Addrs, c.Addrs()[:1]) {
		t.Errorf("%s parses to %v", c.URL(), one.Addrs)
	}
	all, err := queue.ParseURL(c.URLWithAddrs())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all.Addrs, c.Addrs()) {
		t.Errorf("%s parses to %v, want %v", c.URLWithAddrs(), all.Addrs, c.Addrs())
	}
	cl := redis.NewUniversalClient(all)
	defer cl.Close()
	if _, ok := cl.(*redis.ClusterClient); !ok {
		t.Fatalf("URLWithAddrs makes a %T, not a cluster client", cl)
	}
	if err := cl.Set(ctx(t), "{a}x", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestClusterFlushAllEmptiesReplicasToo(t *testing.T) {
	c := SharedCluster(t)
	cl := clusterClient(t, c)
	for i := range 50 {
		if err := cl.Set(ctx(t), fmt.Sprint("flush:", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Replication is asynchronous: wait until the replicas hold keys, so
	// the flush below has something to remove there.
	eventually(t, "replicas to receive keys", func() error {
		for _, r := range c.Replicas() {
			if dbsize(t, c.Do, r) == 0 {
				return fmt.Errorf("replica %s is empty", r)
			}
		}
		return nil
	})
	c.FlushAll()
	for _, a := range c.Addrs() {
		if n := dbsize(t, c.Do, a); n != 0 {
			t.Errorf("%s holds %d keys after FlushAll", a, n)
		}
	}
}

func TestClusterRestartKeepsShapeLosesData(t *testing.T) {
	c := SharedCluster(t)
	c.FlushAll()
	cl := clusterClient(t, c)
	if err := cl.Set(ctx(t), "before-restart", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	masters := c.Masters()
	c.Restart()
	if got := c.Masters(); !slices.Equal(got, masters) {
		t.Errorf("masters %v after restart, were %v", got, masters)
	}
	// A fresh client, as after a reconnect; the old one's connections died.
	cl = clusterClient(t, c)
	if err := cl.Get(ctx(t), "before-restart").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET after a restart without persistence: %v, want redis.Nil", err)
	}
	if err := cl.Set(ctx(t), "after-restart", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestClusterFailoverMovesSlotsToTheReplica(t *testing.T) {
	c := SharedCluster(t)
	c.FlushAll()
	cl := clusterClient(t, c)
	if err := cl.Set(ctx(t), "kept", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// The master of the key's slot is the one to fail over.
	slot, err := cl.ClusterKeySlot(ctx(t), "kept").Result()
	if err != nil {
		t.Fatal(err)
	}
	var master string
	for _, m := range c.Masters() {
		if out, err := c.Do(m, "CLUSTER", "COUNTKEYSINSLOT", fmt.Sprint(slot)); err == nil && out == "1" {
			master = m
		}
	}
	if master == "" {
		t.Fatal("no master holds the key")
	}
	promoted := c.Failover(master)
	if !slices.Contains(c.Masters(), promoted) || slices.Contains(c.Masters(), master) {
		t.Fatalf("after Failover(%s): masters %v, want %s in place of it", master, c.Masters(), promoted)
	}
	if v, err := cl.Get(ctx(t), "kept").Result(); err != nil || v != "1" {
		t.Errorf("GET kept after failover = %q, %v", v, err)
	}
}

func TestSentinelFailoverKeepsWrites(t *testing.T) {
	s := SharedSentinel(t)
	s.FlushAll()
	opts, err := queue.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if opts.MasterName != s.MasterName() || !slices.Equal(opts.Addrs, s.SentinelAddrs()) {
		t.Fatalf("%s parses to master %q, sentinels %v", s.URL(), opts.MasterName, opts.Addrs)
	}
	cl := redis.NewUniversalClient(opts)
	defer cl.Close()
	if _, ok := cl.(*redis.Client); !ok {
		t.Fatalf("the Sentinel URL makes a %T, not a failover client", cl)
	}
	if err := cl.Set(ctx(t), "k1", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// The write must reach the replica before the failover promotes it.
	waitReplicaKeys(t, s, 1)

	for round := range 2 { // there and back: a second failover is accepted too
		old := s.MasterAddr()
		s.Failover()
		now := s.MasterAddr()
		if now == old {
			t.Fatalf("round %d: master still %s after Failover", round, old)
		}
		if role, err := s.Do(old, "ROLE"); err != nil || !strings.HasPrefix(role, "slave\n") {
			t.Fatalf("round %d: former master %s has ROLE %q, %v", round, old, role, err)
		}
		key := fmt.Sprint("after-", round)
		waitReplicaKeys(t, s, 1+round)
		// The client learns of the switch from the sentinels; a write
		// issued in that instant may fail once, so wait for one to land.
		eventually(t, "a write after the failover", func() error {
			return cl.Set(ctx(t), key, "x", 0).Err()
		})
		for _, k := range []string{"k1", key} {
			if v, err := s.Do(now, "GET", k); err != nil || v == "" {
				t.Errorf("round %d: %s on the new master %s = %q, %v", round, k, now, v, err)
			}
		}
	}
}

// A master that was once a replica must come back empty too: a replica
// keeps the snapshot of its last full sync in dump.rdb and would load it.
func TestSentinelRestartMasterLosesDataEvenAfterFailovers(t *testing.T) {
	s := SharedSentinel(t)
	s.FlushAll()
	if _, err := s.Do(s.MasterAddr(), "SET", "doomed", "1"); err != nil {
		t.Fatal(err)
	}
	waitReplicaKeys(t, s, 1)
	s.Failover() // the former master resyncs from the new one, key and all
	s.Failover()
	s.RestartMaster()
	// The empty master's replica resyncs from it: nothing survives.
	for _, a := range []string{s.MasterAddr(), s.ReplicaAddr()} {
		if n := dbsize(t, s.Do, a); n != 0 {
			t.Errorf("%s holds %d keys after the master restarted empty", a, n)
		}
	}
}

// waitReplicaKeys waits until the replica holds n keys (WAIT would need
// the writer's own connection).
func waitReplicaKeys(t *testing.T, s *Sentinel, n int) {
	t.Helper()
	eventually(t, "the replica to catch up", func() error {
		if got := dbsize(t, s.Do, s.ReplicaAddr()); got != n {
			return fmt.Errorf("replica holds %d keys, want %d", got, n)
		}
		return nil
	})
}

func TestTLSRequiresTrustedClientCertificate(t *testing.T) {
	s := SharedTLS(t)
	opts, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if opts.TLSConfig == nil {
		t.Fatalf("%s does not ask for TLS", s.URL())
	}
	connect := func(cfg *tls.Config) error {
		o := *opts
		o.TLSConfig = cfg
		o.MaxRetries = -1
		cl := redis.NewClient(&o)
		defer cl.Close()
		return cl.Set(ctx(t), "tls", "1", 0).Err()
	}
	if err := connect(s.TLSConfig()); err != nil {
		t.Fatalf("with the CA and the client certificate: %v", err)
	}

	pool := func(file string) *x509.CertPool {
		p := x509.NewCertPool()
		data, err := os.ReadFile(file)
		if err != nil || !p.AppendCertsFromPEM(data) {
			t.Fatalf("read %s: %v", file, err)
		}
		return p
	}
	pair := func(cert, key string) []tls.Certificate {
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{c}
	}
	good := pair(s.ClientCertFile(), s.ClientKeyFile())
	if err := connect(&tls.Config{RootCAs: pool(s.CAFile()), Certificates: good}); err != nil {
		t.Fatalf("with the files: %v", err)
	}
	if err := connect(&tls.Config{RootCAs: pool(s.CAFile())}); err == nil {
		t.Error("the server accepted a client without a certificate")
	}
	if err := connect(&tls.Config{RootCAs: pool(s.CAFile()),
		Certificates: pair(s.UntrustedClientCertFile(), s.UntrustedClientKeyFile())}); err == nil {
		t.Error("the server accepted a client certificate from an unrelated CA")
	}
	var unknown x509.UnknownAuthorityError
	if err := connect(&tls.Config{RootCAs: pool(s.UntrustedCAFile()), Certificates: good}); !errors.As(err, &unknown) {
		t.Errorf("trusting only an unrelated CA: %v, want an unknown authority error", err)
	}
	if err := connect(nil); err == nil {
		t.Error("the TLS port answered plain TCP")
	}
}

func TestTLSRestartLosesData(t *testing.T) {
	s := SharedTLS(t)
	if _, err := s.Do("SET", "doomed", "1"); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if v, err := s.Do("EXISTS", "doomed"); err != nil || v != "0" {
		t.Errorf("EXISTS doomed after restart = %q, %v", v, err)
	}
	if _, err := s.Do("SET", "k", "1"); err != nil {
		t.Fatal(err)
	}
	s.FlushAll()
	if v, err := s.Do("DBSIZE"); err != nil || v != "0" {
		t.Errorf("DBSIZE after FlushAll = %q, %v", v, err)
	}
}

// TestNoServerOutlivesAKilledTestBinary runs this test binary as a child
// that starts servers and hangs, kills it as go test's timeout would, and
// waits for its servers to go away.
func TestNoServerOutlivesAKilledTestBinary(t *testing.T) {
	if os.Getenv("REDISTEST_ORPHAN_CHILD") != "" {
		srv := Start(t)
		tlsSrv := StartTLS(t)
		fmt.Println(srv.Addr(), tlsSrv.Addr())
		select {} // until killed
	}
	requireRedis(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestNoServerOutlivesAKilledTestBinary$", "-test.v")
	// The killed child cannot remove its directories; keep them in ours.
	cmd.Env = append(os.Environ(), "REDISTEST_ORPHAN_CHILD=1", "TMPDIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var addrs []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && strings.HasPrefix(f[0], "127.0.0.1:") {
			addrs = f
			break
		}
	}
	if addrs == nil {
		t.Fatalf("the child printed no addresses: %v", sc.Err())
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err != nil {
			t.Fatalf("the child's server %s is not up: %v", a, err)
		} else {
			c.Close()
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	eventually(t, "the child's servers to die with it", func() error {
		for _, a := range addrs {
			if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
				c.Close()
				return fmt.Errorf("%s still accepts connections", a)
			}
		}
		return nil
	})
}

// A password goes to every node, to replication (masterauth), to the
// sentinels (auth-pass) and into the URLs.
func TestPasswordProtectedTopologies(t *testing.T) {
	t.Run("cluster", func(t *testing.T) {
		c := StartCluster(t, "requirepass s3cret")
		if _, err := doText(c.Addrs()[0], nil, "", "GET", "x"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Fatalf("a node answered without the password: %v", err)
		}
		opts, err := queue.ParseURL(c.URLWithAddrs())
		if err != nil || opts.Password != "s3cret" {
			t.Fatalf("%s: password %q, %v", c.URLWithAddrs(), opts.Password, err)
		}
		cl := redis.NewUniversalClient(opts)
		defer cl.Close()
		for i := range 30 {
			if err := cl.Set(ctx(t), fmt.Sprint("pw:", i), 1, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		c.FlushAll()
	})
	t.Run("sentinel", func(t *testing.T) {
		s := StartSentinel(t, "requirepass s3cret")
		opts, err := queue.ParseURL(s.URL())
		if err != nil || opts.Password != "s3cret" {
			t.Fatalf("%s: password %q, %v", s.URL(), opts.Password, err)
		}
		cl := redis.NewUniversalClient(opts)
		defer cl.Close()
		if err := cl.Set(ctx(t), "k", "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		waitReplicaKeys(t, s, 1) // the replica authenticated to its master
		s.Failover()             // the sentinels authenticated to both
		eventually(t, "a write after the failover", func() error { return cl.Set(ctx(t), "k2", "1", 0).Err() })
	})
}
