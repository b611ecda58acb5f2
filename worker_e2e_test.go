package main

import (
	"context"
	"fmt"
	"os"
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

// Workers as separate processes of the real binary, killed, stopped and
// terminated as a server's operator (or its kernel) would.

// sendCampaign seeds n contacts and a campaign at rate, and queues it with
// the real `campaign send`.
func sendCampaign(t *testing.T, srv *redistest.Server, n, rate int) (id uint64) {
	t.Helper()
	db, id := seed.Campaign(t, n)
	if rate > 0 {
		st, err := store.Open(db)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := st.Campaign(id)
		c.Rate = rate
		if _, err := st.UpdateCampaign("test", c); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	code, _, stderr := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}, "campaign", "send", fmt.Sprint(id))
	if code != 0 {
		t.Fatalf("campaign send: exit %d\n%s", code, stderr)
	}
	return id
}

func TestThreeWorkerProcessesDeliverEachRecipientOnce(t *testing.T) {
	srv := redistest.Start(t)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	const n = 10_000
	for i := 0; i < 3; i++ {
		startWorkerProc(t, srv.URL(), outbox)
	}
	sendCampaign(t, srv, n, 0)
	lines := waitLines(t, outbox, n, 90*time.Second)
	if dups := keysOnce(t, lines, n); dups != 0 {
		t.Fatalf("%d duplicate deliveries", dups)
	}
}

func TestKilledWorkerLosesNothing(t *testing.T) {
	srv := redistest.Start(t)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	const n, concurrency = 1500, 4
	lease := 3 * time.Second
	var procs []*workerProc
	for i := 0; i < 3; i++ {
		procs = append(procs, startWorkerProc(t, srv.URL(), outbox, "--lease", lease.String(), "--concurrency", fmt.Sprint(concurrency)))
	}
	sendCampaign(t, srv, n, 300) // about five seconds
	waitLines(t, outbox, n/4, 60*time.Second)
	victim := procs[0]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	<-victim.done
	lines := waitLines(t, outbox, n, lease+10*time.Second+5*time.Second)
	if took := time.Since(killedAt); took > lease+10*time.Second {
		t.Errorf("the send completed %v after the kill; want within lease + 10 s", took)
	}
	// Duplicates can only be the killed worker's deliveries in flight (its
	// fetched-but-unstarted jobs are reclaimed, never delivered by it).
	seen := map[string][]outboxLine{}
	for _, l := range lines {
		seen[l.Key] = append(seen[l.Key], l)
	}
	dups := keysOnce(t, lines, n)
	if dups > concurrency {
		t.Fatalf("%d duplicates; at most the killed worker's %d in flight may repeat", dups, concurrency)
	}
	for key, ls := range seen {
		for _, l := range ls {
			if l.Key != key || !strings.HasPrefix(key, fmt.Sprintf("%d:", l.Campaign)) {
				t.Fatalf("a re-delivery changed its idempotency key: %+v", l)
			}
		}
	}
}

func TestSigtermFinishesAndExitsZero(t *testing.T) {
	srv := redistest.Start(t)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	const n = 1000
	grace := 5 * time.Second
	a := startWorkerProc(t, srv.URL(), outbox, "--shutdown-grace", grace.String(), "--concurrency", "8")
	sendCampaign(t, srv, n, 250)
	waitLines(t, outbox, 100, 30*time.Second)
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
	case <-time.After(grace + 3*time.Second):
		t.Fatalf("the worker did not exit within its %v grace", grace)
	}
	if a.err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", a.err, a.stderr.String())
	}
	if log := a.stderr.String(); !strings.Contains(log, "shutting down") || !strings.Contains(log, "worker stopped") {
		t.Errorf("the log does not tell the shutdown:\n%s", log)
	}
	// Another worker finishes the send: nothing lost, nothing doubled.
	startWorkerProc(t, srv.URL(), outbox)
	lines := waitLines(t, outbox, n, 30*time.Second)
	if dups := keysOnce(t, lines, n); dups != 0 {
		t.Fatalf("%d duplicate deliveries after a SIGTERM", dups)
	}
}

