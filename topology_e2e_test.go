package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
	"tui/internal/testkit"
	"tui/internal/testkit/seed"
	"tui/queue"
	"tui/store"
)

// The product's promise on every Redis it runs on — one server, a Cluster,
// Sentinel with a failover, TLS — and through the faults operators meet: a
// Redis that forgets (FLUSHALL, a restart without persistence) and a worker
// stopped past its lease. Each scenario runs the real binary (`campaign
// send --wait` as the owner, `--headless-worker` processes) and reads the
// outcome from the outbox, the ledger and `status --json`: nobody lost,
// nobody skipped, every duplicate flagged and counted, and duplicates no
// more than the deliveries in flight at the fault.

// topology is a Redis deployment as tui and the test each reach it.
type topology interface {
	// Env is what tui needs: REDIS_URL and any TLS settings.
	Env() []string
	// Client is the test's own connection, to inspect and to break things.
	Client(t *testing.T) redis.UniversalClient
	// FlushAll empties every server, as FLUSHALL would.
	FlushAll(t *testing.T)
	// Restart kills every server and starts it again empty.
	Restart(t *testing.T)
}

// single is one redis-server.
type single struct{ srv *redistest.Server }

func (s single) Env() []string { return []string{"REDIS_URL=" + s.srv.URL()} }

func (s single) Client(t *testing.T) redis.UniversalClient {
	c := redis.NewClient(&redis.Options{Addr: s.srv.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

func (s single) FlushAll(t *testing.T) {
	c := s.Client(t)
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

func (s single) Restart(t *testing.T) { s.srv.Restart() }

// owner is `tui campaign send ID --wait`: it starts (or resumes) the send,
// folds events into the ledger and follows until the send is over.
type owner struct {
	cmd    *exec.Cmd
	stderr *testkit.LockedBuffer
	done   chan struct{}
	code   int
}

func startOwner(t *testing.T, env []string, db string, id uint64) *owner {
	t.Helper()
	cmd := exec.Command(tuiBinary(t), "campaign", "send", fmt.Sprint(id), "--wait")
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "TUI_DB=" + db}, env...)
	o := &owner{cmd: cmd, stderr: &testkit.LockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = o.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			o.code = ee.ExitCode()
		} else if err != nil {
			o.code = -1
		}
		close(o.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-o.done
	})
	return o
}

// wait waits for the owner to exit and fails the test unless it exits 0.
func (o *owner) wait(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case <-o.done:
	case <-time.After(within):
		t.Fatalf("`send --wait` did not end within %s:\n%s", within, o.stderr.String())
	}
	if o.code != 0 {
		t.Fatalf("`send --wait` exited %d:\n%s", o.code, o.stderr.String())
	}
	return o.stderr.String()
}

