package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tui/internal/redistest"
	"tui/internal/testkit"
	"tui/internal/testkit/seed"
	"tui/sending"
	"tui/store"
)

// A channel that asks the workers to slow down (HTTP 429 with Retry-After)
// makes a send slower than its rate; the pane says so, and why, from the
// worker's heartbeat: a headless worker process, a real HTTP endpoint, the
// app in a real terminal. Once the endpoint takes the messages, the send
// completes and the line is gone.
func TestThePaneSaysWhenTheChannelSlowsTheSend(t *testing.T) {
	var throttle atomic.Bool
	throttle.Store(true)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if throttle.Load() {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer hook.Close()
	srv := redistest.Start(t)
	db, id := seed.Campaign(t, 40)
	editCampaign(t, db, id, func(c *store.Campaign) {
		c.Name, c.Channel, c.URL, c.Rate, c.Subject = "Hooked", store.ChannelWebhook, hook.URL+"/in", 50, ""
	})
	dir := t.TempDir()
	startWorkerProc(t, srv.URL(), filepath.Join(dir, "outbox.jsonl"))
	env := []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL(), "HOME=" + dir}
	term := startTerminal(t, 100, 30, env, tuiBinary(t))
	term.waitFor("Hooked")
	// send --wait says it once, beside its progress line.
	wait, waitErr := startWait(t, db, srv.URL(), id, "Slowed — worker ", 30*time.Second)
	if !strings.Contains(waitErr.String(), "the channel asked to slow down (webhook answered HTTP 429 Too Many Requests)") {
		t.Errorf("send --wait's notice:\n%s", waitErr.String())
	}
	// And why recipients wait for another try, once.
	testkit.Eventually(t, 20*time.Second, "send --wait's word on the retries", func() bool {
		return strings.Contains(waitErr.String(), "Recipients wait for another try; the latest, c")
	})
	if !strings.Contains(waitErr.String(), "webhook answered HTTP 429 Too Many Requests\n") {
		t.Errorf("send --wait's word on the retries lacks the reason:\n%s", waitErr.String())
	}
	term.waitFor("sending 0/40")
	term.keys("w")
	term.waitFor("Hooked  sending")
	// The line wraps at 100 columns: its parts are looked for apart.
	term.waitFor("Slowed — worker ", "the channel asked to slow down (webhook answered HTTP 429", "of the 50/s asked")
	// And why the recipients wait for another try.
	term.waitFor("Latest retry  c", "webhook answered HTTP 429 Too Many Requests")
	// The command line says it too: status under its progress line, and
	// status --json by worker.
	if code, out, e := runBinary(t, env, "campaign", "status", fmt.Sprint(id)); code != 0 || !strings.Contains(out, "\nSlowed — worker ") ||
		!strings.Contains(out, "the channel asked to slow down (webhook answered HTTP 429 Too Many Requests)") {
		t.Errorf("status while slowed: %d\n%s%s", code, out, e)
	}
	var st statusJSON
	_, out, _ := runBinary(t, env, "campaign", "status", fmt.Sprint(id), "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Workers) != 1 || !strings.Contains(st.Workers[0].Slowed, "HTTP 429") {
		t.Errorf("status --json while slowed: %v\n%s", err, out)
	}

	throttle.Store(false)
	scr := term.waitFor("Completed: 40 sent")
	if err := wait.Wait(); err != nil || strings.Count(waitErr.String(), "Slowed — ") != 1 {
		t.Errorf("send --wait: %v, the notice not once:\n%s", err, waitErr.String())
	}
	if strings.Contains(scr, "Slowed") {
		t.Errorf("a completed send still says it is slowed:\n%s", scr)
	}
}

// A channel that fails everyone (an endpoint down) does not burn the whole
// audience: after sending.FailRunPause recipients in a row failed with none
// delivered, the send is paused, saying why, in send --wait and in the
// ledger's record of who paused it. Resumed once the endpoint is back, the
// rest are delivered.
func TestASendThatFailsEveryoneIsPaused(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, "database is down")
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer hook.Close()
	// At 100/s the pause, within a second of the hundredth failure, comes
	// seconds before the last recipient would have failed.
	const n = sending.FailRunPause * 5
	srv := redistest.Start(t)
	db, id := seed.Campaign(t, n)
	editCampaign(t, db, id, func(c *store.Campaign) {
		c.Channel, c.URL, c.Subject, c.MaxAttempts, c.Rate = store.ChannelWebhook, hook.URL+"/in", "", 1, 100
	})
	startWorkerProc(t, srv.URL(), filepath.Join(t.TempDir(), "outbox.jsonl"))
	// An owner holds the database; the commands below go through it.
	startServe(t, []string{"REDIS_URL=" + srv.URL()}, db)
	wait, waitErr := startWait(t, db, srv.URL(), id, "Paused by tui, as ", 60*time.Second)
	testkit.Eventually(t, 10*time.Second, "the notice's end", func() bool { return strings.Contains(waitErr.String(), "campaign resume") })
	if !strings.Contains(waitErr.String(), "recipients in a row failed (the last: webhook answered HTTP 500 Internal Server Error: database is down)") {
		t.Errorf("send --wait's notice of the pause:\n%s", waitErr.String())
	}
	env := []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}
	st := statusOf(t, db, srv.URL(), id)
	if st.Status != store.StatusPaused || st.Counts[store.RecipientFailed] < sending.FailRunPause ||
		st.Counts[store.RecipientFailed] >= n || st.Counts[store.RecipientSent] != 0 {
		t.Fatalf("after the run of failures: %s, %v", st.Status, st.Counts)
	}
	// The endpoint is back: resumed, the rest are delivered.
	down.Store(false)
	if code, _, e := runBinary(t, env, "campaign", "resume", fmt.Sprint(id)); code != 0 {
		t.Fatalf("resume: %s", e)
	}
	_ = wait.Wait() // exits 1: some recipients failed
	st = statusOf(t, db, srv.URL(), id)
	if st.Status != store.StatusCompleted || st.Counts[store.RecipientSent]+st.Counts[store.RecipientFailed] != n ||
		st.Counts[store.RecipientSent] < n-st.Counts[store.RecipientFailed] || st.Counts[store.RecipientSent] == 0 {
		t.Fatalf("after the resume: %s, %v", st.Status, st.Counts)
	}
	if !strings.Contains(waitErr.String(), "failed") {
		t.Errorf("send --wait's end:\n%s", waitErr.String())
	}
}
