package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/queue"
	"tui/sending"
	"tui/store"
)

// paneFixture is a pane on a send in progress with nFail failures and
// nWorkers workers (the last one lost), at a fixed clock.
func paneFixture(st *store.Store, nFail, nWorkers int) (*progressPane, *sendBoard, time.Time) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := NewCommon(st, "tester", queue.Status{State: queue.Connected, URL: "redis://127.0.0.1:6379/0", RTT: 400 * time.Microsecond})
	c.Now = func() time.Time { return now }
	board := newSendBoard()
	camp := store.Campaign{ID: 7, Name: "Spring sale", Status: store.StatusSending, Rate: 500, Version: 3}
	send := store.SendState{CampaignID: 7, Round: 1, Total: 12430, Enqueued: true, StartedAt: now.Add(-95 * time.Second), StartedBy: "ada",
		Counts: map[store.RecipientState]int{store.RecipientSent: 6000, store.RecipientFailed: nFail, store.RecipientRetrying: 12,
			store.RecipientQueued: 12430 - 6000 - nFail - 12}}
	var workers []queue.WorkerInfo
	for i := 0; i < nWorkers; i++ {
		seen := now.Add(-time.Duration(i%3) * time.Second)
		if i == nWorkers-1 {
			seen = now.Add(-45 * time.Second)
		}
		workers = append(workers, queue.WorkerInfo{ID: fmt.Sprintf("host%02d-%d", i, 4000+i), Host: fmt.Sprintf("host%02d", i),
			InFlight: int64(i % 8), Processed: int64(600 * i), LastSeen: seen, Jobs: queue.JobFormat})
	}
	var failures []store.LedgerEntry
	for i := 0; i < nFail; i++ {
		failures = append(failures, store.LedgerEntry{CampaignID: 7, ContactID: uint64(i + 1), Round: 1, State: store.RecipientFailed,
			Address: fmt.Sprintf("user%04d@example.com", i), Attempts: 1 + i%5, LastError: "550 5.1.1 mailbox unavailable: no such user here"})
	}
	// Two minutes of history at about 100/s, one update every 100 ms.
	for i := 1200; i >= 0; i-- {
		at := now.Add(-time.Duration(i) * 100 * time.Millisecond)
		s := send
		sent := send.Counts[store.RecipientSent] - i*10
		s.Counts = map[store.RecipientState]int{store.RecipientSent: sent, store.RecipientFailed: nFail,
			store.RecipientRetrying: 12, store.RecipientQueued: send.Total - sent - nFail - 12}
		board.apply(sending.Update{Campaign: camp, Send: s, Workers: workers, At: at})
	}
	board.apply(sending.Update{Campaign: camp, Send: send, Failed: failures, Workers: workers, At: now})
	p := newProgressPane(c, board, camp, 1)
	return p, board, now
}

func TestPaneShowsTheSend(t *testing.T) {
	p, _, _ := paneFixture(nil, 50, 10)
	p.setSize(120, 37)
	v := ansi.Strip(p.View())
	for _, want := range []string{
		"Spring sale  sending", "round 1 · started", "by ada",
		"6,050/12,430 done (48%)",
		"Sent 6,000", "Failed 50", "Retrying 12", "In flight 28", "Queued 6,368", "Skipped 0", "Cancelled 0",
		"Rate 100/s (limit 500/s)", "Elapsed 1m35s", "ETA 1m0s",
		"redis: connected (0.4 ms)",
		"Workers (9 alive, 1 lost)", "lost (45s ago)",
		"Latest failures (50)", "user0049@example.com", "550 5.1.1 mailbox unavailable",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("the pane lacks %q:\n%s", want, v)
		}
	}
	// The newest failure comes first; j scrolls to older ones.
	if strings.Index(v, "user0049@") > strings.Index(v, "user0048@") {
		t.Errorf("failures are not newest first:\n%s", v)
	}
	p.Update(tea.KeyPressMsg{Code: 'j', Text: "j"})
	if v := ansi.Strip(p.View()); strings.Contains(v, "user0049@") || !strings.Contains(v, "user0048@") {
		t.Errorf("j does not scroll the failures:\n%s", v)
	}
}

