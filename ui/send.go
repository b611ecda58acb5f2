package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/internal/english"
	"tui/queue"
	"tui/sending"
	"tui/store"
)

// sendFlow is starting a send from the campaign list: the preflight runs in
// a command behind a spinner; its report blocks the send when a message
// cannot be rendered, or asks for an explicit confirmation that names the
// campaign and the count, with Cancel focused; confirming queues the send
// behind a spinner and a counter. Nothing dials Redis before that confirm.
type sendFlow struct {
	c    *Common
	keys SendKeyMap
	run  int // answers of earlier flows are dropped

	stage    sendStage
	campaign store.Campaign
	pf       *sending.Preflight
	blockErr error // the campaign cannot be checked at all (a template that does not parse)
	scroll   int
	focusYes bool

	spin     spinner.Model
	cancel   context.CancelFunc
	progress sending.Progress
	queued   bool // a progress figure arrived: Redis answered and the ledger is written
	hidden   bool // esc hid the queueing; it goes on

	// outcome is how the flow ended, or sendOpen.
	outcome sendOutcome

	width, height int
}

type sendStage int

const (
	sendChecking sendStage = iota
	sendBlocked
	sendConfirming
	sendQueueing
)

type sendOutcome int

const (
	sendOpen sendOutcome = iota
	sendClosed
	sendEdit    // close and open the editor on the campaign
	sendStarted // close and open the progress pane
)

type (
	preflightDoneMsg struct {
		run int
		pf  *sending.Preflight
		err error
	}
	queueProgressMsg struct {
		run int
		p   sending.Progress
		ch  <-chan sending.Progress
	}
	sendStartMsg struct {
		run int
		res sending.Result
		err error
	}
)

func newSendFlow(c *Common, run int, camp store.Campaign) *sendFlow {
	return &sendFlow{
		c: c, keys: DefaultSendKeyMap(), run: run, campaign: camp,
		spin: spinner.New(spinner.WithSpinner(spinner.Dot), spinner.WithStyle(lipgloss.NewStyle().Foreground(c.Styles.Accent))),
	}
}

// start runs the preflight. It reads the database only, but for the
// unsubscribes waiting in Redis of a database that sent unsubscribe links
// (sending.CatchUpUnsubscribes), which it folds first.
func (f *sendFlow) start() tea.Cmd {
	ctx, cancel := context.WithCancel(f.c.Ctx)
	f.cancel = cancel
	svc, id, run := f.c.Sends, f.campaign.ID, f.run
	return tea.Batch(func() tea.Msg {
		defer cancel()
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		_ = svc.CatchUpUnsubscribes(cctx) // Start folds again before the ledger
		ccancel()
		pf, err := svc.Preflight(ctx, id)
		return preflightDoneMsg{run: run, pf: safePreflight(pf), err: err}
	}, f.spin.Tick)
}

// capturing is true while the dialog shows: it takes every key.
func (f *sendFlow) capturing() bool { return !f.hidden }

func (f *sendFlow) setSize(w, h int) { f.width, f.height = w, h }

// ended reports whether the flow is over.
func (f *sendFlow) ended() bool { return f.outcome != sendOpen }

// result is what the ended flow asks of the campaign screen: the editor on
// the campaign, its live pane, or nothing (nil). A send hidden while it
// queued opens nothing: the flash says it started, and w opens it.
func (f *sendFlow) result() tea.Msg {
	switch f.outcome {
	case sendEdit:
		return editCampaignMsg{f.campaign}
	case sendStarted:
		if f.hidden {
			return nil
		}
		c := f.campaign
		c.Status = store.StatusSending
		return watchSendMsg{c}
	}
	return nil
}

// stillQueueing is the error for a second send while this one queues.
func (f *sendFlow) stillQueueing() error {
	return fmt.Errorf("still queueing '%s' (%s/%s): wait for it to finish", f.campaign.Name,
		english.Thousands(f.progress.Enqueued), english.Thousands(f.progress.Total))
}

