package ui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/internal/english"
	"tui/internal/termsafe"
	"tui/queue"
	"tui/sending"
	"tui/store"
)

// How long a flash message stays in the status bar. Errors stay longer and
// are kept in the list that ! opens.
const (
	flashInfoFor  = 3 * time.Second
	flashErrorFor = 6 * time.Second
)

// textTyper is implemented by screens that know whether the focus is on a
// text input: when it is not (a selector, a read-only view, a dialog of
// buttons), ? opens the help even though the screen has the keys.
type textTyper interface {
	TypingText() bool
}

// unsavedChanger is implemented by screens that hold a form: q then asks
// before quitting instead of throwing the person's typing away.
type unsavedChanger interface {
	HasUnsavedChanges() bool
}

type overlay int

const (
	overlayNone overlay = iota
	overlayHelp
	overlayErrors
	overlayConfirm
)

// The App's chrome: one tab line at the top, the short help and the status
// bar at the bottom. Screens get the rest.
const (
	headerLines = 1
	footerLines = 2
)

type flashState struct {
	text string
	err  bool
	seq  int
}

type flashExpiredMsg struct{ seq int }

type countsMsg struct {
	req    int
	counts store.Counts
	err    error
}

// App is the root model of one session: it owns the screens, routes keys,
// and draws the tab line, the footer and the overlays.
type App struct {
	c       *Common
	keys    AppKeyMap
	help    help.Model
	status  statusBar
	screens []Screen
	titles  []string
	active  int

	campaigns   *CampaignsScreen
	contacts    *ContactsScreen
	suppression *SuppressionScreen

	overlay    overlay
	confirm    *Confirm
	helpScroll int // the first line of the help box's body

	flash     flashState
	errs      []loggedError
	counts    *store.Counts
	countsReq int

	// The session's subscriptions: the Redis indicator's states and the
	// hub's send updates, read by commands that re-arm themselves until
	// Close cancels the session.
	cancel      context.CancelFunc
	redisCh     <-chan queue.Status
	unsubscribe func()
	sub         *sending.Subscription
	closeOnce   bool

	worker   WorkerSnapshot
	draining bool // quitting: the in-process worker finishes its deliveries

	// pid and host tell this process's worker from others in the sends'
	// worker lists.
	pid  int
	host string

	// msgLines is the height of the message area above the footer, which
	// shows a flash the status bar would cut; the screens get the rest.
	msgLines int

	width, height int
}

// NewApp builds the root model of one session.
func NewApp(c *Common) *App {
	parent := c.Ctx
	if parent == nil {
		parent = context.Background()
	}
	var cancel context.CancelFunc
	c.Ctx, cancel = context.WithCancel(parent)
	a := &App{
		cancel:      cancel,
		c:           c,
		keys:        DefaultAppKeyMap(),
		help:        newHelp(c.Styles),
		status:      newStatusBar(c),
		campaigns:   NewCampaignsScreen(c),
		contacts:    NewContactsScreen(c),
		suppression: NewSuppressionScreen(c),
	}
	a.pid = os.Getpid()
	a.host, _ = os.Hostname()
	a.screens = []Screen{a.campaigns, a.contacts, a.suppression}
	a.titles = []string{"Campaigns", "Contacts", "Suppression"}
	return a
}

// Init starts every screen's first load and the counts, and subscribes to
// the Redis connection's state, the hub's send updates and the in-process
// worker's figures. Subscribing dials nothing.
func (a *App) Init() tea.Cmd {
	cmds := []tea.Cmd{tea.RequestBackgroundColor, a.loadCounts()}
	for _, s := range a.screens {
		cmds = append(cmds, s.Init())
	}
	if a.c.Conn != nil && a.redisCh == nil {
		a.redisCh, a.unsubscribe = a.c.Conn.Subscribe()
		cmds = append(cmds, waitRedisStatus(a.c.Ctx, a.redisCh))
	}
	if a.c.Hub != nil && a.sub == nil {
		a.sub = a.c.Hub.Subscribe()
		cmds = append(cmds, waitSendUpdates(a.c.Ctx, a.sub, time.Time{}))
	}
	if a.c.Worker != nil {
		a.worker = a.c.Worker.Snapshot()
		cmds = append(cmds, tickWorker(a.c.Worker))
	}
	return tea.Batch(cmds...)
}