// Workers that cannot deliver the campaign's channel are marked in the
// list; when none alive can, the pane says why and what to do.
func TestPaneSaysWhenNoWorkerCanDeliver(t *testing.T) {
	p, board, now := paneFixture(nil, 0, 3)
	l := board.get(7)
	reason := "the smtp channel needs SMTP_URL in the worker's environment"
	l.workers[0].Cannot = map[uint64]string{7: reason}
	p.setSize(160, 37)
	v := ansi.Strip(p.View())
	if !strings.Contains(lineWith(v, l.workers[0].ID), "cannot deliver: "+reason) {
		t.Errorf("the worker that cannot deliver is not marked:\n%s", v)
	}
	if strings.Contains(v, "No running worker can deliver") {
		t.Errorf("one worker can deliver, yet the pane says none can:\n%s", v)
	}
	// The third worker is lost (45 s); once the second cannot deliver
	// either, no worker alive can.
	if l.workers[2].Alive(now) {
		t.Fatalf("the fixture's last worker should be lost")
	}
	l.workers[1].Cannot = map[uint64]string{7: reason}
	v = ansi.Strip(p.View())
	if !strings.Contains(flat(v), "No running worker can deliver this send: "+reason) {
		t.Errorf("the pane does not say that no worker can deliver:\n%s", v)
	}
}

// A live worker from before packed jobs would fail every job it took: the
// pane names it and says what to do.
func TestPaneNamesAWorkerThatCannotReadTheJobs(t *testing.T) {
	p, board, _ := paneFixture(nil, 0, 3)
	p.setSize(160, 37)
	if v := ansi.Strip(p.View()); strings.Contains(v, "older tui") {
		t.Fatalf("up-to-date workers are called outdated:\n%s", v)
	}
	l := board.get(7)
	l.workers[1].Jobs = "" // its heartbeat says no format: an older tui
	v := flat(ansi.Strip(p.View()))
	if !strings.Contains(v, "Worker "+l.workers[1].ID+" (host "+l.workers[1].Host+") runs an older tui") ||
		!strings.Contains(v, "retry-failed 7") {
		t.Errorf("the pane does not name the outdated worker and the way back:\n%s", v)
	}
}

// The pane fits every usable size and stays readable at the smallest.
func TestPaneFitsEverySize(t *testing.T) {
	p, board, now := paneFixture(nil, 50, 10)
	states := map[string]func(){
		"sending": func() {},
		"paused": func() {
			l := board.get(7)
			l.c.Status = store.StatusPaused
		},
		"completed": func() {
			l := board.get(7)
			l.c.Status = store.StatusCompleted
			fin := now
			l.send.FinishedAt = &fin
		},
		"redis lost": func() {
			l := board.get(7)
			l.c.Status = store.StatusSending
			l.send.FinishedAt = nil
			p.c.Redis = queue.Status{State: queue.Reconnecting, URL: "redis://127.0.0.1:6379/0", Attempt: 4, NextTry: 2 * time.Second, Err: "connection refused"}
		},
		"cancel dialog": func() {
			p.cancelDlg = newCancelSendDialog(p.c, board.get(7), func() *sendLive { return board.get(7) })
		},
	}
	for _, name := range []string{"sending", "paused", "completed", "redis lost", "cancel dialog"} {
		states[name]()
		for _, sz := range [][2]int{{60, 12}, {80, 21}, {100, 27}, {120, 37}, {200, 57}, {300, 97}} {
			w, h := sz[0], sz[1]
			p.setSize(w, h)
			p.c.Width, p.c.Height = w, h+3
			v := p.View()
			lines := strings.Split(v, "\n")
			if len(lines) > h {
				t.Errorf("%s at %dx%d: %d lines", name, w, h, len(lines))
			}
			for i, l := range lines {
				if lw := ansi.StringWidth(l); lw > w {
					t.Errorf("%s at %dx%d: line %d is %d cells: %q", name, w, h, i, lw, ansi.Strip(l))
					break
				}
			}
			if !strings.Contains(ansi.Strip(v), "Spring sale") {
				t.Errorf("%s at %dx%d: the campaign's name is gone:\n%s", name, w, h, ansi.Strip(v))
			}
		}
	}
}

