package ui

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/internal/english"
	"tui/queue"
	"tui/sending"
	"tui/store"
)

// progressPane is the live view of one campaign's send: how far it has
// come, how fast it goes, when it will end, what failed and why, and
// whether the workers are alive. Its numbers come from the session's send
// board, which the hub's updates keep current; the pane itself only reads
// the store once, when it opens, for a send the hub has not reported.
type progressPane struct {
	c     *Common
	keys  ProgressKeyMap
	board *sendBoard
	id    uint64
	name  string

	width, height int
	scroll        int // into the latest failures, newest first

	loadReq int
	loaded  bool
	loadErr error
	busy    string // what a control in flight is doing: "Pausing…"

	cancelDlg *cancelSendDialog
	// ledgerDlg asks, after a cancel Redis could not be told, whether to
	// record it in the ledger alone.
	ledgerDlg *Confirm
	rateDlg   *rateDialog
	newRate   int // what a rate change in flight sets
	failures  *failuresView
	closed    bool
}

type (
	paneLoadedMsg struct {
		id       uint64
		req      int
		c        store.Campaign
		send     *store.SendState // nil: never sent
		failures []store.LedgerEntry
		err      error
	}
	sendControlMsg struct {
		id     uint64
		action sendAction
		c      store.Campaign
		send   *store.SendState // read after the action
		err    error
	}
	// clockMsg moves elapsed times and lost-worker marks along while a
	// send is on screen.
	clockMsg struct{ seq int }
)

type sendAction int

const (
	actionPause sendAction = iota
	actionResume
	actionCancel
	actionRate
	// actionCancelInLedger records a cancel in the ledger alone, when
	// Redis cannot be reached and the person says it is gone for good.
	actionCancelInLedger
)

// clockEvery is how often the elapsed time and the rate move on without
// news from the hub.
const clockEvery = time.Second

func newProgressPane(c *Common, board *sendBoard, camp store.Campaign, req int) *progressPane {
	return &progressPane{c: c, keys: DefaultProgressKeyMap(), board: board, id: camp.ID, name: camp.Name, loadReq: req}
}

// load reads the send's numbers and its newest failures from the store, so
// the pane has something to show before (or without) the hub.
func (p *progressPane) load() tea.Cmd {
	st, id, req := p.c.Store, p.id, p.loadReq
	return func() tea.Msg {
		c, err := st.Campaign(id)
		if err != nil {
			return paneLoadedMsg{id: id, req: req, err: err}
		}
		c = safeCampaign(c)
		ss, err := st.SendState(id)
		if errors.Is(err, store.ErrNotFound) {
			return paneLoadedMsg{id: id, req: req, c: c}
		}
		if err != nil {
			return paneLoadedMsg{id: id, req: req, c: c, err: err}
		}
		var failures []store.LedgerEntry
		if ss.Counts[store.RecipientFailed] > 0 {
			failures, err = st.NewestFailures(id, keptFailures)
			for i := range failures {
				failures[i] = safeLedger(failures[i])
			}
		}
		return paneLoadedMsg{id: id, req: req, c: c, send: &ss, failures: failures, err: err}
	}
}

func (p *progressPane) setSize(w, h int) {
	p.width, p.height = w, h
	if p.failures != nil {
		p.failures.setSize(w, h)
	}
}

// capturing is true while the pane's dialog or the failures' has the keys.
func (p *progressPane) capturing() bool {
	return p.ledgerDlg != nil || p.cancelDlg != nil || p.rateDlg != nil || (p.failures != nil && p.failures.capturing())
}

func (p *progressPane) live() *sendLive { return p.board.get(p.id) }

// Done reports whether esc closed the pane.
func (p *progressPane) Done() bool { return p.closed }

// campaign is the campaign whose send the pane shows.
func (p *progressPane) campaign() (id uint64, name string) { return p.id, p.name }

