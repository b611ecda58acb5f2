package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tui/internal/redistest"
	"tui/internal/testkit"
	"tui/internal/testkit/seed"
	"tui/store"
)

// logrotate moves the outbox and sends SIGHUP: the worker writes on into a
// new file at the path, and between the two files every recipient is
// there exactly once.
func TestWorkerReopensItsOutboxOnSIGHUP(t *testing.T) {
	srv := redistest.Start(t)
	db, id := seed.Campaign(t, 400)
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := st.Campaign(id)
	c.Rate = 200
	if _, err := st.UpdateCampaign("test", c); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if code, _, stderr := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}, "campaign", "send", fmt.Sprint(id)); code != 0 {
		t.Fatalf("campaign send: exit %d\n%s", code, stderr)
	}
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	w := startWorkerProc(t, srv.URL(), outbox)
	waitLines(t, outbox, 50, 30*time.Second)

	if err := os.Rename(outbox, outbox+".1"); err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLines(t, outbox, 1, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := append(readOutbox(t, outbox+".1"), readOutbox(t, outbox)...)
		if len(all) >= 400 {
			if dups := keysOnce(t, all, 400); dups != 0 {
				t.Errorf("%d recipients delivered twice", dups)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 400 delivered across the two files", len(all))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(readOutbox(t, outbox+".1")); n >= 400 {
		t.Errorf("the moved file got every line (%d): the worker did not follow the path", n)
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	<-w.done
	if log := w.stderr.String(); !strings.Contains(log, "SIGHUP: the outbox is reopened") {
		t.Errorf("the worker did not log the SIGHUP:\n%s", log)
	}
	if w.err != nil {
		t.Errorf("the worker exited %v after SIGHUP and SIGTERM, want 0", w.err)
	}
}

// A server without a worker has no outbox to reopen; SIGHUP (a logrotate
// script's, or the terminal it was started from closing) does not end it.
func TestServeWithoutAWorkerGoesOnAfterSIGHUP(t *testing.T) {
	db, id := seed.Campaign(t, 3)
	o := startServe(t, nil, db)
	if err := o.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the SIGHUP in the log", func() bool {
		return strings.Contains(o.stderr.String(), "SIGHUP: no worker runs here")
	})
	// Still the owner: a command is served through it.
	if code, _, e := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "show", fmt.Sprint(id)); code != 0 {
		t.Fatalf("campaign show after SIGHUP: %d %s", code, e)
	}
	// The owner logs a command once its answer is on its way.
	testkit.Eventually(t, 10*time.Second, "the owner's log of the command", func() bool {
		return strings.Contains(o.stderr.String(), `command="campaign show"`)
	})
	o.stop(t)
}