// Close ends the session's subscriptions and stops its commands. The
// program's owner calls it once the program has returned.
func (a *App) Close() {
	if a.closeOnce {
		return
	}
	a.closeOnce = true
	a.cancel()
	if a.unsubscribe != nil {
		a.unsubscribe()
	}
	if a.sub != nil {
		a.sub.Close()
	}
}

func (a *App) loadCounts() tea.Cmd {
	a.countsReq++
	req, st := a.countsReq, a.c.Store
	return func() tea.Msg {
		c, err := st.Counts()
		return countsMsg{req: req, counts: c, err: err}
	}
}

// Update routes one message: sizes and data changes go to every screen,
// keys to the overlay or the active screen unless they are global.
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m, cmd := a.update(msg)
	// A message that opens or closes the message area moves the screens'
	// bottom edge.
	if n := len(a.messageArea()); n != a.msgLines {
		a.msgLines = n
		a.resize(a.width, a.height)
	}
	return m, cmd
}

func (a *App) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.resize(msg.Width, msg.Height)
		return a, nil
	case tea.KeyPressMsg:
		return a, a.handleKey(msg)
	case tea.PasteMsg:
		// Pasted text belongs to whatever has the focus, never to a screen
		// in the background.
		if a.overlay != overlayNone {
			return a, nil
		}
		return a, a.toActive(msg)
	case tea.KeyReleaseMsg:
		return a, nil
	case tea.BackgroundColorMsg:
		a.c.Styles.SetDark(msg.IsDark())
		a.help = newHelp(a.c.Styles)
		return a, nil
	case FlashMsg:
		return a, a.showFlash(msg.Text, msg.Err)
	case ErrorMsg:
		return a, a.showError(msg.Err)
	case flashExpiredMsg:
		if msg.seq == a.flash.seq {
			a.flash = flashState{seq: a.flash.seq}
		}
		return a, nil
	case countsMsg:
		if msg.req != a.countsReq {
			return a, nil
		}
		if msg.err != nil {
			return a, a.showError(fmt.Errorf("read the totals: %w", msg.err))
		}
		a.counts = &msg.counts
		return a, nil
	case DataChangedMsg:
		return a, tea.Batch(a.loadCounts(), a.broadcast(msg))
	case redisStatusMsg:
		a.c.Redis = msg.status
		return a, waitRedisStatus(a.c.Ctx, a.redisCh)
	case sendUpdatesMsg:
		if a.c.Worker != nil {
			a.worker = a.c.Worker.Snapshot()
		}
		return a, tea.Batch(a.broadcast(msg), waitSendUpdates(a.c.Ctx, a.sub, time.Now()))
	case workerTickMsg:
		failed := msg.snap.Phase == WorkerFailed && a.worker.Phase != WorkerFailed
		a.worker = msg.snap
		if failed {
			return a, tea.Batch(tickWorker(a.c.Worker), a.showError(fmt.Errorf(
				"the in-process worker could not start: %s; deliveries wait for `tui --headless-worker`", msg.snap.Err)))
		}
		return a, tickWorker(a.c.Worker)
	case quitDrainMsg:
		return a, a.drainAndQuit()
	case workerDrainedMsg:
		return a, tea.Quit
	}
	// Async results carry request ids; each screen keeps what is its own.
	return a, a.broadcast(msg)
}

func (a *App) broadcast(msg tea.Msg) tea.Cmd {
	cmds := make([]tea.Cmd, 0, len(a.screens))
	for i, s := range a.screens {
		var cmd tea.Cmd
		a.screens[i], cmd = s.Update(msg)
		cmds = append(cmds, cmd)
	}
	return tea.Batch(cmds...)
}