// addCampaign adds a second campaign to the same audience.
func addCampaign(t *testing.T, db, name string, rate int) uint64 {
	t.Helper()
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.CreateCampaign("test", store.Campaign{Name: name, Channel: store.ChannelFile, Rate: rate,
		Tags: []string{"all"}, Subject: "Hi {{.name}}", Body: "Hello {{.name}}"})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func setRate(t *testing.T, db string, id uint64, rate int) {
	t.Helper()
	editCampaign(t, db, id, func(c *store.Campaign) { c.Rate = rate })
}

// linesOf keeps one campaign's outbox lines.
func linesOf(lines []outboxLine, id uint64) []outboxLine {
	var out []outboxLine
	for _, l := range lines {
		if l.Campaign == id {
			out = append(out, l)
		}
	}
	return out
}

// checkDuplicatesFlagged asserts that every recipient got the message, that
// each copy after the first carries the redelivery mark and a higher
// attempt, and returns how many recipients got more than one copy.
func checkDuplicatesFlagged(t *testing.T, lines []outboxLine, n int) (twice int) {
	t.Helper()
	byKey := map[string][]outboxLine{}
	for _, l := range lines {
		byKey[l.Key] = append(byKey[l.Key], l)
	}
	if len(byKey) != n {
		t.Fatalf("%d distinct recipients delivered, want %d: somebody was lost", len(byKey), n)
	}
	for key, ls := range byKey {
		if len(ls) < 2 {
			continue
		}
		twice++
		marked := 0
		for _, l := range ls {
			if l.Redelivery {
				marked++
			}
		}
		if marked < len(ls)-1 {
			t.Errorf("%s delivered %d times, only %d of them marked as a redelivery: %+v", key, len(ls), marked, ls)
		}
		attempts := map[int]bool{}
		for _, l := range ls {
			attempts[l.Attempt] = true
		}
		if len(attempts) < len(ls) {
			t.Errorf("%s delivered %d times with attempts %v: a second copy must carry a higher attempt", key, len(ls), ls)
		}
	}
	return twice
}

// checkLedger asserts from `status --json` that everyone was sent, nobody
// skipped, and the possible duplicates were counted.
func checkLedger(t *testing.T, env []string, db string, id uint64, n, twice int) statusJSON {
	t.Helper()
	code, out, errOut := runBinary(t, append([]string{"TUI_DB=" + db}, env...), "campaign", "status", fmt.Sprint(id), "--json")
	if code != 0 {
		t.Fatalf("campaign status: exit %d\n%s", code, errOut)
	}
	var s statusJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if s.Status != store.StatusCompleted || s.Counts[store.RecipientSent] != n || s.Counts[store.RecipientSkipped] != 0 {
		t.Fatalf("the ledger says %s with %v; want completed, %d sent, nobody skipped", s.Status, s.Counts, n)
	}
	if s.PossiblyTwice < twice {
		t.Errorf("the ledger counts %d possibly delivered twice; the outbox shows %d", s.PossiblyTwice, twice)
	}
	return s
}

// scenarioTwoAtOnce: two campaigns send at once through two workers and
// both complete, each recipient once.
func scenarioTwoAtOnce(t *testing.T, tp topology) {
	env := tp.Env()
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	const n = 600
	// At a rate, so that the two sends overlap for a few seconds.
	const rate = 300
	db, a := seed.Campaign(t, n)
	setRate(t, db, a, rate)
	b := addCampaign(t, db, "Second", rate)
	for i := 0; i < 2; i++ {
		startWorkerProcEnv(t, env, outbox, "--concurrency", "8")
	}
	if code, _, stderr := runBinary(t, append([]string{"TUI_DB=" + db}, env...), "campaign", "send", fmt.Sprint(a)); code != 0 {
		t.Fatalf("campaign send: exit %d\n%s", code, stderr)
	}
	startOwner(t, env, db, b).wait(t, 90*time.Second)
	// The owner folded both sends while it followed b; a is done or nearly.
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, out, _ := runBinary(t, append([]string{"TUI_DB=" + db}, env...), "campaign", "status", fmt.Sprint(a), "--json")
		if code == 0 && strings.Contains(out, `"status": "completed"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first campaign did not complete:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	lines := readOutbox(t, outbox)
	for _, id := range []uint64{a, b} {
		if twice := checkDuplicatesFlagged(t, linesOf(lines, id), n); twice != 0 {
			t.Errorf("campaign %d: %d recipients delivered twice without a fault", id, twice)
		}
		checkLedger(t, env, db, id, n, 0)
	}
}

// scenarioForgets: Redis loses everything mid-send; the owner notices by
// itself, queues again from the ledger whoever is not done, and the send
// completes with nobody lost or skipped.
func scenarioForgets(t *testing.T, tp topology, fault func(*testing.T), what string) {
	scenarioFault(t, tp, fault, what, true)
}

// scenarioFault runs a send through a fault; lost says whether the fault
// loses the queue (the owner then queues again from the ledger) or must
// not (a failover keeps what was confirmed).
func scenarioFault(t *testing.T, tp topology, fault func(*testing.T), what string, lost bool) {
	env := tp.Env()
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	const n, rate, workers, concurrency = 1500, 400, 2, 4
	db, id := seed.Campaign(t, n)
	setRate(t, db, id, rate)
	for i := 0; i < workers; i++ {
		startWorkerProcEnv(t, env, outbox, "--concurrency", fmt.Sprint(concurrency))
	}
	o := startOwner(t, env, db, id)
	waitLines(t, outbox, 300, 60*time.Second)
	fault(t)
	faultAt := time.Now()
	out := o.wait(t, 120*time.Second)
	if said := strings.Contains(out, "Redis lost the queue at"); said != lost {
		t.Errorf("`send --wait` said Redis lost the queue: %v, want %v:\n%s", said, lost, out)
	}
	lines := linesOf(readOutbox(t, outbox), id)
	twice := checkDuplicatesFlagged(t, lines, n)
	s := checkLedger(t, env, db, id, n, twice)
	if (len(s.QueueLosses) > 0) != lost {
		t.Errorf("the ledger records %d lost queues after %s: %+v", len(s.QueueLosses), what, s)
	}
	// In flight at the fault: the deliveries under way, those whose
	// outcome was on its way to Redis, and those recorded but not yet
	// folded by the owner (a few milliseconds at this rate).
	inFlight := workers*concurrency*2 + rate/10
	t.Logf("%s: %d recipients delivered twice (all flagged; ledger counts %d possibly twice, %d re-queued); bound %d",
		what, twice, s.PossiblyTwice, requeued(s), inFlight)
	if twice > inFlight {
		t.Errorf("%d recipients delivered twice after %s at %s; at most %d were in flight", twice, what, faultAt.Format("15:04:05.000"), inFlight)
	}
}

func requeued(s statusJSON) int {
	n := 0
	for _, l := range s.QueueLosses {
		n += l.Requeued
	}
	return n
}

// scenarioStopped: a worker stopped (SIGSTOP) past its lease; another takes
// its jobs over and delivers them, flagged as possible redeliveries; the
// stopped one, continued, delivers nothing it lost.
func scenarioStopped(t *testing.T, tp topology) {
	env := tp.Env()
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	const n, rate, concurrency = 1000, 200, 4
	// Short enough to keep the test short; long enough that a worker on a
	// loaded machine (-race, other tests, CPU burners) renews its leases in
	// time, so that only the stopped worker loses jobs.
	lease := 4 * time.Second
	db, id := seed.Campaign(t, n)
	setRate(t, db, id, rate)
	a := startWorkerProcEnv(t, env, outbox, "--lease", lease.String(), "--concurrency", fmt.Sprint(concurrency))
	startWorkerProcEnv(t, env, outbox, "--lease", lease.String(), "--concurrency", fmt.Sprint(concurrency))
	o := startOwner(t, env, db, id)
	waitLines(t, outbox, 200, 60*time.Second)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The other worker takes the stopped one's jobs over once the lease
	// lapses, and marks what it delivers of them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		redelivered := 0
		for _, l := range readOutbox(t, outbox) {
			if l.Redelivery {
				redelivered++
			}
		}
		if redelivered > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = a.cmd.Process.Signal(syscall.SIGCONT)
			t.Fatalf("nobody took over the stopped worker's jobs within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	o.wait(t, 90*time.Second)
	lines := linesOf(readOutbox(t, outbox), id)
	twice := checkDuplicatesFlagged(t, lines, n)
	s := checkLedger(t, env, db, id, n, twice)
	// In flight when it stopped: its deliveries under way and the
	// outcomes on their way to Redis.
	inFlight := concurrency * 2
	t.Logf("SIGSTOP past the lease: %d recipients delivered twice (all flagged; ledger counts %d possibly twice); bound %d",
		twice, s.PossiblyTwice, inFlight)
	if twice > inFlight {
		t.Errorf("%d recipients delivered twice after a SIGSTOP; at most %d were in flight", twice, inFlight)
	}
}

func TestSingleRedisTwoSendsAtOnce(t *testing.T) {
	scenarioTwoAtOnce(t, single{redistest.Start(t)})
}

func TestSingleRedisFlushedMidSendLosesNobody(t *testing.T) {
	tp := single{redistest.Start(t)}
	scenarioForgets(t, tp, tp.FlushAll, "FLUSHALL")
}

func TestSingleRedisRestartedEmptyMidSendLosesNobody(t *testing.T) {
	tp := single{redistest.Start(t)}
	scenarioForgets(t, tp, tp.Restart, "a restart without persistence")
}

func TestSingleRedisWorkerStoppedPastLease(t *testing.T) {
	scenarioStopped(t, single{redistest.Start(t)})
}

// cluster is a 6-node Redis Cluster, reached by the URL of one node: the
// form people paste, from which tui discovers the rest.
type cluster struct{ c *redistest.Cluster }

func (c cluster) Env() []string { return []string{"REDIS_URL=" + c.c.URL()} }

func (c cluster) Client(t *testing.T) redis.UniversalClient {
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.c.Addrs()})
	t.Cleanup(func() { cl.Close() })
	return cl
}

func (c cluster) FlushAll(*testing.T) { c.c.FlushAll() }
func (c cluster) Restart(*testing.T)  { c.c.Restart() }

// sentinel is a master, a replica and three sentinels.
type sentinel struct{ s *redistest.Sentinel }

func (s sentinel) Env() []string { return []string{"REDIS_URL=" + s.s.URL()} }

func (s sentinel) Client(t *testing.T) redis.UniversalClient {
	cl := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.s.MasterName(), SentinelAddrs: s.s.SentinelAddrs()})
	t.Cleanup(func() { cl.Close() })
	return cl
}

func (s sentinel) FlushAll(*testing.T) { s.s.FlushAll() }
func (s sentinel) Restart(*testing.T)  { s.s.RestartMaster() }

// tlsRedis is a redis-server that speaks only TLS and wants a client
// certificate signed by its CA.
type tlsRedis struct{ s *redistest.TLSServer }

func (s tlsRedis) Env() []string {
	return []string{"REDIS_URL=" + s.s.URL() + "?tls_ca=" + s.s.CAFile() + "&tls_cert=" + s.s.ClientCertFile() + "&tls_key=" + s.s.ClientKeyFile()}
}

func (s tlsRedis) Client(t *testing.T) redis.UniversalClient {
	cl := redis.NewClient(&redis.Options{Addr: s.s.Addr(), TLSConfig: s.s.TLSConfig()})
	t.Cleanup(func() { cl.Close() })
	return cl
}

func (s tlsRedis) FlushAll(*testing.T) { s.s.FlushAll() }
func (s tlsRedis) Restart(*testing.T)  { s.s.Restart() }

// The shared servers carry over what the last test left: each test starts
// them empty.
func sharedCluster(t *testing.T) cluster {
	c := cluster{redistest.SharedCluster(t)}
	c.c.FlushAll()
	return c
}

func sharedSentinel(t *testing.T) sentinel {
	s := sentinel{redistest.SharedSentinel(t)}
	s.s.FlushAll()
	return s
}

func sharedTLS(t *testing.T) tlsRedis {
	s := tlsRedis{redistest.SharedTLS(t)}
	s.s.FlushAll()
	return s
}

func TestClusterTwoSendsAtOnce(t *testing.T) { scenarioTwoAtOnce(t, sharedCluster(t)) }

func TestClusterFlushedMidSendLosesNobody(t *testing.T) {
	tp := sharedCluster(t)
	scenarioForgets(t, tp, tp.FlushAll, "FLUSHALL")
}

func TestClusterRestartedEmptyMidSendLosesNobody(t *testing.T) {
	tp := sharedCluster(t)
	scenarioForgets(t, tp, tp.Restart, "a restart without persistence")
}

func TestClusterWorkerStoppedPastLease(t *testing.T) { scenarioStopped(t, sharedCluster(t)) }

func TestSentinelTwoSendsAtOnce(t *testing.T) { scenarioTwoAtOnce(t, sharedSentinel(t)) }

func TestSentinelFlushedMidSendLosesNobody(t *testing.T) {
	tp := sharedSentinel(t)
	scenarioForgets(t, tp, tp.FlushAll, "FLUSHALL")
}

func TestSentinelMasterRestartedEmptyMidSendLosesNobody(t *testing.T) {
	tp := sharedSentinel(t)
	scenarioForgets(t, tp, tp.Restart, "a restart without persistence")
}

func TestSentinelWorkerStoppedPastLease(t *testing.T) { scenarioStopped(t, sharedSentinel(t)) }

func TestTLSTwoSendsAtOnce(t *testing.T) { scenarioTwoAtOnce(t, sharedTLS(t)) }

func TestTLSFlushedMidSendLosesNobody(t *testing.T) {
	tp := sharedTLS(t)
	scenarioForgets(t, tp, tp.FlushAll, "FLUSHALL")
}

func TestTLSRestartedEmptyMidSendLosesNobody(t *testing.T) {
	tp := sharedTLS(t)
	scenarioForgets(t, tp, tp.Restart, "a restart without persistence")
}

func TestTLSWorkerStoppedPastLease(t *testing.T) { scenarioStopped(t, sharedTLS(t)) }

// A forced failover mid-send costs at most the deliveries in flight: what
// workers read and recorded counts only once the replica has it, so the
// promoted replica holds it all, and nothing is queued again.
func TestSentinelFailoverMidSend(t *testing.T) {
	tp := sharedSentinel(t)
	scenarioFault(t, tp, func(*testing.T) { tp.s.Failover() }, "a Sentinel failover", false)
}

func TestClusterFailoverMidSend(t *testing.T) {
	tp := sharedCluster(t)
	scenarioFault(t, tp, func(t *testing.T) {
		// Every master hands over to its replica: whichever holds the
		// campaign's slot fails over.
		for _, m := range tp.c.Masters() {
			tp.c.Failover(m)
		}
	}, "a Cluster failover", false)
}

// sendRefused runs `campaign send` and asserts that it fails with want in
// its message and leaves the campaign a draft.
func sendRefused(t *testing.T, env []string, want ...string) {
	t.Helper()
	db, id := seed.Campaign(t, 5)
	code, _, stderr := runBinary(t, append([]string{"TUI_DB=" + db}, env...), "campaign", "send", fmt.Sprint(id))
	for _, w := range want {
		if code != 1 || !strings.Contains(stderr, w) {
			t.Fatalf("exit %d, want 1 and %q in:\n%s", code, w, stderr)
		}
	}
	if strings.Contains(stderr, "Start it (redis-server") {
		t.Errorf("the advice is to start a Redis that answered:\n%s", stderr)
	}
	_, out, _ := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "show", fmt.Sprint(id), "--json")
	if !strings.Contains(out, `"status": "draft"`) {
		t.Fatalf("the refused send changed the campaign:\n%s", out)
	}
}

// Certificate trouble is named as such, with the setting that fixes it.
func TestTLSCertificateProblemsSayWhatToDo(t *testing.T) {
	s := sharedTLS(t).s
	// No CA: the server's certificate is not trusted.
	sendRefused(t, []string{"REDIS_URL=" + s.URL()}, "certificate is not trusted", "tls_ca")
	// The CA, but no client certificate, which the server requires.
	sendRefused(t, []string{"REDIS_URL=" + s.URL() + "?tls_ca=" + s.CAFile()}, "client certificate", "tls_cert")
	// The settings from the environment instead of the URL work.
	db, id := seed.Campaign(t, 5)
	env := []string{"TUI_DB=" + db, "REDIS_URL=" + s.URL(), "REDIS_TLS_CA=" + s.CAFile(),
		"REDIS_TLS_CERT=" + s.ClientCertFile(), "REDIS_TLS_KEY=" + s.ClientKeyFile()}
	if code, _, stderr := runBinary(t, env, "campaign", "send", fmt.Sprint(id)); code != 0 {
		t.Fatalf("with REDIS_TLS_*: exit %d\n%s", code, stderr)
	}
}

// A Cluster has only database 0: a node's URL with another database is
// refused, saying so, whether the URL lists the nodes or names only one.
func TestClusterRefusesADatabaseOtherThanZero(t *testing.T) {
	c := sharedCluster(t).c
	one := strings.Replace(c.URL(), "/0", "/3", 1)
	sendRefused(t, []string{"REDIS_URL=" + one}, "Cluster has only database 0")
	code, _, stderr := runBinary(t, []string{"REDIS_URL=" + strings.Replace(c.URLWithAddrs(), "/0?", "/3?", 1)},
		"--headless-worker")
	if code != 2 || !strings.Contains(stderr, "only database 0") {
		t.Fatalf("a worker given a Cluster URL with /3: exit %d\n%s", code, stderr)
	}
}

// An ACL user with the permissions tui names (queue.ACLRule) does all a
// send needs — the sender, a headless worker, the follow, the status — and
// one without INFO is refused at the first dial, with that rule, before
// anything is queued: without INFO a Cluster would pass for a single server
// and a replica go unseen.
func TestAnACLUserWithTheNamedPermissionsSends(t *testing.T) {
	srv := redistest.Start(t, "user tui on >tui-acl-pw "+queue.ACLRule,
		"user narrow on >narrow-pw ~tui:* &* +@all -@dangerous")
	url := "redis://tui:tui-acl-pw@" + srv.Addr() + "/0"
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	startWorkerProc(t, url, outbox)
	db, id := seed.Campaign(t, 300)
	code, _, stderr := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + url}, "campaign", "send", fmt.Sprint(id), "--wait")
	if code != 0 || !strings.Contains(stderr, "Done: all 300 recipients") {
		t.Fatalf("send --wait as the ACL user: exit %d\n%s", code, stderr)
	}
	if s := statusOf(t, db, url, id); s.Status != store.StatusCompleted || s.Counts[store.RecipientSent] != 300 {
		t.Fatalf("status %+v", s)
	}
	sendRefused(t, []string{"REDIS_URL=redis://narrow:narrow-pw@" + srv.Addr() + "/0"}, "NOPERM", "'info'", queue.ACLRule)
}

// The same rule serves a Cluster (tui finds the nodes from one) and a
// Sentinel set (tui asks the Sentinels for the master): the user is made
// on every data node of the shared topologies for the test's length.
func TestTheACLRuleServesAClusterAndSentinel(t *testing.T) {
	const user, pw = "tui-acl", "tui-acl-pw"
	setUser := append([]string{"ACL", "SETUSER", user, "on", ">" + pw}, strings.Fields(queue.ACLRule)...)
	sendAs := func(t *testing.T, url string, do func(addr string, args ...string) (string, error), nodes []string) {
		for _, a := range nodes {
			if _, err := do(a, setUser...); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			for _, a := range nodes {
				_, _ = do(a, "ACL", "DELUSER", user)
			}
		})
		url = strings.Replace(url, "redis://", "redis://"+user+":"+pw+"@", 1)
		startWorkerProc(t, url, filepath.Join(t.TempDir(), "outbox.jsonl"))
		db, id := seed.Campaign(t, 300)
		code, _, stderr := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + url}, "campaign", "send", fmt.Sprint(id), "--wait")
		if code != 0 || !strings.Contains(stderr, "Done: all 300 recipients") {
			t.Fatalf("send --wait as the ACL user: exit %d\n%s", code, stderr)
		}
	}
	t.Run("cluster", func(t *testing.T) {
		c := sharedCluster(t).c
		sendAs(t, c.URL(), c.Do, c.Addrs())
	})
	t.Run("sentinel", func(t *testing.T) {
		s := sharedSentinel(t).s
		sendAs(t, s.URL(), s.Do, []string{s.MasterAddr(), s.ReplicaAddr()})
	})
}

// A Redis that refuses writes (out of memory) is named in `send --wait`,
// and the send goes on once it has room again.
func TestRedisOutOfMemoryIsNamedAndTheSendResumes(t *testing.T) {
	srv := redistest.Start(t)
	tp := single{srv}
	env := tp.Env()
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	const n = 600
	db, id := seed.Campaign(t, n)
	setRate(t, db, id, 200)
	startWorkerProcEnv(t, env, outbox, "--concurrency", "4")
	o := startOwner(t, env, db, id)
	waitLines(t, outbox, 100, 60*time.Second)
	rdb := tp.Client(t)
	ctx := context.Background()
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(o.stderr.String(), "out of memory") {
		if time.Now().After(deadline) {
			t.Fatalf("`send --wait` did not name the out-of-memory refusal:\n%s", o.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	o.wait(t, 90*time.Second)
	checkDuplicatesFlagged(t, linesOf(readOutbox(t, outbox), id), n)
	checkLedger(t, env, db, id, n, 0)
}