// Update handles one message and sets outcome when the flow is over.
func (f *sendFlow) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case preflightDoneMsg:
		if msg.run != f.run || f.stage != sendChecking {
			return nil
		}
		return f.checked(msg)
	case queueProgressMsg:
		if msg.run != f.run || f.stage != sendQueueing {
			return nil
		}
		f.progress, f.queued = msg.p, true
		return waitQueueProgress(f.run, msg.ch)
	case sendStartMsg:
		if msg.run != f.run {
			return nil
		}
		return f.finished(msg)
	case spinner.TickMsg:
		if f.stage != sendChecking && f.stage != sendQueueing {
			return nil
		}
		var cmd tea.Cmd
		f.spin, cmd = f.spin.Update(msg)
		return cmd
	case tea.KeyPressMsg:
		if !f.hidden {
			return f.handleKey(msg)
		}
	}
	return nil
}

func (f *sendFlow) checked(msg preflightDoneMsg) tea.Cmd {
	f.cancel = nil
	var te *store.TransitionError
	switch {
	case errors.Is(msg.err, context.Canceled):
		f.outcome = sendClosed
		return nil
	case errors.Is(msg.err, store.ErrNotFound), errors.As(msg.err, &te):
		// The campaign changed under the list: say so, and let the
		// reload that follows show what it is now.
		f.outcome = sendClosed
		return tea.Batch(ReportError(fmt.Errorf("not sent: %w", msg.err)), DataChanged(CampaignData))
	case msg.err != nil:
		f.stage, f.blockErr = sendBlocked, msg.err
		return nil
	}
	f.pf = msg.pf
	f.campaign = msg.pf.Campaign
	if !f.pf.OK() {
		f.stage = sendBlocked
		return nil
	}
	f.stage, f.focusYes = sendConfirming, false
	return nil
}

func (f *sendFlow) handleKey(k tea.KeyPressMsg) tea.Cmd {
	switch f.stage {
	case sendChecking:
		if key.Matches(k, f.keys.Cancel) && f.cancel != nil {
			f.cancel()
			f.outcome = sendClosed
		}
	case sendBlocked:
		switch {
		case key.Matches(k, f.keys.Edit):
			f.outcome = sendEdit
		case key.Matches(k, f.keys.Close):
			f.outcome = sendClosed
		case key.Matches(k, f.keys.Down):
			f.scroll++
		case key.Matches(k, f.keys.Up):
			f.scroll--
		}
		f.clampScroll()
	case sendConfirming:
		switch {
		case key.Matches(k, f.keys.Confirm):
			return f.confirm()
		case key.Matches(k, f.keys.Cancel):
			f.outcome = sendClosed
		case key.Matches(k, f.keys.Press):
			if f.focusYes {
				return f.confirm()
			}
			f.outcome = sendClosed
		case key.Matches(k, f.keys.Toggle):
			f.focusYes = !f.focusYes
		}
	case sendQueueing:
		if key.Matches(k, f.keys.Cancel) {
			f.hidden = true
			return Flash("Queueing " + f.campaign.Name + " goes on in the background")
		}
	}
	return nil
}

// confirm starts the send: only now is Redis dialled. Progress comes
// through a one-slot channel holding the newest figures, read by a command
// that re-arms itself, so a slow screen never slows the enqueue.
func (f *sendFlow) confirm() tea.Cmd {
	f.stage, f.progress, f.queued = sendQueueing, sending.Progress{Total: f.pf.Recipients}, false
	ch := make(chan sending.Progress, 1)
	svc, actor, run := f.c.Sends, f.c.Actor, f.run
	id, version, ctx := f.campaign.ID, f.campaign.Version, f.c.Ctx
	work := func() tea.Msg {
		defer close(ch)
		res, err := svc.Start(ctx, actor, id, version, func(p sending.Progress) { offerLatest(ch, p) })
		return sendStartMsg{run: run, res: res, err: err}
	}
	return tea.Batch(work, waitQueueProgress(run, ch), f.spin.Tick)
}

func waitQueueProgress(run int, ch <-chan sending.Progress) tea.Cmd {
	return func() tea.Msg {
		p, ok := <-ch
		if !ok {
			return nil
		}
		return queueProgressMsg{run: run, p: p, ch: ch}
	}
}

