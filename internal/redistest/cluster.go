package redistest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// clusterNodeTimeout is short so that a killed master is failed over in a
// few seconds, yet long enough that a loaded machine does not fail over
// a master that is merely slow to answer. Override it with
// Option("cluster-node-timeout N").
const clusterNodeTimeout = "2000"

// Cluster is a running Redis Cluster of three masters with one replica
// each, every node on its own loopback port and in its own directory.
//
// A Cluster handle is bound to the test that obtained it: its methods
// fail that test. The processes may be shared (SharedCluster).
type Cluster struct {
	t testing.TB
	*cluster
}

type cluster struct {
	dir      string
	nodes    []*proc
	password string

	mu      sync.Mutex // serialises Restart, FlushAll and Stop
	stopped bool
}

// StartCluster starts a six-node Cluster (three masters, three replicas)
// and waits until every node reports cluster_state:ok, all 16384 slots
// are served and every replica is in sync. It is stopped when the test
// ends. Options are redis-server configuration lines applied to every
// node after the defaults (no persistence, cluster-node-timeout 2000);
// "requirepass X" also sets masterauth and goes into the URLs.
func StartCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	requireRedis(t)
	c, err := startCluster(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return &Cluster{t: t, cluster: c}
}

func startCluster(opts []Option) (_ *cluster, err error) {
	dir, err := tempDir("cluster")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, password: passwordOf(opts)}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	for i := range 6 {
		n := &proc{dir: filepath.Join(dir, fmt.Sprintf("node%d", i)), password: c.password}
		if err := os.Mkdir(n.dir, 0o700); err != nil {
			return nil, err
		}
		n.args = func() []string {
			args := append(baseArgs(n.port, n.dir),
				"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", clusterNodeTimeout)
			if c.password != "" {
				args = append(args, "--masterauth", c.password)
			}
			return append(args, optionArgs(opts)...)
		}
		if err := startFresh(n, func() error {
			n.name = "cluster node " + n.addr()
			return nil
		}); err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	if err := c.create(); err != nil {
		return nil, err
	}
	if err := c.waitHealthy("the new cluster"); err != nil {
		return nil, err
	}
	return c, nil
}

// create joins the nodes with redis-cli, the way an operator would.
func (c *cluster) create() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*startTimeout)
	defer cancel()
	args := []string{"--cluster", "create"}
	args = append(args, c.addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if c.password != "" {
		args = append(args, "-a", c.password, "--no-auth-warning")
	}
	out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	return nil
}

func (c *cluster) addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr()
	}
	return out
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr, master string
	flags            []string
	link             string
	slots            []string
}

func (n clusterNode) is(flag string) bool { return slices.Contains(n.flags, flag) }

func parseClusterNodes(s string) []clusterNode {
	var out []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@") // drop the bus port
		addr, _, _ = strings.Cut(addr, ",")  // and a hostname
		out = append(out, clusterNode{id: f[0], addr: addr, flags: strings.Split(f[2], ","),
			master: f[3], link: f[7], slots: f[8:]})
	}
	return out
}

