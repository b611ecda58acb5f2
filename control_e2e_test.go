package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	"tui/sending"
	"tui/store"
)

func TestWaitExitsZeroWhenAllDelivered(t *testing.T) {
	srv := redistest.Start(t)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	startWorkerProc(t, srv.URL(), outbox)
	db, id := seed.Campaign(t, 300)
	code, _, stderr := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}, "campaign", "send", fmt.Sprint(id), "--wait")
	if code != 0 || !strings.Contains(stderr, "Done: all 300 recipients") {
		t.Fatalf("send --wait: exit %d\n%s", code, stderr)
	}
	// Not a terminal: plain lines, the same numbers as the pane.
	if !strings.Contains(stderr, "300/300 done: 300 sent, 0 failed") {
		t.Errorf("no final progress line:\n%s", stderr)
	}
	s := statusOf(t, db, srv.URL(), id)
	if s.Status != store.StatusCompleted || s.Counts[store.RecipientSent] != 300 || s.FinishedAt == nil {
		t.Fatalf("status %+v", s)
	}
	// The completed send leaves nothing of its own in Redis.
	if left := campaignKeysIn(t, srv, id); len(left) != 0 {
		t.Fatalf("the completed send left %v in Redis", left)
	}
}

// campaignKeysIn reads every key of a campaign's send in Redis, with its
// expiry (-1: none).
func campaignKeysIn(t *testing.T, srv *redistest.Server, id uint64) map[string]time.Duration {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, fmt.Sprintf("%s{c%d}:*", queue.KeyPrefix, id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Duration{}
	for _, k := range keys {
		out[k] = rdb.PTTL(ctx, k).Val()
	}
	return out
}

// A small send can end before --wait begins to follow it: campaign send
// folds the workers' outcomes while it queues, and the last ones may be
// folded there. The wait then reports the end at once instead of following
// a send that no longer runs (it waited forever).
func TestWaitEndsForASendThatEndedBeforeItBegan(t *testing.T) {
	srv := redistest.Start(t)
	startWorkerProc(t, srv.URL(), filepath.Join(t.TempDir(), "outbox.jsonl"))
	db, id := seed.Campaign(t, 3)
	if code, _, stderr := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}, "campaign", "send", fmt.Sprint(id)); code != 0 {
		t.Fatalf("send: exit %d\n%s", code, stderr)
	}
	testkit.Eventually(t, 60*time.Second, "the send completes", func() bool {
		return statusOf(t, db, srv.URL(), id).Status == store.StatusCompleted
	})

	// --wait as campaign send runs it, with the campaign as Start returned
	// it (sending) although the ledger says it is over.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &errb, ctx: ctx, getenv: func(string) string { return "" }}
	svc, closeAll, err := sendService(e, &globals{db: db, redis: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	c, err := svc.Store.Campaign(id)
	if err != nil {
		t.Fatal(err)
	}
	c.Status = store.StatusSending
	done := make(chan error, 1)
	go func() { done <- waitForSend(e, svc, c) }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(errb.String(), "Done: all 3 recipients") {
			t.Fatalf("wait: %v\n%s", err, errb.String())
		}
	case <-time.After(30 * time.Second):
		cancel()
		<-done
		t.Fatalf("--wait still follows a send that ended before it began:\n%s", errb.String())
	}
}

func TestWaitExitsOneWhenSomeFailed(t *testing.T) {
	srv := redistest.Start(t)
	startWorkerProc(t, srv.URL(), filepath.Join(t.TempDir(), "outbox.jsonl"))
	// A provider that refuses every recipient for good.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such recipient", http.StatusUnprocessableEntity)
	}))
	defer hook.Close()
	db, id := seed.Campaign(t, 20)
	editCampaign(t, db, id, func(c *store.Campaign) { c.Channel, c.URL = store.ChannelWebhook, hook.URL+"/notify" })
	code, _, stderr := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}, "campaign", "send", fmt.Sprint(id), "--wait")
	if code != 1 || !strings.Contains(stderr, "0 of 20 sent, 20 failed") || !strings.Contains(stderr, "campaign export") {
		t.Fatalf("send --wait with failures: exit %d\n%s", code, stderr)
	}
	// The reason is in the ledger, and the export carries it.
	export := filepath.Join(t.TempDir(), "ledger.csv")
	if code, _, e := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "export", fmt.Sprint(id), export); code != 0 {
		t.Fatalf("export: %s", e)
	}
	f, err := os.Open(export)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 21 || rows[0][2] != "state" || rows[1][2] != "failed" || !strings.Contains(rows[1][4], "422") {
		t.Fatalf("export rows %v %v", rows[:2], err)
	}
}

func TestWaitSaysWhenNoWorkerIsRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the no-worker warning")
	}
	srv := redistest.Start(t)
	db, id := seed.Campaign(t, 5)
	cmd, stderr := startWait(t, db, srv.URL(), id, "No worker has been seen", NoWorkerWarning+15*time.Second)
	if !strings.Contains(stderrText(stderr), "tui --headless-worker") {
		t.Errorf("the warning does not say how to start a worker:\n%s", stderrText(stderr))
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit after SIGINT: %v\n%s", err, stderrText(stderr))
	}
	if !strings.Contains(stderrText(stderr), "the send goes on") {
		t.Errorf("stopping the wait does not say the send goes on:\n%s", stderrText(stderr))
	}
}

// A worker that lacks the campaign's channel settings fails nobody: --wait
// says no running worker can deliver the send, and why; the recipients
// wait in the queue.
func TestWaitSaysWhenNoWorkerCanDeliver(t *testing.T) {
	srv := redistest.Start(t)
	startWorkerProc(t, srv.URL(), filepath.Join(t.TempDir(), "outbox.jsonl")) // no SMTP_URL
	db, id := seed.Campaign(t, 20)
	editCampaign(t, db, id, func(c *store.Campaign) { c.Channel, c.From = store.ChannelSMTP, "news@example.com" })
	cmd, stderr := startWait(t, db, srv.URL(), id, "No running worker can deliver this send", 30*time.Second)
	if !strings.Contains(stderrText(stderr), "SMTP_URL") {
		t.Errorf("the warning does not say why:\n%s", stderrText(stderr))
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	s := statusOf(t, db, srv.URL(), id)
	if s.Counts[store.RecipientFailed] != 0 || s.Counts[store.RecipientSent] != 0 || s.Status != store.StatusSending {
		t.Fatalf("a worker that cannot deliver changed the send: %+v", s)
	}
}

func TestCountsCatchUpWhenNoAppWasRunning(t *testing.T) {
	srv := redistest.Start(t)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	const n = 5000
	db, id := seed.Campaign(t, n)
	// The send is queued and the command exits: no process follows it.
	if code, _, e := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}, "campaign", "send", fmt.Sprint(id)); code != 0 {
		t.Fatal(e)
	}
	startWorkerProc(t, srv.URL(), outbox)
	startWorkerProc(t, srv.URL(), outbox)
	waitLines(t, outbox, n, 60*time.Second)
	// The events wait in Redis; the next process to open the database folds
	// them and the counts are exact.
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := statusOf(t, db, srv.URL(), id)
		if s.Counts[store.RecipientSent] == n {
			if s.Status != store.StatusCompleted || s.Counts[store.RecipientQueued] != 0 || s.Total != n {
				t.Fatalf("status %+v", s)
			}
			break
		}
		if s.Counts[store.RecipientSent] > n || time.Now().After(deadline) {
			t.Fatalf("counts %v", s.Counts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAppKilledMidSendCountsNothingTwice(t *testing.T) {
	srv := redistest.Start(t)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	const n = 3000
	db, id := seed.Campaign(t, n)
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := st.Campaign(id)
	c.Rate = 1000
	if _, err := st.UpdateCampaign("t", c); err != nil {
		t.Fatal(err)
	}
	st.Close()
	startWorkerProc(t, srv.URL(), outbox)
	// The following process is killed while it folds.
	cmd := exec.Command(tuiBinary(t), "campaign", "send", fmt.Sprint(id), "--wait")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "TUI_DB=" + db, "REDIS_URL=" + srv.URL()}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitLines(t, outbox, n/3, 30*time.Second)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waitLines(t, outbox, n, 60*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := statusOf(t, db, srv.URL(), id)
		if s.Status == store.StatusCompleted {
			if s.Counts[store.RecipientSent] != n || s.Total != n {
				t.Fatalf("counts after the kill and restart: %v (total %d)", s.Counts, s.Total)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never completed: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPauseResumeCancelFromTheCommandLine(t *testing.T) {
	srv := redistest.Start(t)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	const n = 1000
	db, id := seed.Campaign(t, n)
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := st.Campaign(id)
	c.Rate = 200
	if _, err := st.UpdateCampaign("t", c); err != nil {
		t.Fatal(err)
	}
	st.Close()
	env := []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}
	if code, _, e := runBinary(t, env, "campaign", "send", fmt.Sprint(id)); code != 0 {
		t.Fatal(e)
	}
	startWorkerProc(t, srv.URL(), outbox)
	waitLines(t, outbox, n*4/10, 30*time.Second)
	if code, _, e := runBinary(t, env, "campaign", "pause", fmt.Sprint(id)); code != 0 || !strings.Contains(e, "Paused") {
		t.Fatalf("pause: %d %s", code, e)
	}
	if s := statusOf(t, db, srv.URL(), id); s.Status != store.StatusPaused {
		t.Fatalf("status after pause: %s", s.Status)
	}
	// Within a second nothing new starts.
	time.Sleep(time.Second)
	before := len(readOutbox(t, outbox))
	time.Sleep(600 * time.Millisecond)
	if after := len(readOutbox(t, outbox)); after != before {
		t.Fatalf("deliveries went on while paused: %d → %d", before, after)
	}
	if code, _, e := runBinary(t, env, "campaign", "resume", fmt.Sprint(id)); code != 0 {
		t.Fatalf("resume: %d %s", code, e)
	}
	waitLines(t, outbox, n*7/10, 30*time.Second)
	if code, _, e := runBinary(t, env, "campaign", "cancel", fmt.Sprint(id)); code != 0 || !strings.Contains(e, "Cancelled") {
		t.Fatalf("cancel: %d %s", code, e)
	}
	s := statusOf(t, db, srv.URL(), id)
	if s.Status != store.StatusCancelled || s.Counts[store.RecipientCancelled] == 0 || s.Counts[store.RecipientQueued] != 0 {
		t.Fatalf("after cancel: %+v", s)
	}
	lines := readOutbox(t, outbox)
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l.Key] {
			t.Fatalf("%s delivered twice across pause and resume", l.Key)
		}
		seen[l.Key] = true
	}
	if s.Counts[store.RecipientSent]+s.Counts[store.RecipientCancelled] != n {
		t.Fatalf("sent + cancelled = %d, want %d (%v)", s.Counts[store.RecipientSent]+s.Counts[store.RecipientCancelled], n, s.Counts)
	}
	// What Redis still holds of the cancelled send (its settings, events,
	// and what the worker wrote of the jobs it held) expires.
	left := campaignKeysIn(t, srv, id)
	if _, ok := left[queue.ControlKey(id)]; !ok {
		t.Errorf("the cancelled send's settings are gone at once (%v): its workers read them", left)
	}
	for k, ttl := range left {
		if ttl <= 0 || ttl > queue.EndedKeepFor {
			t.Errorf("%s of the cancelled send expires in %v, want within %v", k, ttl, queue.EndedKeepFor)
		}
	}
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "+1": "'+1", "-2": "'-2",
		"@SUM": "'@SUM", "\tx": "'\tx", "ok": "ok", "": ""} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSetRateWhileSending(t *testing.T) {
	srv := redistest.Start(t)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	const n = 600
	db, id := seed.Campaign(t, n)
	env := []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}
	if code, _, e := runBinary(t, env, "campaign", "set-rate", fmt.Sprint(id), "20"); code != 0 || !strings.Contains(e, "will send at 20/s") {
		t.Fatalf("set-rate on a draft: %d %s", code, e)
	}
	if code, _, e := runBinary(t, env, "campaign", "send", fmt.Sprint(id)); code != 0 {
		t.Fatal(e)
	}
	startWorkerProc(t, srv.URL(), outbox)
	waitLines(t, outbox, 20, 20*time.Second)
	// At 20/s the rest would take half a minute; raised, it is done at once.
	if code, _, e := runBinary(t, env, "campaign", "set-rate", fmt.Sprint(id), "0"); code != 0 || !strings.Contains(e, "now sends with no limit") {
		t.Fatalf("set-rate while sending: %d %s", code, e)
	}
	waitLines(t, outbox, n, 15*time.Second)
	code, out, _ := runBinary(t, env, "campaign", "show", fmt.Sprint(id), "--json")
	if code != 0 || !strings.Contains(out, `"rate": 0`) || !strings.Contains(out, `"max_attempts": 5`) {
		t.Fatalf("show after set-rate:\n%s", out)
	}
	// show folds what is waiting, like status: the counts are exact.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out, fmt.Sprintf(`"sent": %d`, n)) {
		if time.Now().After(deadline) {
			t.Fatalf("show never reached %d sent:\n%s", n, out)
		}
		time.Sleep(100 * time.Millisecond)
		_, out, _ = runBinary(t, env, "campaign", "show", fmt.Sprint(id), "--json")
	}
	for _, bad := range [][]string{{"set-rate", fmt.Sprint(id), "-1"}, {"set-rate", fmt.Sprint(id), "fast"}, {"set-rate", fmt.Sprint(id)}} {
		if code, _, _ := runBinary(t, env, append([]string{"campaign"}, bad...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

func TestCommandsFoldOnlyWhileSendingAndSurviveRedisDown(t *testing.T) {
	db, id := seed.Campaign(t, 10)
	counter := newConnCounter(t)
	quiet := []string{"TUI_DB=" + db, "REDIS_URL=" + counter.url()}
	for _, args := range [][]string{{"campaign", "list"}, {"campaign", "show", fmt.Sprint(id)}, {"campaign", "status", fmt.Sprint(id)}, {"contacts", "list"}} {
		if code, _, e := runBinary(t, quiet, args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, e)
		}
	}
	if n := counter.count.Load(); n != 0 {
		t.Fatalf("%d connections to Redis with nothing sending", n)
	}
	srv := redistest.Start(t)
	env := []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}
	if code, _, e := runBinary(t, env, "campaign", "send", fmt.Sprint(id)); code != 0 {
		t.Fatal(e)
	}
	srv.Stop()
	for _, args := range [][]string{{"campaign", "list"}, {"campaign", "show", fmt.Sprint(id)}, {"campaign", "status", fmt.Sprint(id)}} {
		code, out, e := runBinary(t, env, args...)
		if code != 0 || !strings.Contains(e, "may be behind") || !strings.Contains(e, "cannot reach Redis") || !strings.Contains(out, "Kill me") {
			t.Errorf("%v with Redis down: exit %d\nstdout %s\nstderr %s", args, code, out, e)
		}
	}
}

// An update a follow read before the end can arrive after the ledger said
// the send was over: --wait keeps the end.
func TestWaitKeepsTheEndOverAnOlderUpdate(t *testing.T) {
	var errb bytes.Buffer
	e := &env{stderr: &errb}
	c := store.Campaign{ID: 7, Name: "Spring"}
	ended := false
	w := &sendWaiter{e: e, c: c, noWorkerSince: time.Now(), rate: newRateMeter(), cancel: func() { ended = true }}
	done := store.SendState{Total: 2, Counts: map[store.RecipientState]int{}}
	done.Counts[store.RecipientSent] = 2
	older := store.SendState{Total: 2, Counts: map[store.RecipientState]int{}}
	older.Counts[store.RecipientSent] = 1
	older.Counts[store.RecipientQueued] = 1
	c.Status = store.StatusCompleted
	w.update(sending.Update{Campaign: c, Send: done})
	c.Status = store.StatusSending
	w.update(sending.Update{Campaign: c, Send: older})
	if err := w.outcome(); err != nil || !ended || !strings.Contains(errb.String(), "Done: all 2 recipients") {
		t.Fatalf("outcome %v (follow ended: %v)\n%s", err, ended, errb.String())
	}
}

// A worker from before packed jobs would fail every job it took: a send
// is refused while one runs, with what to do, and --wait names one that
// appears during a send.
func TestOutdatedWorkersAreRefusedAndNamed(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	oldWorker := func(id string) { // a heartbeat as such a worker writes it: no job format
		rdb.HSet(ctx, queue.WorkerKey(id), "host", "oldhost", "last_seen", time.Now().UnixMilli())
		rdb.SAdd(ctx, queue.WorkersKey(), id)
	}
	db, id := seed.Campaign(t, 20)
	env := []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}
	oldWorker("old-1")
	code, _, stderr := runIn(t, env, t.TempDir(), "", "campaign", "send", fmt.Sprint(id))
	if code == 0 || !strings.Contains(stderr, "old-1 (host oldhost) runs an older tui") || !strings.Contains(stderr, "upgrade it") {
		t.Fatalf("send beside an outdated worker: exit %d\n%s", code, stderr)
	}
	if s := statusOf(t, db, srv.URL(), id); s.Status != store.StatusDraft {
		t.Fatalf("the refused send left the campaign %s", s.Status)
	}
	rdb.Del(ctx, queue.WorkerKey("old-1"))
	// No worker runs: the recipients wait while one from before appears.
	cmd, out := startWait(t, db, srv.URL(), id, "Queued 20 recipients", 30*time.Second)
	oldWorker("old-2")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(stderrText(out), "Beware: worker old-2 (host oldhost) runs an older tui") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("--wait does not name the outdated worker:\n%s", stderrText(out))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(stderrText(out), fmt.Sprintf("retry-failed %d", id)) {
		t.Errorf("--wait does not say how to send again to those it failed:\n%s", stderrText(out))
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
}

// A send whose Redis is gone cannot be cancelled through it: the cancel
// says so, changes nothing, and says how to record the cancel in the
// ledger alone; --force does that, and says what it cannot do.
func TestCancelWithRedisGoneSaysHowAndForceRecordsIt(t *testing.T) {
	srv := redistest.Start(t)
	const n = 200
	db, id := seed.Campaign(t, n)
	env := []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}
	if code, _, e := runBinary(t, env, "campaign", "send", fmt.Sprint(id)); code != 0 {
		t.Fatalf("send: %s", e)
	}
	srv.Stop()

	code, _, e := runBinary(t, env, "campaign", "cancel", fmt.Sprint(id))
	if code == 0 || !strings.Contains(e, "cannot reach Redis at "+srv.URL()) ||
		!strings.Contains(e, fmt.Sprintf("tui campaign cancel %d --force", id)) {
		t.Fatalf("cancel with Redis gone: exit %d\n%s", code, e)
	}
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := st.Campaign(id)
	counts, _ := st.LedgerCounts(id)
	st.Close()
	if c.Status != store.StatusSending || counts[store.RecipientQueued] != n {
		t.Fatalf("a refused cancel changed the send: %s %v", c.Status, counts)
	}

	code, _, e = runBinary(t, env, "campaign", "cancel", fmt.Sprint(id), "--force")
	if code != 0 || !strings.Contains(e, "in the ledger alone") || !strings.Contains(e, "Workers are not told") {
		t.Fatalf("cancel --force: exit %d\n%s", code, e)
	}
	st, err = store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, _ = st.Campaign(id)
	counts, _ = st.LedgerCounts(id)
	if c.Status != store.StatusCancelled || counts[store.RecipientCancelled] != n || counts[store.RecipientQueued] != 0 {
		t.Fatalf("after cancel --force: %s %v", c.Status, counts)
	}
}
