package ui

import (
	"errors"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/campaign"
	"tui/store"
)

// maxFailuresListed bounds the failures held in memory: the count stays
// exact, and `tui campaign export` writes every one.
const maxFailuresListed = 10_000

// failuresView lists every failed recipient of a campaign's send, read from
// the ledger: who, how many tries, and the provider's reason. R queues
// them again in a new round, after a confirmation that names the count.
type failuresView struct {
	c     *Common
	keys  FailuresKeyMap
	board *sendBoard
	id    uint64
	name  string

	width, height int

	req       int
	loading   bool
	loaded    bool
	loadedAt  int // the failed count the list was read at, to notice new ones
	rows      []store.LedgerEntry
	failed    int
	skipped   int
	truncated bool

	cursor, offset int

	confirm   *Confirm
	askOnLoad bool // R was pressed before the list was read
	retrying  bool
	spin      spinner.Model
	progress  campaign.Progress
	closed    bool
}

type (
	failuresLoadedMsg struct {
		id      uint64
		req     int
		rows    []store.LedgerEntry
		failed  int
		skipped int
		err     error
	}
	retryProgressMsg struct {
		id uint64
		p  campaign.Progress
		ch <-chan campaign.Progress
	}
	retryDoneMsg struct {
		id  uint64
		res campaign.Result
		err error
	}
	// retryAskMsg opens the retry question once the count is known.
	retryAskMsg struct{ id uint64 }
)

func newFailuresView(c *Common, board *sendBoard, id uint64, name string) *failuresView {
	return &failuresView{c: c, keys: DefaultFailuresKeyMap(), board: board, id: id, name: name,
		spin: spinner.New(spinner.WithSpinner(spinner.Dot), spinner.WithStyle(lipgloss.NewStyle().Foreground(c.Styles.Accent)))}
}

func (v *failuresView) setSize(w, h int) {
	v.width, v.height = w, h
	v.clamp()
}

func (v *failuresView) capturing() bool { return v.confirm != nil }

// load reads the failed recipients in a command.
func (v *failuresView) load() tea.Cmd {
	v.req++
	v.loading = true
	st, id, req := v.c.Store, v.id, v.req
	return func() tea.Msg {
		msg := failuresLoadedMsg{id: id, req: req}
		msg.err = st.ForEachLedger(id, func(e store.LedgerEntry) error {
			switch e.State {
			case store.RecipientFailed:
				msg.failed++
				if len(msg.rows) < maxFailuresListed {
					msg.rows = append(msg.rows, safeLedger(e))
				}
			case store.RecipientSkipped:
				msg.skipped++
			}
			return nil
		})
		return msg
	}
}

// askRetry opens the retry question once the list is read.
func (v *failuresView) askRetry() tea.Cmd {
	id := v.id
	return func() tea.Msg { return retryAskMsg{id: id} }
}

// Update handles one message for the view.
func (v *failuresView) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case failuresLoadedMsg:
		if msg.id != v.id || msg.req != v.req {
			return nil
		}
		v.loading = false
		if msg.err != nil {
			return ReportError(fmt.Errorf("read the failures of '%s': %w", v.name, msg.err))
		}
		v.loaded = true
		v.rows, v.failed, v.skipped = msg.rows, msg.failed, msg.skipped
		v.truncated = msg.failed > len(msg.rows)
		v.loadedAt = msg.failed
		v.clamp()
		if v.askOnLoad {
			v.askOnLoad = false
			return v.openConfirm()
		}
		return nil
	case retryAskMsg:
		if msg.id != v.id {
			return nil
		}
		if !v.loaded {
			// The count is not known yet: ask once the list is in.
			v.askOnLoad = true
			return nil
		}
		return v.openConfirm()
	case retryStartMsg:
		if msg.id != v.id || v.retrying {
			return nil
		}
		return v.retry()
	case retryProgressMsg:
		if msg.id != v.id || !v.retrying {
			return nil
		}
		v.progress = msg.p
		return waitRetryProgress(v.id, msg.ch)
	case retryDoneMsg:
		if msg.id != v.id {
			return nil
		}
		v.retrying = false
		if msg.err != nil {
			return ReportError(fmt.Errorf("retry the failures of '%s': %w", v.name, msg.err))
		}
		v.board.setCampaign(msg.res.Campaign)
		v.closed = true
		return tea.Batch(Flash(fmt.Sprintf("Queued again %s of '%s' (round %d)",
			countNoun(msg.res.Added+msg.res.Already, "recipient", "recipients"), v.name, msg.res.Round)), DataChanged("campaigns"))
	case spinner.TickMsg:
		if !v.retrying {
			return nil
		}
		var cmd tea.Cmd
		v.spin, cmd = v.spin.Update(msg)
		return cmd
	case tea.KeyPressMsg:
		return v.handleKey(msg)
	}
	return nil
}