// view is a node's picture of the cluster, in a form two nodes can be
// compared by: who is master of what, and who replicates whom.
func (c *cluster) view(n *proc) (string, []clusterNode, error) {
	v, err := n.do("CLUSTER", "NODES")
	if err != nil {
		return "", nil, err
	}
	nodes := parseClusterNodes(text(v))
	var lines []string
	for _, cn := range nodes {
		for _, bad := range []string{"fail", "fail?", "handshake", "noaddr"} {
			if cn.is(bad) {
				return "", nil, fmt.Errorf("%s sees %s as %s", n.addr(), cn.addr, bad)
			}
		}
		if cn.link != "connected" {
			return "", nil, fmt.Errorf("%s sees %s %s", n.addr(), cn.addr, cn.link)
		}
		role := "master"
		if cn.is("slave") {
			role = "replica-of-" + cn.master
		}
		lines = append(lines, cn.id+" "+cn.addr+" "+role+" "+strings.Join(cn.slots, " "))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n"), nodes, nil
}

// healthy says why the cluster is not yet fit for a test: a node that
// does not report cluster_state:ok, nodes that disagree about who is
// master, or a replica whose link is down or whose master has not yet
// counted it online.
func (c *cluster) healthy() error {
	var first string
	var nodes []clusterNode
	for _, n := range c.nodes {
		v, err := n.do("CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("CLUSTER INFO on %s: %w", n.addr(), err)
		}
		info := text(v)
		for field, want := range map[string]string{"cluster_state": "ok", "cluster_slots_ok": "16384",
			"cluster_known_nodes": fmt.Sprint(len(c.nodes)), "cluster_size": fmt.Sprint(len(c.nodes) / 2)} {
			if got := infoField(info, field); got != want {
				return fmt.Errorf("%s reports %s:%s", n.addr(), field, got)
			}
		}
		view, ns, err := c.view(n)
		if err != nil {
			return err
		}
		if first == "" {
			first, nodes = view, ns
		} else if view != first {
			return fmt.Errorf("nodes disagree about the cluster:\n%s\n--- and ---\n%s", first, view)
		}
	}
	for _, cn := range nodes {
		if !cn.is("slave") {
			continue
		}
		info, err := doText(cn.addr, nil, c.password, "INFO", "replication")
		if err != nil {
			return err
		}
		if got := infoField(info, "master_link_status"); got != "up" {
			return fmt.Errorf("replica %s: master_link_status:%s", cn.addr, got)
		}
		if got := infoField(info, "master_sync_in_progress"); got != "0" {
			return fmt.Errorf("replica %s is still syncing", cn.addr)
		}
	}
	for _, cn := range nodes {
		if cn.is("slave") {
			continue
		}
		info, err := doText(cn.addr, nil, c.password, "INFO", "replication")
		if err != nil {
			return err
		}
		if got := infoField(info, "connected_slaves"); got != "1" {
			return fmt.Errorf("master %s: connected_slaves:%s", cn.addr, got)
		}
		if s := infoField(info, "slave0"); !strings.Contains(s, "state=online") {
			return fmt.Errorf("master %s: replica %s", cn.addr, s)
		}
	}
	return nil
}

func (c *cluster) waitHealthy(what string) error {
	return waitFor(what+" to be ok on every node", startTimeout, c.healthy)
}

// Addrs are the host:port of every node, masters and replicas, in the
// order they were started (roles move with failovers; see Masters).
func (c *Cluster) Addrs() []string { return c.addrs() }

// URL is redis://[:password@]host:port/0 of one node, the form a user
// pastes: a client finds the rest of the cluster from it.
func (c *Cluster) URL() string { return nodeURL("redis", c.password, c.nodes[0].addr()) }

// URLWithAddrs names every node: the first in the host part, the others
// as addr parameters.
func (c *Cluster) URLWithAddrs() string {
	// host:port needs no escaping in a query, and reads better bare.
	q := make([]string, 0, len(c.nodes)-1)
	for _, a := range c.addrs()[1:] {
		q = append(q, "addr="+a)
	}
	return c.URL() + "?" + strings.Join(q, "&")
}

// Masters are the addresses of the nodes that serve slots now, sorted.
func (c *Cluster) Masters() []string {
	c.t.Helper()
	return c.role(false)
}

// Replicas are the addresses of the replicas now, sorted.
func (c *Cluster) Replicas() []string {
	c.t.Helper()
	return c.role(true)
}

func (c *Cluster) role(replicas bool) []string {
	c.t.Helper()
	var out []string
	err := waitFor("a cluster view", startTimeout, func() error {
		out = nil
		_, nodes, err := c.view(c.nodes[0])
		if err != nil {
			return err
		}
		for _, cn := range nodes {
			if cn.is("slave") == replicas {
				out = append(out, cn.addr)
			}
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// Do runs one command on the node at addr and returns its reply as
// redis-cli --raw prints it (array elements one a line).
func (c *Cluster) Do(addr string, args ...string) (string, error) {
	return doText(addr, nil, c.password, args...)
}

// FlushAll empties every master and waits until every replica has taken
// the FLUSHALL (its replication offset reached the master's after it).
// Clients writing meanwhile may have written again: the cluster holds
// only what was written after the flush.
func (c *Cluster) FlushAll() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.flushAll(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) flushAll() error {
	_, nodes, err := c.view(c.nodes[0])
	if err != nil {
		return err
	}
	for _, cn := range nodes {
		if !cn.is("master") {
			continue
		}
		if _, err := query(cn.addr, nil, c.password, "FLUSHALL"); err != nil {
			return fmt.Errorf("FLUSHALL on %s: %w", cn.addr, err)
		}
		if err := replicasCaughtUp(cn.addr, c.password, nodes, cn.id); err != nil {
			return err
		}
	}
	return nil
}

// replicasCaughtUp waits until every replica of the master at addr has
// processed what the master had written when it was called.
func replicasCaughtUp(addr, password string, nodes []clusterNode, masterID string) error {
	info, err := doText(addr, nil, password, "INFO", "replication")
	if err != nil {
		return err
	}
	want, _ := strconv.ParseInt(infoField(info, "master_repl_offset"), 10, 64)
	for _, r := range nodes {
		if r.master != masterID {
			continue
		}
		if err := waitFor("a replica to take the flush", startTimeout, func() error {
			info, err := doText(r.addr, nil, password, "INFO", "replication")
			if err != nil {
				return err
			}
			if got, _ := strconv.ParseInt(infoField(info, "slave_repl_offset"), 10, 64); got < want {
				return fmt.Errorf("%s is at offset %d of %d", r.addr, got, want)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// Restart kills every node (SIGKILL, as a crash or a power cut would) and
// starts them again on the same ports with the same nodes.conf, so the
// cluster keeps its shape and, without persistence, loses its data. It
// returns when the cluster is ok again.
func (c *Cluster) Restart() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		n.kill()
	}
	for _, n := range c.nodes {
		if err := n.start(); err != nil {
			c.t.Fatalf("restart cluster: %v", err)
		}
	}
	if err := c.waitHealthy("the restarted cluster"); err != nil {
		c.t.Fatal(err)
	}
}

// Failover promotes the replica of master (CLUSTER FAILOVER, the
// coordinated manual failover: no write is lost) and returns the new
// master's address once every node agrees and the former master
// replicates it.
func (c *Cluster) Failover(master string) string {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	_, nodes, err := c.view(c.nodes[0])
	if err != nil {
		c.t.Fatal(err)
	}
	var id, replica string
	for _, cn := range nodes {
		if cn.addr == master {
			id = cn.id
		}
	}
	for _, cn := range nodes {
		if id != "" && cn.master == id {
			replica = cn.addr
		}
	}
	if replica == "" {
		c.t.Fatalf("%s is not a master with a replica", master)
	}
	if _, err := query(replica, nil, c.password, "CLUSTER", "FAILOVER"); err != nil {
		c.t.Fatalf("CLUSTER FAILOVER on %s: %v", replica, err)
	}
	if err := waitFor(replica+" to take over from "+master, startTimeout, func() error {
		_, nodes, err := c.view(c.nodes[0])
		if err != nil {
			return err
		}
		for _, cn := range nodes {
			if cn.addr == replica && !cn.is("master") {
				return fmt.Errorf("%s is still a replica", replica)
			}
		}
		return c.healthy()
	}); err != nil {
		c.t.Fatal(err)
	}
	return replica
}

// Stop kills every node and removes their directories.
func (c *Cluster) Stop() { c.stop() }

func (c *cluster) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		n.kill()
	}
	c.stopped = true
	_ = os.RemoveAll(c.dir)
}

func (c *cluster) isStopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

func nodeURL(scheme, password, addr string) string {
	u := url.URL{Scheme: scheme, Host: addr, Path: "/0"}
	if password != "" {
		u.User = url.UserPassword("", password)
	}
	return u.String()
}
