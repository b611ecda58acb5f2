package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Durable writes. Redis acknowledges a write once its master has it; a
// failover (Sentinel, Cluster) promotes a replica that may not have it yet,
// and the write is gone — acks and done-marks lost meant jobs delivered
// again. So where a master has replicas, what a worker reads (its claim on
// jobs) and what it records (outcomes) counts only once a replica confirms
// it with WAIT on the same connection; until then the worker does not
// deliver those jobs, or retries the record (every record is idempotent).
// A master with no replica has nothing to wait for: WAIT is skipped.

// ErrNotReplicated means the master took a write but no replica confirmed
// it in time: a failover now would lose it. Callers retry the write.
var ErrNotReplicated = errors.New("no replica confirmed the write in time (a failover may be under way); retrying")

// ReplicaWait bounds how long a write waits for a replica's confirmation.
const ReplicaWait = time.Second

// replicaAbsence is how long a master must show no replica before writes
// stop waiting for one: a failover briefly leaves the old master without
// its replica, and writes then must not count as durable.
const replicaAbsence = 10 * time.Second

// replicaRefresh is how often a master's replica count is looked up.
const replicaRefresh = 5 * time.Second

type replicaState struct {
	mu           sync.Mutex
	checked      time.Time
	wait         bool // writes wait for one replica
	missingSince time.Time
}

// replicaStates holds, per server client (a Cluster node, a Sentinel
// master, a single server), whether its writes wait for a replica.
var replicaStates sync.Map // *redis.Client → *replicaState

// waitsForReplica reports whether writes through node wait for a replica,
// looking the replicas up at most every replicaRefresh.
func waitsForReplica(ctx context.Context, node *redis.Client) bool {
	v, _ := replicaStates.LoadOrStore(node, &replicaState{})
	rs := v.(*replicaState)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	now := time.Now()
	if now.Sub(rs.checked) < replicaRefresh {
		return rs.wait
	}
	info, err := node.Info(ctx, "replication").Result()
	if err != nil {
		return rs.wait // keep the last answer; the write itself will fail
	}
	rs.checked = now
	n := connectedReplicas(info)
	switch {
	case n > 0:
		rs.wait, rs.missingSince = true, time.Time{}
	case !rs.wait:
	case rs.missingSince.IsZero():
		rs.missingSince = now
	case now.Sub(rs.missingSince) >= replicaAbsence:
		rs.wait = false
	}
	return rs.wait
}

// connectedReplicas reads connected_slaves from INFO replication.
func connectedReplicas(info string) int {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// nodeFor returns the client of the server that holds key: its Cluster
// master, or the client itself (a single server, or Sentinel's current
// master).
func nodeFor(ctx context.Context, rdb redis.UniversalClient, key string) (*redis.Client, error) {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, key)
	case *redis.Client:
		return c, nil
	}
	return nil, fmt.Errorf("unsupported Redis client %T", rdb)
}

// onNode runs fn on one connection to the server holding key and, when
// that server's writes wait for a replica, waits for one to confirm
// everything fn wrote. It returns ErrNotReplicated when none did in time.
func onNode(ctx context.Context, rdb redis.UniversalClient, key string, fn func(c *redis.Conn) error) error {
	node, err := nodeFor(ctx, rdb, key)
	if err != nil {
		return err
	}
	if !waitsForReplica(ctx, node) {
		return fn(nil)
	}
	conn := node.Conn()
	defer conn.Close()
	if err := fn(conn); err != nil {
		if IsMovedOrAsk(err) {
			Refresh(ctx, rdb)
		}
		return err
	}
	n, err := conn.Do(ctx, "WAIT", 1, ReplicaWait.Milliseconds()).Int()
	if err != nil {
		return err
	}
	if n < 1 {
		return ErrNotReplicated
	}
	return nil
}

// cmdable is a connection when writes wait for a replica, else the client.
func cmdable(rdb redis.UniversalClient, c *redis.Conn) redis.Cmdable {
	if c != nil {
		return c
	}
	return rdb
}

// IsMovedOrAsk reports a Cluster redirection the client did not follow: its
// view of the slots is stale.
func IsMovedOrAsk(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "MOVED ") || strings.HasPrefix(msg, "ASK ")
}

// Refresh makes a Cluster client read the slots again (after a MOVED on a
// connection taken from one node); other clients need nothing.
func Refresh(ctx context.Context, rdb redis.UniversalClient) {
	if c, ok := rdb.(*redis.ClusterClient); ok {
		c.ReloadState(ctx)
	}
}