func (f *sendFlow) finished(msg sendStartMsg) tea.Cmd {
	name := "'" + f.campaign.Name + "'"
	var unavailable *queue.UnavailableError
	var conflict *store.ConflictError
	switch {
	case errors.As(msg.err, &unavailable):
		// Nothing changed: the message already names the URL, the cause
		// and what to do.
		f.outcome = sendClosed
		return ReportError(msg.err)
	case errors.As(msg.err, &conflict):
		f.outcome = sendClosed
		return tea.Batch(ReportError(fmt.Errorf("not sent: %w; press s to check it again", msg.err)), DataChanged(CampaignData))
	case msg.err != nil && msg.res.Campaign.ID == 0:
		f.outcome = sendClosed
		return tea.Batch(ReportError(fmt.Errorf("send %s: %w", name, msg.err)), DataChanged(CampaignData))
	case msg.err != nil:
		// The send is recorded but its queueing stopped: the pane shows it,
		// and resuming finishes the queueing.
		f.outcome = sendStarted
		return tea.Batch(ReportError(fmt.Errorf("%w; r in its send pane resumes", msg.err)), DataChanged(CampaignData))
	}
	f.outcome = sendStarted
	text := fmt.Sprintf("Sending %s to %s", name, english.Count(msg.res.Total, "recipient", "recipients"))
	if msg.res.Failed > 0 {
		text += fmt.Sprintf(" (%s could not be rendered and failed)", english.Thousands(msg.res.Failed))
	}
	return tea.Batch(Flash(text), DataChanged(CampaignData))
}

// ShortHelp lists the keys of the current stage.
func (f *sendFlow) ShortHelp() []key.Binding {
	switch f.stage {
	case sendChecking:
		return []key.Binding{withHelp(f.keys.Cancel, "esc", "stop the check")}
	case sendBlocked:
		return []key.Binding{f.keys.Edit, f.keys.Close, f.keys.Down, f.keys.Up}
	case sendConfirming:
		return []key.Binding{f.keys.Toggle, f.keys.Press, f.keys.Confirm, f.keys.Cancel}
	}
	return []key.Binding{withHelp(f.keys.Cancel, "esc", "hide (queueing goes on)")}
}

// withHelp relabels a binding for one context.
func withHelp(b key.Binding, k, desc string) key.Binding {
	b.SetHelp(k, desc)
	return b
}

// dialogWidth is the inner width of the send dialogs: readable on a wide
// terminal, inside the smallest one.
func (f *sendFlow) dialogWidth() int { return max(min(f.width-8, 76), 20) }

// View renders the dialog box; the campaign screen centres it over the list.
func (f *sendFlow) View() string {
	st := f.c.Styles
	inner := f.dialogWidth()
	name := "'" + f.campaign.Name + "'"
	var lines []string
	switch f.stage {
	case sendChecking:
		lines = []string{st.Title.Render("Send " + name), "",
			f.spin.View() + " Checking every message: resolving the audience and rendering each one…", "",
			st.Dim.Render("Nothing is sent and Redis is not contacted until you confirm. esc stops the check.")}
	case sendBlocked:
		lines = f.blockedLines(inner)
	case sendConfirming:
		lines = f.confirmLines(inner)
	case sendQueueing:
		lines = f.queueingLines()
	}
	maxLines := max(f.height-4, 3)
	if len(lines) > maxLines {
		lines = append(lines[:maxLines-1], st.Dim.Render("…"))
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, inner, "…")
	}
	return st.Dialog.Padding(0, 2).Width(inner + 6).Render(strings.Join(lines, "\n"))
}