func (a *App) handleKey(k tea.KeyPressMsg) tea.Cmd {
	if key.Matches(k, a.keys.ForceQuit) {
		return tea.Quit
	}
	if a.draining {
		// Quitting already: the worker is finishing its deliveries.
		return nil
	}
	switch a.overlay {
	case overlayConfirm:
		closed, cmd := a.confirm.Update(k)
		if closed {
			a.overlay, a.confirm = overlayNone, nil
		}
		return cmd
	case overlayHelp:
		switch k.String() {
		case "j", "down":
			a.helpScroll++
		case "k", "up":
			a.helpScroll--
		case "pgdown", "space", "f":
			a.helpScroll += max(a.height/2, 1)
		case "pgup", "b":
			a.helpScroll -= max(a.height/2, 1)
		case "g", "home":
			a.helpScroll = 0
		case "G", "end":
			a.helpScroll = 1 << 20
		default:
			if key.Matches(k, a.keys.Close) || key.Matches(k, a.keys.HelpAnywhere) {
				a.overlay = overlayNone
			}
		}
		return nil
	case overlayErrors:
		if key.Matches(k, a.keys.Close) {
			a.overlay = overlayNone
		}
		return nil
	}
	scr := a.screens[a.active]
	if key.Matches(k, a.keys.HelpAnywhere) {
		a.openHelp()
		return nil
	}
	if scr.Capturing() {
		if t, ok := scr.(textTyper); ok && !t.TypingText() && key.Matches(k, a.keys.Help) {
			a.openHelp()
			return nil
		}
		return a.toActive(k)
	}
	switch {
	case key.Matches(k, a.keys.Quit):
		if u, ok := scr.(unsavedChanger); ok && u.HasUnsavedChanges() {
			a.confirm = NewConfirm(a.c, "Quit tui?",
				"You have unsaved changes in "+strings.Join(scr.Breadcrumb(), " › ")+". Quitting throws them away.",
				"Quit", tea.Quit)
			a.overlay = overlayConfirm
			return nil
		}
		if a.c.WorkerShared {
			return tea.Quit // the server's worker goes on for everyone
		}
		if a.workerDelivering() {
			title := "Quit? This process's worker stops"
			if n := a.otherWorkers(); n > 0 {
				title = fmt.Sprintf("Sending continues on %s. Quit?", english.Count(n, "other worker", "other workers"))
			}
			a.confirm = NewConfirm(a.c, title, a.quitWorkerBody(),
				"Quit", func() tea.Msg { return quitDrainMsg{} })
			a.overlay = overlayConfirm
			return nil
		}
		if a.c.Worker != nil {
			return a.drainAndQuit()
		}
		return tea.Quit
	case key.Matches(k, a.keys.Help):
		a.openHelp()
	case key.Matches(k, a.keys.Errors):
		a.overlay = overlayErrors
	case key.Matches(k, a.keys.Screen1):
		a.active = 0
	case key.Matches(k, a.keys.Screen2):
		a.active = 1
	case key.Matches(k, a.keys.Screen3):
		a.active = 2
	case key.Matches(k, a.keys.Next):
		a.active = (a.active + 1) % len(a.screens)
	case key.Matches(k, a.keys.Prev):
		a.active = (a.active + len(a.screens) - 1) % len(a.screens)
	default:
		return a.toActive(k)
	}
	return nil
}

func (a *App) openHelp() {
	a.overlay, a.helpScroll = overlayHelp, 0
}

// workerDelivering reports whether quitting would stop deliveries: the
// in-process worker has some in flight, or a send it serves is going on.
func (a *App) workerDelivering() bool {
	if a.c.Worker == nil {
		return false
	}
	snap := a.c.Worker.Snapshot()
	a.worker = snap
	return snap.Phase == WorkerRunning && (snap.InFlight > 0 || a.campaigns.sends.anySending())
}

