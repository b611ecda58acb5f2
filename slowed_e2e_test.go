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
	"tui/internal/testkit/seed"
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