// The rate looks back five seconds, falls to zero when updates stop, and a
// new session's first figure is a baseline, not a burst.
func TestRateFollowsTheLastSeconds(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := &sendLive{}
	l.addSample(t0, 5000) // a send that was going before this session
	if r := l.rate(t0.Add(500 * time.Millisecond)); r != 0 {
		t.Errorf("rate after one sample = %v, want 0", r)
	}
	for i := 1; i <= 100; i++ { // 50/s for ten seconds
		l.addSample(t0.Add(time.Duration(i)*100*time.Millisecond), 5000+5*i)
	}
	end := t0.Add(10 * time.Second)
	if r := l.rate(end); r < 49 || r > 51 {
		t.Errorf("rate = %v, want 50", r)
	}
	if r := l.rate(end.Add(2500 * time.Millisecond)); r < 24 || r > 26 {
		t.Errorf("rate 2.5 s after the last update = %v, want about 25", r)
	}
	if r := l.rate(end.Add(6 * time.Second)); r != 0 {
		t.Errorf("rate 6 s after the last update = %v, want 0", r)
	}
	if len(l.samples) > 60 {
		t.Errorf("%d samples kept: the window is five seconds", len(l.samples))
	}
	rates := l.sparkRates(end)
	if len(rates) < 2 {
		t.Fatalf("sparkline buckets: %v", rates)
	}
	for i, r := range rates {
		if r < 45 || r > 55 {
			t.Errorf("bucket %d rate %v, want about 50 (a partial bucket must not look like a drop): %v", i, r, rates)
		}
	}
}

func TestSparkline(t *testing.T) {
	if got := sparkline([]float64{0, 1, 2, 4, 8}, 10); got != "·▁▂▄█" {
		t.Errorf("sparkline = %q", got)
	}
	if got := sparkline([]float64{1, 2, 3, 4, 5, 6}, 3); got != "▅▇█" {
		t.Errorf("sparkline cut to the newest = %q", got)
	}
	if got := sparkline(nil, 10); got != "" {
		t.Errorf("empty sparkline = %q", got)
	}
}

// A send the session watched flashes its end once; one first seen finished
// does not.
func TestBoardFlashesTheEndOnce(t *testing.T) {
	b := newSendBoard()
	camp := store.Campaign{ID: 1, Name: "Spring sale", Status: store.StatusCompleted, Version: 5}
	done := store.SendState{Total: 2, Enqueued: true, Counts: map[store.RecipientState]int{store.RecipientSent: 2}}
	if b.apply(sending.Update{Campaign: camp, Send: done}) {
		t.Error("a send first seen finished flashed its end")
	}
	camp2 := store.Campaign{ID: 2, Name: "Autumn", Status: store.StatusSending, Version: 4}
	going := store.SendState{Total: 3, Enqueued: true, Counts: map[store.RecipientState]int{store.RecipientQueued: 3}}
	if b.apply(sending.Update{Campaign: camp2, Send: going}) {
		t.Error("a send in progress flashed")
	}
	camp2.Status, camp2.Version = store.StatusCompleted, 5
	over := store.SendState{Total: 3, Enqueued: true, Counts: map[store.RecipientState]int{store.RecipientSent: 2, store.RecipientFailed: 1}}
	if !b.apply(sending.Update{Campaign: camp2, Send: over}) {
		t.Fatal("the end of a watched send did not flash")
	}
	news := endNews(b.get(2))
	if !news.Err || news.Text != "'Autumn' completed with 1 failure: 2 sent; f in its send pane lists them" {
		t.Errorf("news = %+v", news)
	}
	if b.apply(sending.Update{Campaign: camp2, Send: over}) {
		t.Error("the end flashed twice")
	}
	// An older update arriving late does not bring the status back.
	stale := camp2
	stale.Status, stale.Version = store.StatusSending, 4
	b.apply(sending.Update{Campaign: stale, Send: going})
	if got := b.get(2).c.Status; got != store.StatusCompleted {
		t.Errorf("a stale update set the status to %s", got)
	}
}