// Update handles one message for the pane.
func (p *progressPane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case paneLoadedMsg:
		if msg.id != p.id || msg.req != p.loadReq {
			return nil
		}
		p.loaded, p.loadErr = true, msg.err
		if msg.err != nil {
			return ReportError(fmt.Errorf("read the send of '%s': %w", p.name, msg.err))
		}
		p.name = msg.c.Name
		p.board.seed(msg.c, msg.send, msg.failures)
		return nil
	case sendControlMsg:
		if msg.id != p.id {
			return nil
		}
		p.busy = ""
		var unreachable *sending.CancelUnreachableError
		if msg.action == actionCancel && errors.As(msg.err, &unreachable) {
			// Redis is away: the cancel can go in the ledger alone, if the
			// person says that Redis is gone for good.
			p.ledgerDlg = NewConfirm(p.c, "Cancel '"+p.name+"' in the ledger alone?",
				fmt.Sprintf("Only if that Redis is gone for good. It cannot be reached at %s, and the workers read a cancel there. %s.",
					unreachable.Err.URL, sending.LedgerCancelCaveat), "Cancel in the ledger", nil).WithNoLabel("Keep sending")
		}
		return nil
	case sendUpdatesMsg:
		// The board has folded the news already.
		p.clampScroll()
		if p.failures != nil {
			return p.failures.refresh()
		}
		return nil
	case tea.KeyPressMsg:
		return p.handleKey(msg)
	case tea.PasteMsg:
		if p.cancelDlg != nil {
			return p.cancelDlg.Update(msg)
		}
		if p.rateDlg != nil {
			return p.rateDlg.Update(msg)
		}
	}
	if p.failures != nil {
		cmd := p.failures.Update(msg)
		if p.failures.closed {
			p.failures = nil
		}
		return cmd
	}
	return nil
}

func (p *progressPane) handleKey(k tea.KeyPressMsg) tea.Cmd {
	if p.ledgerDlg != nil {
		closed, _ := p.ledgerDlg.Update(k)
		if !closed {
			return nil
		}
		yes := p.ledgerDlg.Confirmed()
		p.ledgerDlg = nil
		if !yes {
			return nil
		}
		p.busy = "Cancelling in the ledger…"
		return p.control(actionCancelInLedger)
	}
	if p.cancelDlg != nil {
		cmd := p.cancelDlg.Update(k)
		switch {
		case p.cancelDlg.confirmed:
			p.cancelDlg = nil
			p.busy = "Cancelling…"
			return tea.Batch(cmd, p.control(actionCancel))
		case p.cancelDlg.done:
			p.cancelDlg = nil
		}
		return cmd
	}
	if p.rateDlg != nil {
		cmd := p.rateDlg.Update(k)
		if !p.rateDlg.done {
			return cmd
		}
		d := p.rateDlg
		p.rateDlg = nil
		if !d.set {
			return cmd
		}
		if l := p.live(); l == nil || (l.c.Status != store.StatusSending && l.c.Status != store.StatusPaused) {
			return ReportError(fmt.Errorf("the send of '%s' ended while the rate was typed; nothing changed", p.name))
		}
		p.busy, p.newRate = "Changing the rate…", d.rate
		return tea.Batch(cmd, p.control(actionRate))
	}
	if p.failures != nil {
		cmd := p.failures.Update(k)
		if p.failures.closed {
			p.failures = nil
		}
		return cmd
	}
	l := p.live()
	status := store.StatusDraft
	if l != nil {
		status = l.c.Status
	}
	switch {
	case key.Matches(k, p.keys.Back):
		p.closed = true
	case key.Matches(k, p.keys.Down):
		p.scroll++
		p.clampScroll()
	case key.Matches(k, p.keys.Up):
		p.scroll--
		p.clampScroll()
	case key.Matches(k, p.keys.Failures):
		p.failures = newFailuresView(p.c, p.board, p.id, p.name)
		p.failures.setSize(p.width, p.height)
		return p.failures.load()
	case key.Matches(k, p.keys.Retry):
		if l == nil || l.count(store.RecipientFailed)+l.count(store.RecipientSkipped) == 0 {
			return Flash("Nothing to retry: no recipient of '" + p.name + "' failed")
		}
		p.failures = newFailuresView(p.c, p.board, p.id, p.name)
		p.failures.setSize(p.width, p.height)
		return tea.Batch(p.failures.load(), p.failures.askRetry())
	case p.busy != "":
		// One control at a time: the next key waits for the answer.
		return nil
	case key.Matches(k, p.keys.Pause):
		if status != store.StatusSending {
			return ReportError(fmt.Errorf("'%s' is %s, not sending: there is nothing to pause", p.name, status.Phrase()))
		}
		p.busy = "Pausing…"
		return p.control(actionPause)
	case key.Matches(k, p.keys.Resume):
		if status != store.StatusPaused && status != store.StatusSending {
			return ReportError(fmt.Errorf("'%s' is %s: only a paused send resumes", p.name, status.Phrase()))
		}
		p.busy = "Resuming…"
		return p.control(actionResume)
	case key.Matches(k, p.keys.Cancel):
		if status != store.StatusSending && status != store.StatusPaused {
			return ReportError(fmt.Errorf("'%s' is %s: there is no send to cancel", p.name, status.Phrase()))
		}
		p.cancelDlg = newCancelSendDialog(p.c, l, p.live)
		return p.cancelDlg.focus()
	case key.Matches(k, p.keys.Rate):
		if status != store.StatusSending && status != store.StatusPaused {
			return ReportError(fmt.Errorf("'%s' is %s: only a running send's rate changes here (e edits a draft's)", p.name, status.Phrase()))
		}
		p.rateDlg = newRateDialog(p.c, l)
		return p.rateDlg.focus()
	}
	return nil
}

