package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

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
	if code, _, e := runBinary(t, env, "campaign", "send", fmt.Sprint(id)); code != 0 {
		t.Fatalf("send: %s", e)
	}
	term.waitFor("sending 0/40")
	term.keys("w")
	term.waitFor("Hooked  sending")
	// The line wraps at 100 columns: its parts are looked for apart.
	term.waitFor("Slowed — worker ", "the channel asked to slow down (webhook answered HTTP 429", "of the 50/s asked")

	throttle.Store(false)
	scr := term.waitFor("Completed: 40 sent")
	if strings.Contains(scr, "Slowed") {
		t.Errorf("a completed send still says it is slowed:\n%s", scr)
	}
}
