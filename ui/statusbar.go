package ui

import (
	"os"
	"path/filepath"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/internal/english"
	"tui/queue"
	"tui/store"
)

// statusBar is the footer's last line: where you are, the flash message,
// the Redis indicator, the database, the counts and how to get help. It is
// one line at every width: segments shorten, then drop, in a fixed order.
type statusBar struct {
	styles *Styles
	dbPath string // with the home directory shown as ~
}

func newStatusBar(c *Common) statusBar {
	path := ""
	if c.Store != nil {
		path = tildePath(c.Store.Path())
	}
	return statusBar{styles: c.Styles, dbPath: path}
}

// tildePath shows the home directory as ~ so the path fits and leaks less
// about the machine over a shared screen.
func tildePath(p string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" || home == "/" {
		return p
	}
	if p == home {
		return "~"
	}
	if rel, ok := strings.CutPrefix(p, home+string(filepath.Separator)); ok {
		return "~" + string(filepath.Separator) + rel
	}
	return p
}

// statusInfo is what one frame of the status bar shows.
type statusInfo struct {
	crumbs   []string
	flash    string
	flashErr bool
	redis    queue.Status
	worker   []string      // the in-process worker, most detailed first; nil without one
	counts   *store.Counts // nil until loaded
	// helpKey is the key that opens the help now: f1 while a text field
	// takes ? as a character.
	helpKey string
	// redisWhy says why Redis is dialled when no send is going on, e.g.
	// the late deliveries of a send cancelled a moment ago.
	redisWhy string
}

func (b statusBar) dot(s queue.Status) string {
	c := b.styles.Muted
	switch s.State {
	case queue.Connected:
		c = b.styles.Ok
	case queue.Dialling, queue.Reconnecting:
		c = b.styles.Warn
	case queue.Unavailable:
		c = b.styles.Bad
	}
	return lipgloss.NewStyle().Foreground(c).Render("●")
}

func formatCounts(c store.Counts) string {
	return english.Count(c.Campaigns, "campaign", "campaigns") + " · " + english.Count(c.Contacts, "contact", "contacts")
}

// View renders the bar in exactly one line of at most width cells.
func (b statusBar) View(width int, in statusInfo) string {
	line, _ := b.render(width, in)
	return line
}

// flashFits reports whether the bar shows the whole flash at this width;
// when it would cut it, the App shows the message above the footer.
func (b statusBar) flashFits(width int, in statusInfo) bool {
	_, cut := b.render(width, in)
	return !cut
}

// render lays the bar out and says whether the flash had to be cut.
func (b statusBar) render(width int, in statusInfo) (string, bool) {
	if width <= 0 {
		return "", in.flash != ""
	}
	cut := false
	st := b.styles
	sep := st.Dim.Render(" │ ")
	const sepW = 3

	crumb := strings.Join(in.crumbs, " › ")
	redis := redisTexts(in.redis)
	if in.redisWhy != "" {
		// Why Redis is dialled matters more than where it is: every text
		// says why before the texts that do not.
		plain := redisTexts(queue.Status{State: in.redis.State, RTT: in.redis.RTT, Attempt: in.redis.Attempt, NextTry: in.redis.NextTry, Err: in.redis.Err})
		var why []string
		for _, t := range plain {
			why = append(why, t+in.redisWhy)
		}
		redis = append(why, redis...)
	}
	worker := in.worker
	// The first Redis text adds the URL: it is the first thing to go.
	redisLevel, workerLevel := 0, 0
	showPath, showCounts := b.dbPath != "", in.counts != nil
	flash := in.flash
	helpKey := in.helpKey
	if helpKey == "" {
		helpKey = "?"
	}
	helpText := helpKey + " help"

	fixed := func(rl, wl int) int {
		w := sepW + 2 + ansi.StringWidth(redis[rl]) + sepW + len(helpText)
		if len(worker) > 0 {
			w += sepW + ansi.StringWidth(worker[wl])
		}
		if showCounts {
			w += sepW + ansi.StringWidth(formatCounts(*in.counts))
		}
		if showPath {
			w += sepW + ansi.StringWidth(b.dbPath)
		}
		if flash != "" {
			w += sepW + 2
		}
		return w
	}
	crumbW, flashW := ansi.StringWidth(crumb), ansi.StringWidth(flash)
	// What the breadcrumb and the flash need at least before anything else
	// gives way.
	minCrumb, minFlash := min(crumbW, 24), min(flashW, 24)
	roomy := func() bool { return fixed(redisLevel, workerLevel)+crumbW+flashW <= width }
	fits := func() bool { return fixed(redisLevel, workerLevel)+minCrumb+minFlash <= width }
	// Give up the least important things first: the path, the counts,
	// then where Redis is. The Redis indicator keeps its sentence for as
	// long as anything else can yield.
	if !fits() || !roomy() {
		showPath = false
	}
	if !fits() || !roomy() {
		showCounts = false
	}
	if len(redis) > 1 && (!fits() || !roomy()) {
		redisLevel = 1
	}
	// A flash lasts seconds and says what just happened: while it shows,
	// the worker and the Redis indicator shorten rather than the message.
	tight := func() bool { return !fits() || fixed(redisLevel, workerLevel)+minCrumb+flashW > width }
	for workerLevel < len(worker)-1 && tight() {
		workerLevel++
	}
	for redisLevel < len(redis)-1 && tight() {
		redisLevel++
	}
	room := width - fixed(redisLevel, workerLevel)
	if crumbW+flashW > room {
		// The flash is read once, within seconds, so it keeps all it can;
		// the breadcrumb loses its start: the innermost place matters most.
		fw := max(room-min(crumbW, 12), minFlash)
		if flash != "" && fw < flashW {
			flash = ansi.Truncate(flash, max(fw, 1), "…")
			flashW = ansi.StringWidth(flash)
			cut = true
		}
		if cw := room - flashW; cw < crumbW && cw > 1 {
			crumb = "…" + ansi.TruncateLeft(crumb, crumbW-cw+1, "")
		}
	}

	parts := []string{st.Breadcrumb.Render(crumb)}
	if flash != "" {
		mark, style := "✓ ", st.Success
		if in.flashErr {
			mark, style = "✗ ", st.Error
		}
		parts = append(parts, style.Render(mark+flash))
	}
	parts = append(parts, b.dot(in.redis)+" "+redis[redisLevel])
	if len(worker) > 0 {
		parts = append(parts, worker[workerLevel])
	}
	if showPath {
		parts = append(parts, st.Dim.Render(b.dbPath))
	}
	if showCounts {
		parts = append(parts, st.Dim.Render(formatCounts(*in.counts)))
	}
	parts = append(parts, st.Key.Render(helpKey)+" help")
	line := strings.Join(parts, sep)
	if ansi.StringWidth(line) > width && in.flash != "" {
		cut = true
	}
	return ansi.Truncate(line, width, "…"), cut
}