func (a *App) quitWorkerBody() string {
	n := a.worker.InFlight
	grace := a.c.Worker.Grace().Round(time.Second)
	body := fmt.Sprintf("This process's worker has %s in flight.", english.Count(int(n), "delivery", "deliveries"))
	if n == 0 {
		body = "A send is going on and this process's worker delivers it."
	}
	body += fmt.Sprintf(" Quitting stops it: deliveries under way finish (up to %s)", grace)
	if a.otherWorkers() > 0 {
		return body + ", and the other workers deliver the rest."
	}
	return body + ". No other worker is running, so the rest waits in Redis until `tui --headless-worker` or the next `tui --worker` starts."
}

// otherWorkers counts the live workers of the sends in progress that are
// not this process's own: those keep delivering after it quits.
func (a *App) otherWorkers() int {
	now := a.c.Now()
	seen := map[string]bool{}
	for _, l := range a.campaigns.sends.byID {
		if !l.active() {
			continue
		}
		for _, w := range l.workers {
			if w.Alive(now) && !(w.PID == a.pid && w.Host == a.host) {
				seen[w.ID] = true
			}
		}
	}
	return len(seen)
}

// drainAndQuit stops the in-process worker, letting its deliveries finish,
// and quits once it has.
func (a *App) drainAndQuit() tea.Cmd {
	if a.c.Worker == nil {
		return tea.Quit
	}
	a.draining = true
	a.worker = a.c.Worker.Snapshot()
	text := "Stopping the in-process worker…"
	if a.worker.InFlight > 0 {
		text = fmt.Sprintf("Stopping the in-process worker: finishing %s…", english.Count(int(a.worker.InFlight), "delivery", "deliveries"))
	}
	return tea.Batch(a.showFlash(text, false), drainWorker(a.c.Worker))
}

func (a *App) toActive(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	a.screens[a.active], cmd = a.screens[a.active].Update(msg)
	return cmd
}

func (a *App) showFlash(text string, isErr bool) tea.Cmd {
	text = termsafe.Text(text) // errors quote names, files, providers
	a.flash = flashState{text: text, err: isErr, seq: a.flash.seq + 1}
	d := flashInfoFor
	if isErr {
		d = flashErrorFor
		a.errs = append(a.errs, loggedError{at: a.c.Now(), text: text})
		if len(a.errs) > maxLoggedErrors {
			a.errs = a.errs[len(a.errs)-maxLoggedErrors:]
		}
	}
	if isErr && len(a.messageArea()) > 0 {
		d = readingTime(text)
	}
	seq := a.flash.seq
	return tea.Tick(d, func(time.Time) tea.Msg { return flashExpiredMsg{seq: seq} })
}

// readingTime is how long an error in the message area stays: long enough
// to read its cause and what to do at a slow pace (three words a second),
// never less than a flash, and at most half a minute; ! keeps it after.
func readingTime(text string) time.Duration {
	d := flashErrorFor + time.Duration(len(strings.Fields(text)))*time.Second/3
	return min(d, 30*time.Second)
}

func (a *App) showError(err error) tea.Cmd {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) {
		// What the screen showed is gone, most likely deleted by another
		// session: say so and bring every screen up to date.
		return tea.Batch(a.showFlash("Reloading: "+err.Error()+" (deleted in another session?)", true), DataChanged(AllData))
	}
	return a.showFlash(err.Error(), true)
}

func (a *App) resize(w, h int) {
	a.width, a.height = max(w, 0), max(h, 0)
	a.c.Width, a.c.Height = a.width, a.height
	a.help.SetWidth(a.width)
	sh := max(a.height-headerLines-footerLines-a.msgLines, 0)
	for _, s := range a.screens {
		s.SetSize(a.width, sh)
	}
}

// View draws the whole terminal. Below the smallest usable size it shows
// one centred line saying so instead of a broken layout.
func (a *App) View() tea.View {
	// Names, fields and errors from people, files and workers are all over
	// the frame and in the title: the terminal must show them, not obey
	// them (an OSC 52 in a campaign name would set the clipboard of whoever
	// selects it, over SSH too).
	v := tea.NewView(termsafe.Frame(a.render()))
	v.AltScreen = true
	v.WindowTitle = termsafe.Title("tui — " + strings.Join(a.screens[a.active].Breadcrumb(), " › "))
	return v
}