// control pauses, resumes or cancels the send in a command. Each reaches
// Redis first, so when Redis is away nothing changes and the error says so.
func (p *progressPane) control(a sendAction) tea.Cmd {
	svc, actor, id, ctx, rate := p.c.Sends, p.c.Actor, p.id, p.c.Ctx, p.newRate
	if svc == nil {
		p.busy = ""
		return ReportError(errors.New("this session cannot control sends"))
	}
	return func() tea.Msg {
		var c store.Campaign
		var err error
		switch a {
		case actionPause:
			c, err = svc.Pause(ctx, actor, id)
		case actionResume:
			var res sending.Result
			res, err = svc.Resume(ctx, actor, id, nil)
			c = res.Campaign
		case actionCancel:
			c, err = svc.Cancel(ctx, actor, id)
		case actionCancelInLedger:
			c, err = svc.CancelInLedger(actor, id)
		case actionRate:
			c, err = svc.SetRate(ctx, actor, id, rate)
		}
		msg := sendControlMsg{id: id, action: a, c: c, err: err}
		if ss, serr := svc.Store.SendState(id); serr == nil {
			msg.send = &ss
		}
		return msg
	}
}

// endedBefore reports whether a control failed because the send was over.
func endedBefore(err error) bool {
	var te *store.TransitionError
	return errors.As(err, &te) && (te.From == store.StatusCompleted || te.From == store.StatusCancelled || te.From == store.StatusFailed)
}

// controlNews is the flash for a control's answer.
func controlNews(msg sendControlMsg) tea.Cmd {
	name := "'" + msg.c.Name + "'"
	var unreachable *sending.CancelUnreachableError
	switch {
	case msg.action == actionResume && errors.Is(msg.err, sending.ErrNothingToResume):
		return Flash(name + " is sending already: every recipient is queued")
	case msg.action == actionCancel && endedBefore(msg.err):
		// The send finished between the confirmation and the cancel: say
		// what happened, not which status change the store refused.
		text := name + " ended before the cancel arrived: nothing was cancelled"
		var te *store.TransitionError
		errors.As(msg.err, &te)
		if msg.send != nil {
			text = fmt.Sprintf("%s had %s before the cancel arrived: nothing was cancelled; %s of %s sent", name,
				te.From, english.Thousands(msg.send.Counts[store.RecipientSent]), english.Thousands(msg.send.Total))
		}
		return Flash(text)
	case msg.action == actionCancel && errors.As(msg.err, &unreachable):
		// The pane asks next whether to cancel in the ledger alone: the
		// error says only what happened.
		return ReportError(fmt.Errorf("could not cancel the send: %w", unreachable.Err))
	case msg.err != nil:
		verb := map[sendAction]string{actionPause: "pause", actionResume: "resume", actionCancel: "cancel",
			actionCancelInLedger: "cancel in the ledger", actionRate: "change the rate of"}[msg.action]
		return ReportError(fmt.Errorf("could not %s the send: %w", verb, msg.err))
	}
	switch msg.action {
	case actionPause:
		return Flash("Paused " + name + ": no new deliveries start (those under way finish); r resumes")
	case actionResume:
		return Flash("Resumed " + name)
	case actionRate:
		if msg.c.Rate == 0 {
			return Flash(name + " now sends as fast as the workers can; every worker follows within a second")
		}
		return Flash(fmt.Sprintf("%s now sends at %s/s; every worker follows within a second", name, english.Thousands(msg.c.Rate)))
	}
	text := "Cancelled " + name
	if msg.action == actionCancelInLedger {
		text += " in the ledger alone (workers were not told)"
	}
	if msg.send != nil {
		text += fmt.Sprintf(": %s sent, %s cancelled", english.Thousands(msg.send.Counts[store.RecipientSent]), english.Thousands(msg.send.Counts[store.RecipientCancelled]))
	}
	return Flash(text)
}

// failureRows is how many of the latest failures fit under the rest.
func (p *progressPane) failureRows() int {
	return max(p.height-p.headLines(), 1)
}