// A retry round queues every failure again: the pane's latest failures
// start over with it, instead of listing the earlier round's under "(0)".
func TestBoardForgetsFailuresWhenARetryRoundStarts(t *testing.T) {
	b := newSendBoard()
	camp := store.Campaign{ID: 1, Name: "Hook", Status: store.StatusCompleted, Version: 3}
	round1 := store.SendState{Round: 1, Total: 2, Enqueued: true, Counts: map[store.RecipientState]int{store.RecipientFailed: 2}}
	failed := []store.LedgerEntry{{ContactID: 1, Round: 1, Address: "a@example.com", State: store.RecipientFailed, LastError: "refused"},
		{ContactID: 2, Round: 1, Address: "b@example.com", State: store.RecipientFailed, LastError: "refused"}}
	b.apply(sending.Update{Campaign: camp, Send: round1, Failed: failed})
	if n := len(b.get(1).failures); n != 2 {
		t.Fatalf("%d failures after round 1, want 2", n)
	}
	camp.Status, camp.Version = store.StatusSending, 4
	round2 := store.SendState{Round: 2, Total: 2, Counts: map[store.RecipientState]int{store.RecipientQueued: 2}}
	b.apply(sending.Update{Campaign: camp, Send: round2})
	if n := len(b.get(1).failures); n != 0 {
		t.Errorf("%d failures of round 1 still listed in round 2, want none", n)
	}
	// The same recipient failing again in round 2 is listed again.
	again := failed[0]
	again.Round = 2
	b.apply(sending.Update{Campaign: camp, Send: round2, Failed: []store.LedgerEntry{again}})
	if n := len(b.get(1).failures); n != 1 {
		t.Errorf("%d failures after a round-2 failure, want 1", n)
	}
}