// refresh reads the list again when the send reports new failures; at most
// one read runs at a time.
func (v *failuresView) refresh() tea.Cmd {
	l := v.board.get(v.id)
	if l == nil || v.loading || v.retrying || l.count(store.RecipientFailed) == v.loadedAt {
		return nil
	}
	return v.load()
}

func (v *failuresView) handleKey(k tea.KeyPressMsg) tea.Cmd {
	if v.confirm != nil {
		closed, cmd := v.confirm.Update(k)
		if closed {
			v.confirm = nil
		}
		return cmd
	}
	if v.retrying {
		return nil
	}
	page := v.rowsShown()
	switch {
	case key.Matches(k, v.keys.Back):
		v.closed = true
	case key.Matches(k, v.keys.Down):
		v.cursor++
	case key.Matches(k, v.keys.Up):
		v.cursor--
	case key.Matches(k, v.keys.PageDown):
		v.cursor += page
		v.offset += page
	case key.Matches(k, v.keys.PageUp):
		v.cursor -= page
		v.offset -= page
	case key.Matches(k, v.keys.Top):
		v.cursor = 0
	case key.Matches(k, v.keys.Bottom):
		v.cursor = len(v.rows) - 1
	case key.Matches(k, v.keys.Retry):
		return v.openConfirm()
	case key.Matches(k, v.keys.Copy):
		if v.cursor < 0 || v.cursor >= len(v.rows) {
			return nil
		}
		e := v.rows[v.cursor]
		// Tab-separated, so it pastes into a spreadsheet as three cells;
		// the screen cuts long reasons, the copy keeps all of it.
		return copyToClipboard(fmt.Sprintf("%s\t%d\t%s", e.Address, e.Attempts, e.LastError), e.Address+" and its reason")
	}
	v.clamp()
	return nil
}

func (v *failuresView) openConfirm() tea.Cmd {
	n := v.failed + v.skipped
	if n == 0 {
		return Flash("Nothing to retry: no recipient of '" + v.name + "' failed")
	}
	if v.c.Sends == nil {
		return ReportError(errors.New("this session cannot send: retrying needs the send service"))
	}
	body := "They are queued again in a new round; everyone else keeps their outcome. Redis is dialled if it is not connected."
	if v.skipped > 0 {
		body = fmt.Sprintf("%s of them failed and %s were skipped. ", thousands(v.failed), thousands(v.skipped)) + body
	}
	id := v.id
	v.confirm = NewConfirm(v.c, fmt.Sprintf("Retry %s of '%s'?", countNoun(n, "failed recipient", "failed recipients"), v.name),
		body, "Retry", func() tea.Msg { return retryStartMsg{id: id} })
	return nil
}

type retryStartMsg struct{ id uint64 }

// retry runs RetryFailed in a command, its progress through a one-slot
// channel read by a command that re-arms itself.
func (v *failuresView) retry() tea.Cmd {
	v.retrying, v.progress = true, campaign.Progress{}
	ch := make(chan campaign.Progress, 1)
	svc, actor, id, ctx := v.c.Sends, v.c.Actor, v.id, v.c.Ctx
	work := func() tea.Msg {
		defer close(ch)
		res, err := svc.RetryFailed(ctx, actor, id, func(p campaign.Progress) { offerLatest(ch, p) })
		return retryDoneMsg{id: id, res: res, err: err}
	}
	return tea.Batch(work, waitRetryProgress(id, ch), v.spin.Tick)
}

func waitRetryProgress(id uint64, ch <-chan campaign.Progress) tea.Cmd {
	return func() tea.Msg {
		p, ok := <-ch
		if !ok {
			return nil
		}
		return retryProgressMsg{id: id, p: p, ch: ch}
	}
}