func (p *progressPane) clampScroll() {
	n := 0
	if l := p.live(); l != nil {
		n = len(l.failures)
	}
	p.scroll = max(min(p.scroll, n-p.failureRows()), 0)
}

// Breadcrumb says where the person is.
func (p *progressPane) Breadcrumb() []string {
	if p.failures != nil {
		return []string{"Campaigns", p.name, "Failures"}
	}
	return []string{"Campaigns", p.name, "Send"}
}

// ShortHelp lists the keys that do something now.
func (p *progressPane) ShortHelp() []key.Binding {
	switch {
	case p.ledgerDlg != nil:
		return p.ledgerDlg.ShortHelp()
	case p.cancelDlg != nil:
		return []key.Binding{p.cancelDlg.keys.Confirm, p.cancelDlg.keys.Keep}
	case p.rateDlg != nil:
		return []key.Binding{p.rateDlg.keys.Apply, p.rateDlg.keys.Keep}
	case p.failures != nil:
		return p.failures.ShortHelp()
	}
	var h []key.Binding
	l := p.live()
	if l != nil {
		switch l.c.Status {
		case store.StatusSending:
			// r is how a lost queue is recovered: it stays in sight.
			h = append(h, p.keys.Pause, p.keys.Cancel, p.keys.Rate, p.keys.Requeue)
		case store.StatusPaused:
			h = append(h, p.keys.Resume, p.keys.Cancel, p.keys.Rate)
		}
		if l.count(store.RecipientFailed)+l.count(store.RecipientSkipped) > 0 && l.c.Status != store.StatusCancelled {
			h = append(h, p.keys.Retry)
		}
	}
	h = append(h, p.keys.Failures, p.keys.Back)
	if l != nil && len(l.failures) > p.failureRows() {
		h = append(h, p.keys.Down, p.keys.Up)
	}
	return h
}

// FullHelp lists every key of the pane.
func (p *progressPane) FullHelp() [][]key.Binding {
	if p.failures != nil {
		return p.failures.FullHelp()
	}
	k := p.keys
	return [][]key.Binding{{k.Pause, k.Resume, k.Requeue, k.Cancel, k.Rate}, {k.Failures, k.Retry, k.Down, k.Up, k.Back}}
}

// headLines is how many lines the pane uses above the failures list.
func (p *progressPane) headLines() int {
	return len(p.head(p.live(), p.c.Now())) + 2
}

// View draws the pane in width×height.
func (p *progressPane) View() string {
	if p.failures != nil {
		return p.failures.View()
	}
	w, h := p.width, p.height
	if w <= 0 || h <= 0 {
		return ""
	}
	st := p.c.Styles
	l := p.live()
	if l == nil || !l.hasSend {
		switch {
		case p.loadErr != nil:
			return Center(w, h, lipgloss.NewStyle().Width(min(w-4, 70)).Render(
				st.Error.Render("Could not read the send: "+p.loadErr.Error())+"\n\nesc goes back."))
		case p.loaded:
			return Center(w, h, fmt.Sprintf("'%s' has not been sent yet — esc, then s sends it.", p.name))
		}
		return Center(w, h, st.Dim.Render("Loading the send of '"+p.name+"'…"))
	}
	now := p.c.Now()
	lines := p.head(l, now)
	lines = append(lines, "")
	lines = append(lines, p.failureLines(l, w, max(h-len(lines), 1))...)
	for i, line := range lines {
		lines[i] = ansi.Truncate(line, w, "…")
	}
	out := strings.Join(lines, "\n")
	switch {
	case p.ledgerDlg != nil:
		out = Overlay(w, h, fitLines(out, w, h), p.ledgerDlg.View())
	case p.cancelDlg != nil:
		out = Overlay(w, h, fitLines(out, w, h), p.cancelDlg.View(w, h))
	case p.rateDlg != nil:
		out = Overlay(w, h, fitLines(out, w, h), p.rateDlg.View(w, h))
	}
	return out
}