func TestStoppedWorkerDoesNotDeliverWhatItLost(t *testing.T) {
	srv := redistest.Start(t)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	const n = 1200
	lease := 2 * time.Second
	a := startWorkerProc(t, srv.URL(), outbox, "--lease", lease.String(), "--concurrency", "4")
	b := startWorkerProc(t, srv.URL(), outbox, "--lease", lease.String(), "--concurrency", "4")
	id := sendCampaign(t, srv, n, 200)
	waitLines(t, outbox, 200, 30*time.Second)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Past the lease, b takes over a's jobs.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	deadline := time.Now().Add(lease * 5)
	for reclaimedEvents(t, rdb, id) == 0 {
		if time.Now().After(deadline) {
			a.cmd.Process.Signal(syscall.SIGCONT)
			t.Fatalf("nobody reclaimed the stopped worker's jobs\n%s", b.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	contAt := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	lines := waitLines(t, outbox, n, 60*time.Second)
	keysOnce(t, lines, n)
	byKey := map[string][]outboxLine{}
	for _, l := range lines {
		byKey[l.Key] = append(byKey[l.Key], l)
	}
	aID := ""
	for _, l := range lines {
		if l.At.Before(contAt) && strings.HasSuffix(l.Worker, fmt.Sprintf("-%d", a.cmd.Process.Pid)) {
			aID = l.Worker
			break
		}
	}
	for key, ls := range byKey {
		if len(ls) < 2 {
			continue
		}
		for _, l := range ls {
			if l.Worker == aID && l.At.After(contAt) {
				t.Errorf("the stopped worker delivered %s after waking, though it had been reclaimed", key)
			}
		}
	}
}

func reclaimedEvents(t *testing.T, rdb *redis.Client, id uint64) int {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), queue.EventsKey(id), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		b, _ := queue.ParseEventBatch(m.Values)
		for _, e := range b.Events {
			if e.Type == queue.EventReclaimed {
				n++
			}
		}
	}
	return n
}

// Without --outbox or TUI_OUTBOX, a headless worker delivers file jobs to
// outbox.jsonl in the data directory, making it on first use, and says
// where in its log; a newcomer's first send is not a list of failures.
func TestHeadlessWorkerHasADefaultOutbox(t *testing.T) {
	srv := redistest.Start(t)
	home := t.TempDir()
	cmd := exec.Command(tuiBinary(t), "--headless-worker")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "REDIS_URL=" + srv.URL()}
	logs := &testkit.LockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	})
	sendCampaign(t, srv, 20, 0)
	outbox := filepath.Join(home, ".local", "share", "tui", "outbox.jsonl")
	keysOnce(t, waitLines(t, outbox, 20, 30*time.Second), 20)
	if !strings.Contains(logs.String(), "path="+outbox) {
		t.Errorf("the log does not name the outbox %s:\n%s", outbox, logs.String())
	}
}

// The app with its in-process worker, whose terminal hangs up mid-send (the
// SSH connection dropped, the window closed): it stops as on SIGTERM. Its
// worker says goodbye, so no pane lists it as lost, and gives its jobs back
// at once, where a process ended by SIGHUP's default held them until the
// lease ran out, its deliveries under way unrecorded.
func TestAHungUpTerminalStopsTheAppsWorkerCleanly(t *testing.T) {
	srv := redistest.Start(t)
	db, id := seed.Campaign(t, 300)
	editCampaign(t, db, id, func(c *store.Campaign) { c.Rate = 20 })
	dir := t.TempDir()
	outbox := filepath.Join(dir, "outbox.jsonl")
	term := startTerminal(t, 80, 24, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL(), "HOME=" + dir},
		tuiBinary(t), "--worker", "--outbox", outbox)
	term.waitFor("Kill me", "worker: waiting")
	// Queued through the app, which owns the database.
	if code, _, e := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}, "campaign", "send", fmt.Sprint(id)); code != 0 {
		t.Fatalf("send: %s", e)
	}
	waitLines(t, outbox, 10, 20*time.Second)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	pending := func() int64 {
		p, err := rdb.XPending(ctx, queue.JobsKey(id), queue.Group).Result()
		if err != nil {
			t.Fatal(err)
		}
		return p.Count
	}
	workers := func() []string { return rdb.SMembers(ctx, queue.WorkersKey()).Val() }
	if len(workers()) != 1 || pending() == 0 {
		t.Fatalf("mid-send, workers %v and %d jobs held: the hang-up would show nothing", workers(), pending())
	}
	// The app is the child of the shell tmux runs in the pane.
	shell := strings.TrimSpace(term.tmux("list-panes", "-t", term.target, "-F", "#{pane_pid}"))
	out, err := exec.Command("pgrep", "-P", shell).Output()
	app := strings.TrimSpace(string(out))
	if err != nil || strings.Contains(app, "\n") {
		t.Fatalf("the app's process under the shell %s: %q %v", shell, app, err)
	}

	term.tmux("kill-session", "-t", term.target) // the terminal hangs up
	testkit.Eventually(t, 20*time.Second, "the app to stop", func() bool {
		stat, err := os.ReadFile("/proc/" + app + "/stat")
		return err != nil || strings.Contains(string(stat), ") Z ")
	})
	if w := workers(); len(w) != 0 {
		t.Errorf("the app's worker is still registered (%v): every pane lists it as lost", w)
	}
	if n := pending(); n != 0 {
		t.Errorf("%d jobs are still held by the app's worker: nobody delivers them until its lease runs out", n)
	}
	seen := map[string]bool{}
	for _, l := range readOutbox(t, outbox) {
		if seen[l.Key] {
			t.Errorf("%s was delivered twice", l.Key)
		}
		seen[l.Key] = true
	}
}