func (a *App) render() string {
	w, h := a.width, a.height
	if w <= 0 || h <= 0 {
		return ""
	}
	if w < MinWidth || h < MinHeight {
		return tooSmall(w, h)
	}
	area := a.messageArea()
	sh := h - headerLines - footerLines - len(area)
	scr := a.screens[a.active]
	body := fitLines(scr.View(), w, sh)
	switch a.overlay {
	case overlayHelp:
		var box string
		box, a.helpScroll = renderFullHelp(a.c.Styles, w, sh, a.helpSections(), a.helpScroll)
		body = Overlay(w, sh, body, box)
	case overlayErrors:
		body = Overlay(w, sh, body, renderErrorList(a.c.Styles, w, sh, a.errs))
	case overlayConfirm:
		body = Overlay(w, sh, body, a.confirm.View())
	}
	body = fitLines(body, w, sh)

	var b strings.Builder
	b.WriteString(a.tabLine(w))
	b.WriteByte('\n')
	b.WriteString(body)
	b.WriteByte('\n')
	for _, l := range area {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString(ansi.Truncate(a.shortHelp(), w, "…"))
	b.WriteByte('\n')
	in := a.statusInfo()
	if len(area) > 0 {
		in.flash = "" // it is in full above
	}
	b.WriteString(a.status.View(w, in))
	return b.String()
}

func (a *App) statusInfo() statusInfo {
	helpKey := "?"
	if scr := a.screens[a.active]; scr.Capturing() {
		if t, ok := scr.(textTyper); !ok || t.TypingText() {
			helpKey = "f1"
		}
	}
	return statusInfo{
		redisWhy: a.redisWhy(),
		helpKey:  helpKey,
		crumbs:   a.screens[a.active].Breadcrumb(),
		flash:    a.flash.text,
		flashErr: a.flash.err,
		redis:    a.c.Redis,
		worker:   a.workerTexts(),
		counts:   a.counts,
	}
}

// redisWhy explains a connection to Redis while nothing is sending: the
// app follows a send cancelled within the last minute (FollowCancelledFor),
// whose deliveries under way still report. A fresh start does this too,
// so the person hears why Redis was dialled.
func (a *App) redisWhy() string {
	if a.c.Redis.State == queue.Idle {
		return ""
	}
	now := a.c.Now()
	why := ""
	for _, l := range a.campaigns.sends.byID {
		if l.active() {
			return "" // a send in progress is reason enough
		}
		if at := l.send.CancelledAt; at != nil && now.Sub(*at) < sending.FollowCancelledFor && why == "" {
			why = fmt.Sprintf(" for '%s', cancelled %s ago", l.c.Name, formatElapsed(now.Sub(*at)))
		}
	}
	return why
}

// messageArea is the flash the status bar would cut, wrapped in full above
// the footer: a dim rule, then the message, and for an error how to put it
// away. It is empty when the status bar shows the whole flash.
func (a *App) messageArea() []string {
	w, h := a.width, a.height
	if a.flash.text == "" || w < MinWidth || h < MinHeight || a.status.flashFits(w, a.statusInfo()) {
		return nil
	}
	st := a.c.Styles
	mark, style := "✓ ", st.Success
	if a.flash.err {
		mark, style = "✗ ", st.Error
	}
	// At most a third of the screen, so what the message is about stays
	// in view.
	maxText := max(min(5, (h-headerLines-footerLines)/3), 1)
	text := a.flash.text
	hint := ""
	if a.flash.err {
		hint = "! lists recent errors"
	}
	lines := strings.Split(lipgloss.NewStyle().Width(w-2).Render(text), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	if len(lines) > maxText {
		lines = lines[:maxText]
		lines[maxText-1] = ansi.Truncate(lines[maxText-1], max(w-4, 1), "") + "…"
		hint = "! shows all of it"
	}
	out := []string{st.Dim.Render(strings.Repeat("─", w))}
	for i, l := range lines {
		prefix := "  "
		if i == 0 {
			prefix = mark
		}
		out = append(out, style.Render(prefix+l))
	}
	if hint != "" {
		last := out[len(out)-1]
		if ansi.StringWidth(last)+3+ansi.StringWidth(hint) <= w {
			out[len(out)-1] = last + "   " + st.Dim.Render(hint)
		} else {
			out = append(out, "  "+st.Dim.Render(hint))
		}
	}
	return out
}

func (a *App) workerTexts() []string {
	if a.c.Worker == nil {
		return nil
	}
	return workerTexts(a.worker)
}

func (a *App) tabLine(w int) string {
	st := a.c.Styles
	var parts []string
	for i, t := range a.titles {
		label := fmt.Sprintf("%d %s", i+1, t)
		if a.counts != nil {
			switch i {
			case 0:
				label += " (" + english.Thousands(a.counts.Campaigns) + ")"
			case 1:
				label += " (" + english.Thousands(a.counts.Contacts) + ")"
			case 2:
				label += " (" + english.Thousands(a.counts.Suppressed) + ")"
			}
		}
		if i == a.active {
			parts = append(parts, lipgloss.NewStyle().Bold(true).Reverse(true).Padding(0, 1).Render(label))
		} else {
			parts = append(parts, st.Dim.Padding(0, 1).Render(label))
		}
	}
	line := st.Title.Render(" tui ") + " " + strings.Join(parts, " ")
	return ansi.Truncate(line, w, "…")
}

func (a *App) shortHelp() string {
	switch a.overlay {
	case overlayConfirm:
		return a.help.ShortHelpView(a.confirm.ShortHelp())
	case overlayHelp:
		return a.help.ShortHelpView([]key.Binding{a.keys.Close,
			key.NewBinding(key.WithKeys("j"), key.WithHelp("↓/j ↑/k", "scroll"))})
	case overlayErrors:
		return a.help.ShortHelpView([]key.Binding{a.keys.Close})
	}
	scr := a.screens[a.active]
	bindings := append([]key.Binding(nil), scr.ShortHelp()...)
	switch t, ok := scr.(textTyper); {
	case !scr.Capturing():
		bindings = append(bindings, a.keys.Help, a.keys.Quit)
	case ok && !t.TypingText():
		bindings = append(bindings, a.keys.Help)
	default:
		// ? is a character in a text input: F1 opens the help there.
		bindings = append(bindings, key.NewBinding(key.WithKeys("f1"), key.WithHelp("f1", "help")))
	}
	return a.help.ShortHelpView(bindings)
}

func (a *App) helpSections() []helpSection {
	scr := a.screens[a.active]
	return []helpSection{
		{title: strings.Join(scr.Breadcrumb(), " › "), groups: scr.FullHelp()},
		{title: "Everywhere", groups: [][]key.Binding{
			{a.keys.Screen1, a.keys.Screen2, a.keys.Screen3, a.keys.Next, a.keys.Prev},
			{a.keys.Help, a.keys.HelpAnywhere, a.keys.Errors, a.keys.Quit, a.keys.ForceQuit},
		}},
	}
}

// fitLines makes s exactly h lines of at most w cells, so no screen can
// push the footer off the terminal or wrap.
func fitLines(s string, w, h int) string {
	if h <= 0 {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		if ansi.StringWidth(l) > w {
			lines[i] = ansi.Truncate(l, w, "")
		}
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// tooSmall is the whole screen below MinWidth×MinHeight: one centred line,
// broken in two only when the terminal is narrower than the sentence.
func tooSmall(w, h int) string {
	need := fmt.Sprintf("need %d×%d, have %d×%d", MinWidth, MinHeight, w, h)
	msg := "Terminal too small: " + need
	if ansi.StringWidth(msg) > w {
		msg = "Terminal too small:\n" + need
	}
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "…")
	}
	return fitLines(Center(w, h, lipgloss.JoinVertical(lipgloss.Center, lines...)), w, h)
}