func (f *sendFlow) facts() []string {
	st := f.c.Styles
	field := func(label, value string) string { return st.Label.Render(fmt.Sprintf("%-11s", label)) + " " + value }
	p := f.pf
	channel := string(f.campaign.Channel)
	switch {
	case f.campaign.From != "":
		channel += st.Dim.Render(" from ") + f.campaign.From
	case f.campaign.URL != "":
		channel += st.Dim.Render(" to ") + f.campaign.URL
	}
	out := []string{
		field("Recipients", english.Thousands(p.Recipients)),
		field("Channel", channel),
	}
	if f.campaign.Channel == store.ChannelMessenger {
		mt := string(f.campaign.EffectiveMessagingType())
		if f.campaign.MessageTag != "" {
			mt += st.Dim.Render(" tag ") + f.campaign.MessageTag
		}
		out = append(out, field("Messaging", mt))
	}
	// Notes wrap under their label rather than being cut.
	note := func(label, text string) []string {
		w := max(f.dialogWidth()-12, 10)
		lines := strings.Split(lipgloss.NewStyle().Width(w).Render(text), "\n")
		for i, l := range lines {
			l = lipgloss.NewStyle().Foreground(st.Warn).Render(l)
			if i == 0 {
				lines[i] = field(label, l)
			} else {
				lines[i] = strings.Repeat(" ", 12) + l
			}
		}
		return lines
	}
	if len(p.LeftOut) > 0 {
		out = append(out, note("Left out", p.LeftOutText())...)
	}
	if text := p.WindowNote(); text != "" {
		out = append(out, note("Window", text)...)
	}
	if t := p.SuppressedText(); t != "" {
		out = append(out, note("Excluded", t)...)
	}
	for _, w := range p.Warnings {
		out = append(out, note("Note", w)...)
	}
	return append(out, field("Duration", p.EstimateText()))
}

func (f *sendFlow) blockedLines(inner int) []string {
	st := f.c.Styles
	lines := []string{st.Error.Render("✗ ") + st.Title.Render("Cannot send '"+f.campaign.Name+"'"), ""}
	if f.blockErr != nil {
		for _, l := range strings.Split(lipgloss.NewStyle().Width(inner).Render(f.blockErr.Error()), "\n") {
			lines = append(lines, st.Error.Render(l))
		}
		return append(append(lines, ""), f.closeRow(inner)...)
	}
	lines = append(lines, f.facts()...)
	lines = append(lines, "")
	for _, l := range strings.Split(lipgloss.NewStyle().Width(inner).Render("Blocked: "+f.pf.Problem()+"."), "\n") {
		lines = append(lines, st.Error.Render(l))
	}
	if len(f.pf.Errors) > 0 {
		heading := "Messages that cannot be rendered"
		if f.pf.RenderErrors < f.pf.ErrorCount {
			heading = "Recipients that block the send"
		}
		lines = append(lines, "", st.Header.Render(fmt.Sprintf("%s (%s)", heading, english.Thousands(f.pf.ErrorCount))))
		errLines := f.errorLines(inner)
		room := f.errorRows()
		end := min(f.scroll+room, len(errLines))
		lines = append(lines, errLines[min(f.scroll, end):end]...)
		switch {
		case len(errLines) > room:
			lines = append(lines, st.Dim.Render(fmt.Sprintf("%s–%s of %s · j/k scroll", english.Thousands(f.scroll+1), english.Thousands(end), english.Thousands(len(errLines)))))
		case f.pf.ErrorCount > len(f.pf.Errors):
			lines = append(lines, st.Dim.Render(fmt.Sprintf("… and %s more", english.Thousands(f.pf.ErrorCount-len(f.pf.Errors)))))
		}
	}
	return append(append(lines, ""), f.closeRow(inner)...)
}

// errorLines lists the errors by cause, wrapped to the dialog: a cause
// that blocks one recipient is the address and the reason; one that
// blocks many says how many, then who.
func (f *sendFlow) errorLines(inner int) []string {
	st := f.c.Styles
	var out []string
	wrap := func(text string, indent int) []string {
		lines := wrapText(text, max(inner-indent, 10))
		for i := range lines {
			lines[i] = strings.Repeat(" ", indent) + lines[i]
		}
		return lines
	}
	for _, g := range f.pf.ErrorGroups() {
		if len(g.Addresses) == 1 {
			first := wrap(g.Addresses[0]+"  "+g.Reason, 2)
			// The address stands out from its reason.
			first[0] = "  " + st.Label.Render(g.Addresses[0]) + strings.TrimPrefix(first[0], "  "+g.Addresses[0])
			out = append(out, first[0])
			for _, l := range first[1:] {
				out = append(out, "  "+l)
			}
			continue
		}
		cause := wrap(g.Cause(), 2)
		for i := range cause {
			cause[i] = st.Error.Render(cause[i])
		}
		out = append(out, cause...)
		out = append(out, wrap(g.Who(3), 4)...)
	}
	return out
}

