package ui

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"tui/internal/redistest"
	"tui/queue"
	"tui/store"
)

// The Redis indicator in each state, read from the rendered screen.

// Idle: a whole session of browsing, creating and editing — with the hub
// following sends and an in-process worker waiting — makes no connection
// at all; the first send makes the first one.
func TestIndicatorIdleUntilASendStarts(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, twoContacts, "vip")
	ln := newConnListener(t, false)
	rig := newSendRig(t, st, ln.url(), rigOptions{worker: true})
	s := startAppWith(t, rig.common(), 130, 30)
	s.waitFor("No campaigns yet — press n to create one")
	s.waitFor("redis: not connected — dials when a send starts")
	s.waitFor("worker: 8 slots, starts with a send")

	s.press("2")
	s.waitFor("ada@example.com")
	s.press("3", "1")
	s.press("n")
	s.waitFor("New campaign")
	s.typeText("Spring sale")
	s.press("tab", "tab") // the file channel has no settings
	s.typeText("Hello {{.name}}")
	s.press("tab")
	s.typeText("Hi {{.name}}")
	s.press("ctrl+s")
	s.waitFor("Saved 'Spring sale'")
	s.press("enter")
	s.waitFor("Last send")
	s.press("esc", "e")
	s.waitFor("Edit campaign")
	s.typeText(" again")
	s.press("ctrl+s")
	scr := s.waitFor("Saved 'Spring sale again'")
	// With a flash, the indicator shortens; it still says idle.
	if !regexp.MustCompile(`● redis: (not connected|idle)`).MatchString(scr) {
		t.Errorf("the indicator left idle while browsing:\n%s", frame(scr))
	}
	if n := ln.count.Load(); n != 0 {
		t.Fatalf("%d connections to Redis while browsing, creating and editing; want 0", n)
	}

	s.sendFromList("Spring sale again", 2)
	s.waitFor("cannot reach Redis at " + strings.TrimSuffix(ln.url(), "/0"))
	if n := ln.count.Load(); n == 0 {
		t.Fatal("starting a send made no connection")
	}
}

// Dialling: while the first dial waits for an answer the indicator says
// so; with none within the budget, the send is refused and nothing changed.
func TestIndicatorDiallingThenUnavailable(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, twoContacts)
	camp := seedSend(t, st, "Spring sale", 0)
	ln := newConnListener(t, true)
	rig := newSendRig(t, st, ln.url(), rigOptions{})
	s := startAppWith(t, rig.common(), 140, 30)
	s.waitFor("Spring sale")
	s.sendFromList("Spring sale", 2)
	s.waitFor("redis: dialling… · " + ln.url())
	s.waitFor("Connecting to Redis at " + ln.url())
	// While the refusal is flashed, the indicator shortens for it.
	s.waitFor("✗ cannot reach Redis at " + ln.url() + ": no answer within")
	s.waitFor("● redis: unavailable")
	if got := campaignByID(t, st, camp.ID); got.Status != store.StatusDraft || got.Version != camp.Version {
		t.Errorf("the campaign changed: %+v", got)
	}
}

// Unavailable: a closed port is refused at once, with the URL, the cause
// and what to do; the campaign, its ledger and the screen stay as they were.
func TestIndicatorUnavailableChangesNothing(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, twoContacts)
	camp := seedSend(t, st, "Spring sale", 0)
	url := closedPortURL(t)
	rig := newSendRig(t, st, url, rigOptions{})
	s := startAppWith(t, rig.common(), 160, 30)
	s.waitFor("Spring sale")
	// Timed from the confirmation: the preflight before it is not the
	// dial's, and takes what a loaded machine gives it.
	s.press("s")
	s.waitFor("Send 'Spring sale' to 2 recipients?")
	start := time.Now()
	s.press("y")
	s.waitFor("✗ cannot reach Redis at " + url + ": connection refused")
	scr := s.waitFor("● redis: unavailable")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the refusal took %s", took)
	}
	s.press("!")
	scr = s.waitFor("Recent errors")
	for _, want := range []string{"cannot reach Redis at " + url, "connection refused", "REDIS_URL"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the error lacks %q:\n%s", want, frame(scr))
		}
	}
	s.press("esc")
	scr = s.waitGone("Recent errors")
	if !regexp.MustCompile(`▌ +\d+  Spring sale +draft`).MatchString(scr) {
		t.Errorf("the row changed:\n%s", frame(scr))
	}
	got := campaignByID(t, st, camp.ID)
	if got.Status != store.StatusDraft || got.Version != camp.Version || got.LastSend != nil {
		t.Errorf("the campaign changed: %+v", got)
	}
	if _, err := st.SendState(camp.ID); err == nil {
		t.Error("a send state was written")
	}
}

