package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"tui/internal/redistest"
	"tui/store"
)

// send --wait on an 80-column terminal: the live line fits the width, so
// the carriage return redraws it in place and the screen holds one
// progress line, not one per update.
func TestWaitLineFitsTheTerminal(t *testing.T) {
	srv := redistest.Start(t)
	startWorkerProc(t, srv.URL(), filepath.Join(t.TempDir(), "outbox.jsonl"))
	db, id := seedCampaign(t, 296)
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
}