// errorRows is how many error lines fit in the dialog.
func (f *sendFlow) errorRows() int {
	facts := 3
	if f.pf != nil {
		facts = len(f.facts())
	}
	fixed := 2 + facts + 1 + 2 + 2 + 1 + 2 + 4 // title, facts, problem, header, footer, borders
	return max(f.height-fixed, 3)
}

func (f *sendFlow) clampScroll() {
	if f.pf == nil {
		f.scroll = 0
		return
	}
	f.scroll = max(min(f.scroll, len(f.errorLines(f.dialogWidth()))-f.errorRows()), 0)
}

func (f *sendFlow) closeRow(inner int) []string {
	st := f.c.Styles
	row := lipgloss.PlaceHorizontal(inner, lipgloss.Right, button("Close", true))
	hint := "e edit the campaign · esc close"
	if f.blockErr == nil && f.pf != nil && f.pf.RenderErrors > 0 && ansi.StringWidth(hint) < inner-40 {
		// A missing field is fixed on the contact as often as in the
		// template.
		hint = "e edit the campaign · 2, then e on a contact, adds its fields · esc close"
	}
	if f.blockErr == nil && f.pf != nil && f.pf.Recipients == 0 {
		hint = "e edit its tags · 2 then i imports contacts · esc close"
	}
	return []string{row, lipgloss.PlaceHorizontal(inner, lipgloss.Right, st.Dim.Render(hint))}
}

func (f *sendFlow) confirmLines(inner int) []string {
	st := f.c.Styles
	p := f.pf
	q := fmt.Sprintf("Send '%s' to %s?", f.campaign.Name, english.Count(p.Recipients, "recipient", "recipients"))
	lines := []string{st.Title.Render(q), ""}
	lines = append(lines, f.facts()...)
	if p.Sample != nil {
		lines = append(lines, "", st.Header.Render("First message, to "+p.SampleTo))
		if p.Sample.Subject != "" {
			lines = append(lines, st.Label.Render("Subject")+"  "+p.Sample.Subject)
		}
		lines = append(lines, st.Dim.Render(strings.Repeat("─", min(inner, 40))))
		body := strings.Split(lipgloss.NewStyle().Width(inner).Render(strings.TrimRight(sampleText(p), "\n")), "\n")
		room := max(f.height-len(lines)-10, 2)
		if len(body) > room {
			body = append(body[:room-1], st.Dim.Render("…"))
		}
		lines = append(lines, body...)
	}
	buttons := lipgloss.JoinHorizontal(lipgloss.Top, button("Cancel", !f.focusYes), "  ", button("Send", f.focusYes))
	lines = append(lines, "",
		lipgloss.PlaceHorizontal(inner, lipgloss.Right, buttons),
		lipgloss.PlaceHorizontal(inner, lipgloss.Right, st.Dim.Render("y send · n/esc cancel · tab switch")))
	return lines
}

func (f *sendFlow) queueingLines() []string {
	st := f.c.Styles
	name := f.campaign.Name
	var line string
	switch {
	case f.queued:
		line = fmt.Sprintf("Queueing %s… %s/%s", name, english.Thousands(f.progress.Enqueued), english.Thousands(f.progress.Total))
	case f.c.Redis.State == queue.Dialling || f.c.Redis.State == queue.Idle:
		line = "Connecting to Redis at " + f.c.Redis.URL + "…"
	default:
		line = fmt.Sprintf("Recording %s in the ledger…", english.Count(f.progress.Total, "recipient", "recipients"))
	}
	return []string{st.Title.Render("Sending '" + name + "'"), "", f.spin.View() + " " + line, "",
		st.Dim.Render("esc hides this: queueing goes on, and an interrupted one resumes without doubles.")}
}

// button draws a dialog button; the focused one is bracketed as well as
// highlighted, so it is plain without colour too.
func button(label string, focused bool) string {
	if focused {
		return lipgloss.NewStyle().Reverse(true).Bold(true).Render("[ " + label + " ]")
	}
	return lipgloss.NewStyle().Faint(true).Render("  " + label + "  ")
}