// head is everything above the failures: title, state, bar, counts, pace,
// Redis and the workers.
func (p *progressPane) head(l *sendLive, now time.Time) []string {
	if l == nil {
		return nil
	}
	st := p.c.Styles
	w := p.width
	n := l.send.Counts
	total, final := l.send.Total, l.final()

	title := " " + st.Title.Render(l.c.Name) + "  " + st.StatusBadge(l.c.Status) + st.Dim.Render(fmt.Sprintf("  ID %d", l.c.ID))
	started, by := l.send.RoundStart()
	info := fmt.Sprintf("round %d · started %s", l.send.Round, started.Local().Format("15:04:05"))
	if by != "" {
		info += " by " + by
	}
	infoRoom := w - lipgloss.Width(title) - 3
	if ansi.StringWidth(info) > infoRoom {
		// An SSH user's key fingerprint goes first; the name stays.
		if i := strings.Index(info, " (SHA256:"); i > 0 {
			info = info[:i]
		}
		if ansi.StringWidth(info) > infoRoom {
			info = ansi.Truncate(info, max(infoRoom, 0), "…")
		}
	}
	if gap := w - lipgloss.Width(title) - ansi.StringWidth(info) - 1; gap >= 2 && infoRoom >= 12 {
		title += strings.Repeat(" ", gap) + st.Dim.Render(info)
	}
	lines := []string{title}
	if s := p.stateLine(l, now); s != "" {
		// It says what to do (start a worker, where): wrapped, not cut.
		for i, part := range wrapText(s, max(w-2, 10)) {
			if i == 3 {
				break
			}
			lines = append(lines, " "+part)
		}
	}

	pct := 0
	if total > 0 {
		pct = final * 100 / total
	}
	done := fmt.Sprintf("%s/%s done (%d%%)", english.Thousands(final), english.Thousands(total), pct)
	barW := max(w-ansi.StringWidth(done)-4, 10)
	lines = append(lines, " "+bar(st, barW, n, total)+"  "+done)

	label := func(s string) string { return st.Label.Render(s) }
	segs := []string{
		label("Sent") + " " + st.Success.Render(english.Thousands(n[store.RecipientSent])),
		label("Failed") + " " + failedStyle(st, n[store.RecipientFailed]).Render(english.Thousands(n[store.RecipientFailed])),
		label("Retrying") + " " + english.Thousands(n[store.RecipientRetrying]),
	}
	if l.live && l.active() {
		segs = append(segs, label("In flight")+" "+english.Thousands(l.inFlight(now)))
	}
	segs = append(segs,
		label("Queued")+" "+english.Thousands(n[store.RecipientQueued]),
		label("Skipped")+" "+english.Thousands(n[store.RecipientSkipped]),
		label("Cancelled")+" "+english.Thousands(n[store.RecipientCancelled]))
	if k := l.send.Redelivered; k > 0 {
		// Delivered again after a fault: each carried a redelivery mark.
		segs = append(segs, label("Possibly twice")+" "+lipgloss.NewStyle().Foreground(st.Warn).Render(english.Thousands(k)))
	}
	lines = append(lines, wrapSegments(segs, "   ", w-1, " ")...)

	lines = append(lines, " "+p.paceLine(l, now))

	// What is left of the height goes to Redis, the workers and the
	// failures, in that order; the failures keep a header and a row.
	room := p.height - len(lines) - 3
	if (l.active() || redisLost(p.c.Redis)) && room >= 1 {
		texts := redisTexts(p.c.Redis)
		text := texts[0]
		for _, t := range texts {
			text = t
			if ansi.StringWidth(t)+3 <= w {
				break
			}
		}
		lines = append(lines, " "+redisDot(st, p.c.Redis)+" "+text)
		room--
	}
	if l.active() && room >= 2 {
		// Workers get at most half of what is left: the failures say why
		// a send goes wrong.
		rows := min((room-3)/2, len(l.workers))
		lines = append(lines, "")
		lines = append(lines, p.workerLines(l, now, max(rows, 0))...)
	}
	return lines
}

func failedStyle(st *Styles, n int) lipgloss.Style {
	if n > 0 {
		return st.Error
	}
	return lipgloss.NewStyle()
}

func redisDot(st *Styles, s queue.Status) string {
	return statusBar{styles: st}.dot(s)
}