// rowsShown is how many failures fit: the pane minus the title, the
// column header and the footer.
func (v *failuresView) rowsShown() int { return max(v.height-4, 1) }

func (v *failuresView) clamp() {
	v.cursor = max(min(v.cursor, len(v.rows)-1), 0)
	rows := v.rowsShown()
	if v.cursor < v.offset {
		v.offset = v.cursor
	}
	if v.cursor >= v.offset+rows {
		v.offset = v.cursor - rows + 1
	}
	v.offset = max(min(v.offset, len(v.rows)-rows), 0)
}

// ShortHelp lists the view's keys.
func (v *failuresView) ShortHelp() []key.Binding {
	if v.confirm != nil {
		return v.confirm.ShortHelp()
	}
	h := []key.Binding{}
	if v.failed+v.skipped > 0 {
		h = append(h, v.keys.Retry)
	}
	if len(v.rows) > 0 {
		h = append(h, v.keys.Copy)
	}
	return append(h, v.keys.Back, v.keys.Down, v.keys.Up, v.keys.PageDown)
}

// FullHelp lists every key of the view.
func (v *failuresView) FullHelp() [][]key.Binding {
	k := v.keys
	return [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom, k.PageUp, k.PageDown}, {k.Retry, k.Copy, k.Back}}
}

// View draws the list.
func (v *failuresView) View() string {
	w, h := v.width, v.height
	if w <= 0 || h <= 0 {
		return ""
	}
	st := v.c.Styles
	title := st.Title.Render("Failures of '"+v.name+"'") + "  "
	switch {
	case v.retrying:
		title += v.spin.View() + fmt.Sprintf(" Queueing them again… %s/%s", thousands(v.progress.Enqueued), thousands(v.progress.Total))
	case !v.loaded:
		title += st.Dim.Render("reading the ledger…")
	default:
		title += st.Dim.Render(countNoun(v.failed, "failed recipient", "failed recipients"))
		if v.skipped > 0 {
			title += st.Dim.Render(" · " + thousands(v.skipped) + " skipped")
		}
	}
	lines := []string{ansi.Truncate(title, w, "…")}
	var out string
	switch {
	case v.loaded && len(v.rows) == 0:
		msg := "No recipient failed — esc goes back to the send."
		if v.skipped > 0 {
			msg = fmt.Sprintf("No recipient failed; %s were skipped — R queues them again, esc goes back.", thousands(v.skipped))
		}
		lines = append(lines, "", st.Dim.Render(msg))
		out = strings.Join(lines, "\n")
	default:
		addrW := 10
		for _, e := range v.rows {
			addrW = max(addrW, ansi.StringWidth(e.Address))
		}
		addrW = min(addrW, max(w/3, 12))
		const triesW = 8
		hdr := "  " + pad("RECIPIENT", addrW, false) + "  " + pad("ATTEMPTS", triesW, true) + "  REASON"
		lines = append(lines, st.Header.Render(ansi.Truncate(hdr, w, "")))
		end := min(v.offset+v.rowsShown(), len(v.rows))
		for i := v.offset; i < end; i++ {
			e := v.rows[i]
			reason := e.LastError
			if reason == "" {
				reason = "no reason given"
			}
			row := pad(e.Address, addrW, false) + "  " + pad(thousands(e.Attempts), triesW, true) + "  " + reason
			if i == v.cursor {
				lines = append(lines, st.Selected.Render(pad(ansi.Truncate("▌ "+row, w, "…"), w, false)))
			} else {
				lines = append(lines, ansi.Truncate("  "+row, w, "…"))
			}
		}
		foot := ""
		if len(v.rows) > 0 {
			foot = fmt.Sprintf("%s–%s of %s", thousands(v.offset+1), thousands(end), thousands(v.failed))
			if v.truncated {
				foot += fmt.Sprintf(" (the first %s are listed; `tui campaign export %d FILE.csv` writes all)", thousands(len(v.rows)), v.id)
			}
			if v.failed+v.skipped > 0 {
				foot += " · R retries them"
			}
		}
		for len(lines) < h-1 {
			lines = append(lines, "")
		}
		lines = append(lines, st.Dim.Render(ansi.Truncate(foot, w, "…")))
		out = strings.Join(lines, "\n")
	}
	if v.confirm != nil {
		out = Overlay(w, h, fitLines(out, w, h), v.confirm.View())
	}
	return out
}