// The App at every size with the pane, the send dialog and the failures
// view open: never more than the terminal holds.
func TestSendScreensFitEverySize(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, sendContactsCSV(3))
	camp := seedSend(t, st, "Spring sale", 10)
	app := NewApp(NewCommon(st, "tester", queue.IdleStatus(queue.DefaultURL)))
	runCmd(app, app.Init())
	p, board, _ := paneFixture(st, 50, 10)
	app.campaigns.sends = board
	p.c = app.c
	sizes := [][2]int{{0, 0}, {1, 1}, {40, 12}, {59, 14}, {60, 15}, {80, 24}, {120, 40}, {200, 60}}
	check := func(state string) {
		t.Helper()
		for _, sz := range sizes {
			w, h := sz[0], sz[1]
			app.Update(tea.WindowSizeMsg{Width: w, Height: h})
			out := app.View().Content
			lines := strings.Split(out, "\n")
			if out != "" && len(lines) > h {
				t.Errorf("%s at %dx%d: %d lines", state, w, h, len(lines))
			}
			for i, l := range lines {
				if lw := ansi.StringWidth(l); lw > w {
					t.Errorf("%s at %dx%d: line %d is %d cells: %q", state, w, h, i, lw, ansi.Strip(l))
					break
				}
			}
		}
		app.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	}
	app.Update(tea.WindowSizeMsg{Width: 80, Height: 24})

	app.campaigns.push(app.campaigns.paneLayer(p))
	p.setSize(80, 21)
	check("pane")
	p.failures = newFailuresView(app.c, board, 7, "Spring sale")
	p.failures.Update(failuresLoadedMsg{id: 7, req: 0, rows: board.get(7).failures, failed: 50})
	check("failures")
	p.failures.openConfirm()
	check("retry question")
	p.failures = nil

	// The pane's dialogs keep their input, keys and border at the
	// smallest size.
	dialogs := []struct {
		name, keys string
		open       func()
	}{
		{"rate dialog", "enter sets it", func() { p.rateDlg = newRateDialog(app.c, board.get(7)) }},
		{"cancel dialog", "enter cancels the send", func() {
			p.cancelDlg = newCancelSendDialog(app.c, board.get(7), func() *sendLive { return board.get(7) })
		}},
	}
	for _, d := range dialogs {
		p.rateDlg, p.cancelDlg = nil, nil
		d.open()
		check(d.name)
		app.Update(tea.WindowSizeMsg{Width: 60, Height: 15})
		v := ansi.Strip(app.View().Content)
		if !strings.Contains(v, d.keys) || !strings.Contains(v, "> ") || !strings.Contains(v, "╰") {
			t.Errorf("the %s is cut at 60x15:\n%s", d.name, v)
		}
		app.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	}
	p.rateDlg, p.cancelDlg = nil, nil
	app.campaigns.stack = nil

	flow := newSendFlow(app.c, 1, camp)
	app.campaigns.push(&flowLayer{flow})
	flow.setSize(80, 21)
	check("checking")
	pf, err := sending.New(st, nil).Preflight(t.Context(), camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	flow.Update(preflightDoneMsg{run: 1, pf: pf})
	if !strings.Contains(ansi.Strip(app.View().Content), "Send 'Spring sale' to 3 recipients?") {
		t.Fatalf("the confirmation is not shown:\n%s", ansi.Strip(app.View().Content))
	}
	check("confirm")
	f := flow
	f.stage, f.queued, f.progress = sendQueueing, true, sending.Progress{Total: 12430, Enqueued: 3200}
	if v := ansi.Strip(app.View().Content); !strings.Contains(v, "Queueing Spring sale… 3,200/12,430") {
		t.Errorf("the queueing counter is not shown:\n%s", v)
	}
	check("queueing")
	pf.ErrorCount = 40
	for i := 0; i < 40; i++ {
		pf.Errors = append(pf.Errors, sending.RecipientError{Address: fmt.Sprintf("u%03d@example.com", i),
			// Forty causes: the list is longer than the dialog.
			Err: &store.FieldError{Field: "body", Line: 1, Col: 17, Msg: fmt.Sprintf(`the contact has no field "city%d"`, i)}})
	}
	flow = newSendFlow(app.c, 2, camp)
	app.campaigns.stack = []layer{&flowLayer{flow}}
	flow.Update(preflightDoneMsg{run: 2, pf: pf})
	check("blocked")
	flow.Update(tea.KeyPressMsg{Code: 'j', Text: "j"})
	if v := ansi.Strip(app.View().Content); !strings.Contains(v, "j/k scroll") || strings.Contains(v, "u000@example.com") {
		t.Errorf("j does not scroll the errors:\n%s", v)
	}
}

// After a fault the pane says what happened: possible duplicates counted,
// a queue Redis lost and queued again, and what Redis refuses now.
func TestPaneShowsFaultsAndPossibleDuplicates(t *testing.T) {
	p, board, now := paneFixture(nil, 0, 2)
	l := board.get(7)
	send := l.send
	send.Redelivered = 176
	send.Losses = []store.QueueLoss{{At: time.Date(2026, 3, 1, 12, 21, 46, 0, time.Local), Requeued: 176}}
	board.apply(sending.Update{Campaign: l.c, Send: send, Workers: l.workers, At: now})
	p.setSize(80, 24)
	v := ansi.Strip(p.View())
	for _, want := range []string{"Possibly twice 176", "Redis lost the queue at 12:21:46; 176 re-queued from the ledger"} {
		if !strings.Contains(strings.Join(strings.Fields(v), " "), want) {
			t.Errorf("the pane lacks %q:\n%s", want, v)
		}
	}
	board.apply(sending.Update{Campaign: l.c, Send: send, Workers: l.workers, At: now,
		RedisErr: queue.Explain(fmt.Errorf("OOM command not allowed when used memory > 'maxmemory'."))})
	v = strings.Join(strings.Fields(ansi.Strip(p.View())), " ")
	if !strings.Contains(v, "Redis is out of memory and refuses writes") {
		t.Errorf("the pane does not name the refusal:\n%s", v)
	}
	// A worker's refusal shows too, when the owner's own writes pass.
	workers := append([]queue.WorkerInfo(nil), l.workers...)
	workers[0].RedisErr = queue.Explain(fmt.Errorf("READONLY You can't write against a read only replica."))
	board.apply(sending.Update{Campaign: l.c, Send: send, Workers: workers, At: now})
	v = strings.Join(strings.Fields(ansi.Strip(p.View())), " ")
	if !strings.Contains(v, "Worker host00-4000: Redis answered from a read-only replica") {
		t.Errorf("the pane does not name the worker's refusal:\n%s", v)
	}
}