// stateLine says what is special about the send now, or "".
func (p *progressPane) stateLine(l *sendLive, now time.Time) string {
	st := p.c.Styles
	warn := lipgloss.NewStyle().Foreground(st.Warn)
	n := l.send.Counts
	switch {
	case p.busy != "":
		return warn.Render(p.busy)
	case l.c.Status == store.StatusCompleted:
		failed, skipped := n[store.RecipientFailed], n[store.RecipientSkipped]
		if failed+skipped == 0 {
			return st.Success.Render("✓ Completed: " + english.Thousands(n[store.RecipientSent]) + " sent")
		}
		return st.Error.Render(fmt.Sprintf("✗ Completed with %s (%s sent) — f lists them, R retries them",
			failedAndSkipped(failed, skipped), english.Thousands(n[store.RecipientSent])))
	case l.c.Status == store.StatusCancelled:
		return st.Dim.Render(fmt.Sprintf("Cancelled%s: %s sent, %s cancelled", byWhom(&l.c), english.Thousands(n[store.RecipientSent]), english.Thousands(n[store.RecipientCancelled])))
	case l.c.Status == store.StatusFailed:
		return st.Error.Render("✗ The send failed as a whole — R retries the recipients that did not get it")
	case redisLost(p.c.Redis) && l.active():
		since := "the last update"
		if !l.at.IsZero() {
			since = l.at.Local().Format("15:04:05")
		}
		return warn.Render(fmt.Sprintf("Redis is unreachable: these numbers are from %s and move again when it is back", since))
	case l.redisErr != "" && l.active():
		return st.Error.Render("✗ " + l.redisErr)
	case l.c.Status == store.StatusPaused:
		return warn.Render("Paused" + byWhom(&l.c) + ": no new deliveries start — r resumes")
	case !l.send.Enqueued && l.c.Status == store.StatusSending:
		return warn.Render("Still being queued — if the queueing was interrupted, r finishes it")
	case l.live && l.c.Status == store.StatusSending && l.aliveWorkers(now) == 0:
		hint := "start `tui --headless-worker` where REDIS_URL reaches " + p.c.Redis.URL + ", or run `tui --worker`"
		if p.c.Worker != nil {
			hint = "the in-process worker starts in a moment"
		}
		return warn.Render("No worker is running, so nothing is delivered: " + hint)
	case l.live && l.active() && outdatedWorker(l, now) != "":
		return st.Error.Render(fmt.Sprintf("✗ %s; `tui campaign retry-failed %d` resends to those it failed", outdatedWorker(l, now), l.c.ID))
	case l.live && l.c.Status == store.StatusSending && noneCanDeliver(l, now):
		reason, _ := queue.NoneCanDeliver(l.workers, l.c.ID, now)
		return warn.Render("No running worker can deliver this send: " + reason + " — fix that where the workers run and restart them; the recipients wait")
	case l.live && l.active() && workerRefusal(l, now) != "":
		return st.Error.Render("✗ " + workerRefusal(l, now))
	case l.live && l.c.Status == store.StatusSending && queueLooksLost(l, now):
		return warn.Render(fmt.Sprintf("%s wait, yet the workers are idle: if Redis lost the queue (a restart without persistence, a flush), r queues them again from the ledger",
			english.Count(l.count(store.RecipientQueued), "recipient", "recipients")))
	case l.live && l.c.Status == store.StatusSending && queue.SlowedSentence(l.workers, l.c.ID, now) != "":
		return warn.Render(queue.SlowedSentence(l.workers, l.c.ID, now))
	case len(l.send.Losses) > 0 && l.active():
		last := l.send.Losses[len(l.send.Losses)-1]
		return warn.Render(fmt.Sprintf("Redis lost the queue at %s; %s re-queued from the ledger (each marked as a possible redelivery)",
			last.At.Local().Format("15:04:05"), english.Thousands(last.Requeued)))
	}
	return ""
}

// byWhom says who last changed the campaign and when, " by ada@host at
// 15:04:05": with several people on one database (SSH, the command line)
// a paused or cancelled send names who did it.
func byWhom(c *store.Campaign) string {
	if c.UpdatedBy == "" {
		return ""
	}
	who := c.UpdatedBy
	if i := strings.Index(who, " (SHA256:"); i > 0 {
		who = who[:i] // an SSH key's fingerprint is for the audit log
	}
	out := " by " + who
	if !c.UpdatedAt.IsZero() {
		out += " at " + c.UpdatedAt.Local().Format("15:04:05")
	}
	return out
}

// idleQueueAfter is how long a send may stand still, with recipients
// waiting and idle workers, before the pane suspects the queue is gone.
const idleQueueAfter = 30 * time.Second

// queueLooksLost reports a send with recipients waiting whose live workers
// hold nothing and deliver nothing: the jobs are not in Redis any more.
func queueLooksLost(l *sendLive, now time.Time) bool {
	return l.send.Enqueued && l.count(store.RecipientQueued) > 0 && l.aliveWorkers(now) > 0 &&
		l.inFlight(now) == 0 && l.rate(now) == 0 && now.Sub(l.roundStart()) > idleQueueAfter &&
		(l.at.IsZero() || now.Sub(l.lastProgress()) > idleQueueAfter)
}

