package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"tui/internal/redistest"
	"tui/internal/testkit/seed"
	"tui/queue"
	"tui/store"
)

// send --wait on an 80-column terminal: the live line fits the width, so
// the carriage return redraws it in place and the screen holds one
// progress line, not one per update.
func TestWaitLineFitsTheTerminal(t *testing.T) {
	srv := redistest.Start(t)
	startWorkerProc(t, srv.URL(), filepath.Join(t.TempDir(), "outbox.jsonl"))
	db, id := seed.Campaign(t, 296)
	editCampaign(t, db, id, func(c *store.Campaign) {
		c.Name = "Spring sale for every customer of the northern region"
		c.Rate = 100 // three seconds: many redraws
	})
	term := startTerminal(t, 80, 24, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()},
		tuiBinary(t), "campaign", "send", fmt.Sprint(id), "--wait")
	scr := term.waitFor("[exited] 0")
	if !strings.Contains(scr, "Done: all 296 recipients") {
		t.Fatalf("send --wait did not finish:\n%s", scr)
	}
	progress := 0
	for _, l := range strings.Split(scr, "\n") {
		if strings.Contains(l, "/296 done") || strings.Contains(l, "sent, ") {
			progress++
		}
	}
	if progress > 1 {
		t.Fatalf("%d progress lines on screen: the line does not fit 80 columns, so every update scrolled:\n%s", progress, scr)
	}
}

// The line gives up its least useful parts first and keeps the counts.
func TestFitProgressLine(t *testing.T) {
	c := store.Campaign{Name: "Spring sale for every customer of the northern region", Status: store.StatusSending}
	st := store.SendState{Total: 12430, Counts: map[store.RecipientState]int{
		store.RecipientSent: 6000, store.RecipientFailed: 50, store.RecipientQueued: 6380}}
	full := fitProgressLine(c, st, 312, nil, 0)
	if ansi.StringWidth(full) <= 79 {
		t.Fatalf("the unfitted line is short already, so this test shows nothing: %q", full)
	}
	for _, w := range []int{119, 79, 59, 39} {
		line := fitProgressLine(c, st, 312, nil, w)
		if ansi.StringWidth(line) > w {
			t.Errorf("at %d columns the line is %d wide: %q", w, ansi.StringWidth(line), line)
		}
		if w >= 59 && (!strings.Contains(line, "6,050/12,430 done") || !strings.Contains(line, "6,000 sent")) {
			t.Errorf("at %d columns the counts went: %q", w, line)
		}
		if w >= 79 && !strings.Contains(line, "50 failed") {
			t.Errorf("at %d columns the failures went: %q", w, line)
		}
	}
	if got := fitProgressLine(c, st, 312, nil, 0); got != progressLine(c, st, 312, nil) {
		t.Errorf("plain lines changed: %q", got)
	}
	// The workers alive are counted in words: "1 worker", "2 workers".
	now := time.Now()
	one := []queue.WorkerInfo{{ID: "w1", LastSeen: now}}
	if line := fitProgressLine(c, st, 312, one, 0); !strings.HasSuffix(line, " · 1 worker") {
		t.Errorf("one worker: %q", line)
	}
	if line := fitProgressLine(c, st, 312, append(one, queue.WorkerInfo{ID: "w2", LastSeen: now}), 0); !strings.HasSuffix(line, " · 2 workers") {
		t.Errorf("two workers: %q", line)
	}
}

// A preflight that finds the same problem for many recipients says it
// once, with how many and who, instead of a line each.
func TestPreflightErrorsGroupedOnTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tui.db")
	var csv strings.Builder
	csv.WriteString("email,name,country\n")
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&csv, "ok%d@example.com,Ok %d,FR\n", i, i)
	}
	csvPath := writeFile(t, dir, "a.csv", csv.String())
	if r := cli(t, db, "", "contacts", "import", csvPath); r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	csv.Reset()
	csv.WriteString("email,name\n")
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&csv, "user%d@example.com,User %d\n", i, i)
	}
	if r := cli(t, db, "", "contacts", "import", writeFile(t, dir, "b.csv", csv.String())); r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	body := writeFile(t, dir, "body.txt", "Hello {{.name}} from {{.country}}")
	r := cli(t, db, "", "campaign", "create", "--name", "Spring", "--channel", "file", "--body-file", body, "--subject", "Hi")
	if r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	r = cli(t, db, "", "campaign", "send", strings.TrimSpace(r.stdout))
	if r.code != 1 {
		t.Fatalf("a blocked send exits %d:\n%s", r.code, r.stderr)
	}
	want := `100 contacts have no field "country"`
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "user1@example.com, user2@example.com and 98 more") {
		t.Fatalf("the errors are not grouped (want %q):\n%s", want, r.stderr)
	}
	if n := strings.Count(r.stderr, "has no field"); n > 1 {
		t.Fatalf("%d lines about the missing field:\n%s", n, r.stderr)
	}
}