// Connected, then reconnecting when Redis goes away mid-send — the pane
// keeps its numbers and says why — then connected again.
func TestIndicatorConnectedReconnectingConnected(t *testing.T) {
	srv := redistest.Start(t)
	st := newTestStore(t)
	seedContacts(t, st, sendContactsCSV(40))
	seedSend(t, st, "Spring sale", 4) // ten seconds: still going when Redis stops
	rig := newSendRig(t, st, srv.URL(), rigOptions{worker: true, pingGap: 100 * time.Millisecond})
	s := startAppWith(t, rig.common(), 160, 30)
	s.waitFor("Spring sale")
	s.sendFromList("Spring sale", 40)
	s.waitFor("Workers (1 alive)")
	scr := s.waitUntil("a connected indicator with its round trip", func(scr string) bool {
		return regexp.MustCompile(`redis: connected \([<0-9.]+ m?s\)`).MatchString(scr)
	})
	sent := sentOnScreen(t, scr)

	srv.Stop()
	scr = s.waitFor("redis: reconnecting (attempt ")
	scr = s.waitFor("Redis is unreachable: these numbers are from")
	if got := sentOnScreen(t, scr); got < sent {
		t.Errorf("the pane lost its numbers: %d sent before, %d now", sent, got)
	}
	if !strings.Contains(scr, "connection refused") {
		t.Errorf("the reconnecting indicator does not say why:\n%s", frame(scr))
	}

	srv.Restart()
	s.waitUntil("connected again", func(scr string) bool {
		return regexp.MustCompile(`redis: connected \([<0-9.]+ m?s\)`).MatchString(scr) && !strings.Contains(scr, "reconnecting")
	})
	s.waitGone("Redis is unreachable")
}

// sentOnScreen reads the pane's sent count.
func sentOnScreen(t *testing.T, scr string) int {
	t.Helper()
	m := regexp.MustCompile(`Sent ([0-9,]+)`).FindStringSubmatch(scr)
	if m == nil {
		t.Fatalf("no sent count on screen:\n%s", frame(scr))
	}
	n := 0
	for _, r := range m[1] {
		if r != ',' {
			n = n*10 + int(r-'0')
		}
	}
	return n
}

// Each state's texts, from the most to the least detailed, and the status
// bar never wider than the terminal with the worker in it.
func TestIndicatorTexts(t *testing.T) {
	url := "redis://127.0.0.1:6379/0"
	cases := []struct {
		s    queue.Status
		want []string
	}{
		{queue.Status{State: queue.Idle, URL: url}, []string{"redis: not connected — dials when a send starts · " + url, "redis: not connected — dials when a send starts", "redis: idle — dials on send", "redis: idle"}},
		{queue.Status{State: queue.Dialling, URL: url}, []string{"redis: dialling… · " + url, "redis: dialling…"}},
		{queue.Status{State: queue.Connected, URL: url, RTT: 400 * time.Microsecond}, []string{"redis: connected (0.4 ms) · " + url, "redis: connected (0.4 ms)", "redis: connected"}},
		{queue.Status{State: queue.Reconnecting, URL: url, Attempt: 3, NextTry: 4 * time.Second, Err: "connection refused"},
			[]string{"redis: reconnecting (attempt 3, next in 4s): connection refused · " + url, "redis: reconnecting (attempt 3, next in 4s): connection refused", "redis: reconnecting (attempt 3)", "redis: reconnecting"}},
		{queue.Status{State: queue.Unavailable, URL: url, Err: "connection refused"}, []string{"redis: unavailable: connection refused · " + url, "redis: unavailable: connection refused", "redis: unavailable (see !)", "redis: unavailable"}},
	}
	for _, c := range cases {
		if got := redisTexts(c.s); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: %q, want %q", c.s.State, got, c.want)
		}
	}
	for d, want := range map[time.Duration]string{50 * time.Microsecond: "<0.1 ms", 1260 * time.Microsecond: "1.3 ms", 42 * time.Millisecond: "42 ms", 1500 * time.Millisecond: "1.5 s"} {
		if got := formatRTT(d); got != want {
			t.Errorf("formatRTT(%s) = %q, want %q", d, got, want)
		}
	}

	b := statusBar{styles: DefaultStyles(), dbPath: "~/.local/share/tui/tui.db"}
	counts := &store.Counts{Campaigns: 3, Contacts: 12430}
	worker := workerTexts(WorkerSnapshot{Phase: WorkerRunning, Slots: 8, InFlight: 3})
	if worker[0] != "worker: 8 slots, 3 in flight" {
		t.Errorf("worker text %q", worker[0])
	}
	for _, c := range cases {
		wide := ansi.Strip(b.View(220, statusInfo{crumbs: []string{"Campaigns"}, redis: c.s, worker: worker, counts: counts}))
		if !strings.Contains(wide, c.want[0]) || !strings.Contains(wide, "worker: 8 slots, 3 in flight") {
			t.Errorf("220 columns lack the full indicator %q or the worker: %q", c.want[0], wide)
		}
		for w := 0; w <= 220; w++ {
			got := b.View(w, statusInfo{crumbs: []string{"Campaigns", "Spring sale", "Send"}, redis: c.s, worker: worker,
				flash: "Sending 'Spring sale' to 12,430 recipients", counts: counts})
			if cells := ansi.StringWidth(got); cells > w || strings.Contains(got, "\n") {
				t.Fatalf("%s at width %d: %d cells: %q", c.s.State, w, cells, ansi.Strip(got))
			}
		}
	}
}