// workerRefusal is what Redis refuses a live worker, or "".
func workerRefusal(l *sendLive, now time.Time) string {
	for _, w := range l.workers {
		if w.RedisErr != "" && w.Alive(now) {
			return "Worker " + w.ID + ": " + w.RedisErr
		}
	}
	return ""
}

// outdatedWorker says which live worker runs a tui that fails this one's
// jobs, or "".
func outdatedWorker(l *sendLive, now time.Time) string {
	if w, ok := queue.Outdated(l.workers, now); ok {
		s := queue.OutdatedSentence(w)
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return ""
}

func noneCanDeliver(l *sendLive, now time.Time) bool {
	_, none := queue.NoneCanDeliver(l.workers, l.c.ID, now)
	return none
}

func (l *sendLive) aliveWorkers(now time.Time) int {
	n := 0
	for _, w := range l.workers {
		if w.Alive(now) {
			n++
		}
	}
	return n
}

// paceLine is the rate, its sparkline, the elapsed time and the ETA.
func (p *progressPane) paceLine(l *sendLive, now time.Time) string {
	st := p.c.Styles
	label := func(s string) string { return st.Label.Render(s) }
	started := l.roundStart()
	end := now
	if l.send.FinishedAt != nil {
		end = *l.send.FinishedAt
	}
	if !l.active() {
		// Over: the time it took, to the tenth below ten seconds, where
		// whole seconds would make the average a rounding of its count.
		took := end.Sub(started)
		elapsed := formatElapsed(took)
		if took > 0 && took < 10*time.Second && !started.IsZero() {
			elapsed = fmt.Sprintf("%.1fs", max(took, 100*time.Millisecond).Seconds())
		}
		return label("Average") + " " + formatRate(l.averageRate()) + "   " + label("Took") + " " + elapsed
	}
	elapsed := label("Elapsed") + " " + formatElapsed(end.Sub(started))
	r := l.rate(now)
	rate := label("Rate") + " " + formatRate(r)
	if l.c.Rate > 0 {
		rate += st.Dim.Render(fmt.Sprintf(" (limit %s/s)", english.Thousands(l.c.Rate)))
	}
	left := l.send.Total - l.final()
	etaText := "—"
	switch {
	case l.c.Status == store.StatusPaused:
		etaText = "paused"
	case eta(left, r) != "":
		etaText = eta(left, r)
	}
	tail := "   " + elapsed + "   " + label("ETA") + " " + etaText
	sparkW := min(p.width-ansi.StringWidth(rate)-ansi.StringWidth(tail)-5, sparkKeep)
	spark := ""
	if sparkW >= 8 {
		spark = "  " + lipgloss.NewStyle().Foreground(st.Accent).Render(sparkline(l.sparkRates(now), sparkW))
	}
	return rate + spark + tail
}

// workerLines lists the workers in up to rows lines, lost ones in the
// warning colour; with no rows, only the count.
func (p *progressPane) workerLines(l *sendLive, now time.Time, rows int) []string {
	st := p.c.Styles
	w := p.width
	if !l.live {
		why := "  waiting for the first report…"
		if redisLost(p.c.Redis) {
			why = "  unknown until Redis answers"
		}
		return []string{" " + st.Header.Render("Workers") + st.Dim.Render(why)}
	}
	alive := l.aliveWorkers(now)
	head := fmt.Sprintf("Workers (%d alive", alive)
	if lost := len(l.workers) - alive; lost > 0 {
		head += fmt.Sprintf(", %d lost", lost)
	}
	head += ")"
	lines := []string{" " + st.Header.Render(head)}
	if len(l.workers) == 0 || rows <= 0 {
		return lines
	}
	workers := append([]queue.WorkerInfo(nil), l.workers...)
	// Lost workers first: when rows are short, they are the news.
	sort.Slice(workers, func(i, j int) bool {
		li, lj := !workers[i].Alive(now), !workers[j].Alive(now)
		if li != lj {
			return li
		}
		return workers[i].ID < workers[j].ID
	})
	room := rows
	showHost := w >= 80
	idW := max(w-2-2-10-2-10-2-15-3, 10)
	if showHost {
		idW -= 14
	}
	// No wider than the longest ID: what is left of the line says why a
	// worker cannot deliver this send.
	longest := 0
	for _, wk := range workers {
		longest = max(longest, ansi.StringWidth(wk.ID))
	}
	idW = max(min(idW, longest), 10)
	hdr := "   " + pad("ID", idW, false)
	if showHost {
		hdr += "  " + pad("HOST", 12, false)
	}
	hdr += "  " + pad("IN FLIGHT", 10, true) + "  " + pad("PROCESSED", 10, true) + "  " + pad("LAST SEEN", 15, false)
	lines = append(lines, st.Dim.Render(hdr))
	warn := lipgloss.NewStyle().Foreground(st.Warn)
	for i, wk := range workers {
		if i == room-1 && len(workers) > room {
			lines = append(lines, st.Dim.Render(fmt.Sprintf("   … and %d more", len(workers)-i)))
			break
		}
		age := now.Sub(wk.LastSeen)
		seen := formatElapsed(age) + " ago"
		if age < time.Second {
			seen = "just now"
		}
		lost := age > queue.LostAfter
		if lost {
			seen = "lost (" + seen + ")"
		}
		row := "   " + pad(wk.ID, idW, false)
		if showHost {
			row += "  " + pad(wk.Host, 12, false)
		}
		row += "  " + pad(english.Thousands(int(wk.InFlight)), 10, true) + "  " + pad(english.Thousands(int(wk.Processed)), 10, true) + "  " + pad(seen, 15, false)
		cannot := wk.Cannot[l.c.ID]
		if cannot != "" {
			row += "  cannot deliver: " + cannot
		}
		if lost || cannot != "" {
			row = warn.Render(row)
		}
		lines = append(lines, row)
	}
	return lines
}

// retryLines say why recipients wait for another try: the newest one left
// to be tried again and its last try's reason, wrapped in up to two lines
// of w cells; nil when none waits.
func (p *progressPane) retryLines(l *sendLive, w int) []string {
	e := l.lastRetry
	if e == nil || l.count(store.RecipientRetrying) == 0 || !l.active() {
		return nil
	}
	st := p.c.Styles
	reason := e.LastError
	if reason == "" {
		reason = "no reason given"
	}
	lines := []string{" " + st.Header.Render("Latest retry") + "  " + e.Address + st.Dim.Render(" after "+english.Count(e.Attempts, "try", "tries"))}
	warn := lipgloss.NewStyle().Foreground(st.Warn)
	for i, part := range wrapText(reason, max(w-4, 10)) {
		if i == 2 {
			break
		}
		lines = append(lines, "   "+warn.Render(part))
	}
	return lines
}

// failureLines is the latest failures, newest first, in room lines, under
// the latest retry's reason when recipients wait for another try.
func (p *progressPane) failureLines(l *sendLive, w, room int) []string {
	st := p.c.Styles
	var lines []string
	if r := p.retryLines(l, w); len(r) > 0 && room >= len(r)+2 {
		lines = append(append(lines, r...), "")
	}
	failed := l.count(store.RecipientFailed)
	if failed == 0 && len(l.failures) == 0 {
		return append(lines, " "+st.Header.Render("Failures")+st.Dim.Render("  none so far"))
	}
	head := " " + st.Header.Render(fmt.Sprintf("Latest failures (%s)", english.Thousands(failed))) + st.Dim.Render("  f lists them all")
	lines = append(lines, head)
	rows := room - 1
	if rows <= 0 {
		return lines
	}
	addrW := 0
	for _, e := range l.failures {
		addrW = max(addrW, ansi.StringWidth(e.Address))
	}
	addrW = min(addrW, max(w/3, 12))
	start := min(p.scroll, max(len(l.failures)-1, 0))
	for i := len(l.failures) - 1 - start; i >= 0 && len(lines) <= rows; i-- {
		e := l.failures[i]
		reason := e.LastError
		if reason == "" {
			reason = "no reason given"
		}
		lines = append(lines, "   "+pad(e.Address, addrW, false)+"  "+
			st.Dim.Render(pad(english.Count(e.Attempts, "try", "tries"), 9, true))+"  "+st.Error.Render(reason))
	}
	return lines
}

// wrapSegments joins segments with sep into lines of at most width cells.
func wrapSegments(segs []string, sep string, width int, indent string) []string {
	var lines []string
	cur := ""
	for _, s := range segs {
		switch {
		case cur == "":
			cur = s
		case ansi.StringWidth(cur)+len(sep)+ansi.StringWidth(s) <= width:
			cur += sep + s
		default:
			lines = append(lines, indent+cur)
			cur = s
		}
	}
	if cur != "" {
		lines = append(lines, indent+cur)
	}
	return lines
}

// tickClock issues the next clock tick.
func tickClock(seq int) tea.Cmd {
	return tea.Tick(clockEvery, func(time.Time) tea.Msg { return clockMsg{seq: seq} })
}