// The end banner counts failures and skips apart.
func TestCompletedBannerCountsSkippedApart(t *testing.T) {
	p, board, now := paneFixture(nil, 0, 1)
	l := board.get(7)
	c := l.c
	c.Status = store.StatusCompleted
	c.Version++
	send := l.send
	send.Counts = map[store.RecipientState]int{store.RecipientSent: send.Total - 10, store.RecipientSkipped: 10}
	board.apply(sending.Update{Campaign: c, Send: send, At: now})
	p.setSize(100, 30)
	v := ansi.Strip(p.View())
	if !strings.Contains(v, "Completed with 10 skipped") || strings.Contains(v, "failures") {
		t.Errorf("the banner mixes skips and failures:\n%s", v)
	}
}

// A retry round that is over says when it began and who began it, and its
// pace is its own: the recipients it queued again, over its own time, not
// the whole send's since the first round two days earlier.
func TestPaneShowsARetryRoundsOwnPace(t *testing.T) {
	now := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	c := NewCommon(nil, "tester", queue.Status{State: queue.Connected, URL: "redis://127.0.0.1:6379/0"})
	c.Now = func() time.Time { return now }
	board := newSendBoard()
	camp := store.Campaign{ID: 9, Name: "Hook", Status: store.StatusCompleted, Version: 5}
	finished := now.Add(-2 * time.Second)
	roundStart := finished.Add(-10 * time.Second)
	send := store.SendState{CampaignID: 9, Round: 2, Total: 100, Enqueued: true,
		StartedAt: now.Add(-48 * time.Hour), StartedBy: "ada",
		RoundStartedAt: roundStart, RoundStartedBy: "bob", RoundBase: 80, FinishedAt: &finished,
		Counts: map[store.RecipientState]int{store.RecipientSent: 100}}
	board.apply(sending.Update{Campaign: camp, Send: send, At: now})
	p := newProgressPane(c, board, camp, 1)
	p.setSize(100, 30)
	v := ansi.Strip(p.View())
	for _, want := range []string{
		"round 2 · started " + roundStart.Local().Format("15:04:05") + " by bob",
		"Average 2.0/s", "Took 10s",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("the pane lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "by ada") || strings.Contains(v, "48h") {
		t.Errorf("the pane speaks of the first round:\n%s", v)
	}
	// A send recorded before rounds kept their start counts from the send's.
	send.RoundStartedAt, send.RoundStartedBy, send.RoundBase = time.Time{}, "", 0
	send.Round, send.StartedAt = 1, roundStart
	board.apply(sending.Update{Campaign: camp, Send: send, At: now})
	if v := ansi.Strip(p.View()); !strings.Contains(v, "by ada") || !strings.Contains(v, "Average 10/s") {
		t.Errorf("a first round's pane:\n%s", v)
	}
	// A send over in under a second: its time to the tenth, and the rate
	// over that time, not the count over a second rounded up.
	send.StartedAt = finished.Add(-800 * time.Millisecond)
	board.apply(sending.Update{Campaign: camp, Send: send, At: now})
	if v := ansi.Strip(p.View()); !strings.Contains(v, "Average 125/s   Took 0.8s") {
		t.Errorf("a send over in 0.8 s:\n%s", v)
	}
}

// A send that ended without the hub's word — cancelled in the ledger alone
// (its Redis gone), or by another process while Redis is away — shows the
// ledger's numbers once the list learns of the end, not the last ones the
// hub sent.
func TestPaneShowsTheLedgerOfASendThatEndedWithoutTheHub(t *testing.T) {
	st := newTestStore(t)
	ctSeed(t, st, "email,name\na@example.com,A\nb@example.com,B\nc@example.com,C\n")
	c := seedCampaign(t, st, "Gone Redis")
	if _, _, err := st.StartSend("tester", c.ID, 0); err != nil {
		t.Fatal(err)
	}
	s := startApp(t, st, 80, 24)
	s.waitFor("Gone Redis")
	s.press("w")
	s.waitFor("Queued 3")
	if _, _, err := st.CancelSend("someone else", c.ID); err != nil {
		t.Fatal(err)
	}
	s.tm.Send(DataChangedMsg{What: CampaignData})
	scr := s.waitFor("Cancelled 3")
	if !strings.Contains(scr, "Queued 0") || !strings.Contains(scr, "0 sent, 3 cancelled") {
		t.Errorf("the pane after a cancel in the ledger alone:\n%s", frame(scr))
	}
}

// While recipients wait for another try and none has failed for good, the
// pane names the newest one and why its last try failed; the line goes when
// nobody waits any more, and a new round starts without it.
func TestPaneSaysWhyRecipientsWaitForAnotherTry(t *testing.T) {
	now := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	c := NewCommon(nil, "tester", queue.Status{State: queue.Connected, URL: "redis://127.0.0.1:6379/0"})
	c.Now = func() time.Time { return now }
	board := newSendBoard()
	camp := store.Campaign{ID: 4, Name: "Hook", Status: store.StatusSending, Version: 2}
	send := store.SendState{CampaignID: 4, Round: 1, Total: 100, Enqueued: true, StartedAt: now.Add(-time.Minute),
		Counts: map[store.RecipientState]int{store.RecipientRetrying: 5, store.RecipientQueued: 95}}
	retry := &store.LedgerEntry{ContactID: 7, Address: "u7@example.com", State: store.RecipientRetrying, Attempts: 2,
		LastError: "webhook answered HTTP 500 Internal Server Error: database is down"}
	board.apply(sending.Update{Campaign: camp, Send: send, LastRetry: retry, At: now})
	p := newProgressPane(c, board, camp, 1)
	p.setSize(80, 24)
	v := ansi.Strip(p.View())
	for _, want := range []string{"Latest retry  u7@example.com after 2 tries", "webhook answered HTTP 500 Internal Server Error: database is down", "Failures  none so far"} {
		if !strings.Contains(v, want) {
			t.Errorf("the pane lacks %q:\n%s", want, v)
		}
	}
	// A later update without a new retry keeps the reason.
	board.apply(sending.Update{Campaign: camp, Send: send, At: now})
	if v := ansi.Strip(p.View()); !strings.Contains(v, "u7@example.com after 2 tries") {
		t.Errorf("the reason went with an update that had none new:\n%s", v)
	}
	// Nobody waits any more.
	send.Counts = map[store.RecipientState]int{store.RecipientSent: 5, store.RecipientQueued: 95}
	board.apply(sending.Update{Campaign: camp, Send: send, At: now})
	if v := ansi.Strip(p.View()); strings.Contains(v, "Latest retry") {
		t.Errorf("nobody waits, and the pane still names a retry:\n%s", v)
	}
	// A new round starts without the last one's.
	send.Round, send.Counts = 2, map[store.RecipientState]int{store.RecipientRetrying: 1, store.RecipientQueued: 4}
	board.apply(sending.Update{Campaign: camp, Send: send, At: now})
	if v := ansi.Strip(p.View()); strings.Contains(v, "Latest retry") {
		t.Errorf("a new round shows the last one's retry:\n%s", v)
	}
}
