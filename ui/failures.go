package ui

import (
	"errors"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/internal/english"
	"tui/sending"
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

	list scrollList // over visible

	// The filter keeps the rows whose address or reason holds the query;
	// visible indexes rows.
	filter      textinput.Model
	filtering   bool
	filterQuery string
	visible     []int
	detail      bool // the selected failure's whole reason, in a box

	confirm   *Confirm
	askOnLoad bool // R was pressed before the list was read
	retrying  bool
	spin      spinner.Model
	progress  sending.Progress
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
		p  sending.Progress
		ch <-chan sending.Progress
	}
	retryDoneMsg struct {
		id  uint64
		res sending.Result
		err error
	}
	// retryAskMsg opens the retry question once the count is known.
	retryAskMsg struct{ id uint64 }
)

func newFailuresView(c *Common, board *sendBoard, id uint64, name string) *failuresView {
	f := textinput.New()
	f.Prompt = "/ "
	f.Placeholder = "address or reason"
	fst := textinput.DefaultStyles(true)
	fst.Cursor.Blink = false
	fst.Focused.Prompt = c.Styles.Key
	fst.Focused.Placeholder = c.Styles.Dim
	f.SetStyles(fst)
	return &failuresView{c: c, keys: DefaultFailuresKeyMap(), board: board, id: id, name: name, filter: f,
		spin: spinner.New(spinner.WithSpinner(spinner.Dot), spinner.WithStyle(lipgloss.NewStyle().Foreground(c.Styles.Accent)))}
}

// applyFilter recomputes the visible rows, keeping the selected one when
// it still matches.
func (v *failuresView) applyFilter() {
	var keep = -1
	if c := v.list.cursor; c >= 0 && c < len(v.visible) {
		keep = v.visible[c]
	}
	v.visible = v.visible[:0]
	cursor := 0
	for i, e := range v.rows {
		if v.filterQuery == "" || strings.Contains(strings.ToLower(e.Address+"\x00"+e.LastError), v.filterQuery) {
			if i == keep {
				cursor = len(v.visible)
			}
			v.visible = append(v.visible, i)
		}
	}
	v.list.resize(len(v.visible), v.rowsShown())
	v.list.selectRow(cursor)
}

// selected is the failure under the cursor, or nil.
func (v *failuresView) selected() *store.LedgerEntry {
	if c := v.list.cursor; c >= 0 && c < len(v.visible) {
		return &v.rows[v.visible[c]]
	}
	return nil
}

func (v *failuresView) setSize(w, h int) {
	v.width, v.height = w, h
	v.list.setHeight(v.rowsShown())
}

// capturing is true while the filter input, the detail box or a dialog
// has the keys.
func (v *failuresView) capturing() bool { return v.confirm != nil || v.filtering || v.detail }

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
		v.applyFilter()
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
			english.Count(msg.res.Added+msg.res.Already, "recipient", "recipients"), v.name, msg.res.Round)), DataChanged(CampaignData))
	case spinner.TickMsg:
		if !v.retrying {
			return nil
		}
		var cmd tea.Cmd
		v.spin, cmd = v.spin.Update(msg)
		return cmd
	case tea.KeyPressMsg:
		return v.handleKey(msg)
	case tea.PasteMsg:
		if v.filtering {
			return v.updateFilter(msg)
		}
	}
	return nil
}

func (v *failuresView) updateFilter(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	v.filter, cmd = v.filter.Update(msg)
	if q := strings.ToLower(strings.TrimSpace(v.filter.Value())); q != v.filterQuery {
		v.filterQuery = q
		v.applyFilter()
	}
	return cmd
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
	if v.detail {
		switch {
		case key.Matches(k, v.keys.Copy):
			return v.copySelected()
		case key.Matches(k, v.keys.Back), key.Matches(k, v.keys.Open), k.String() == "q":
			v.detail = false
		case key.Matches(k, v.keys.Down):
			v.list.move(1)
		case key.Matches(k, v.keys.Up):
			v.list.move(-1)
		}
		return nil
	}
	if v.filtering {
		switch k.String() {
		case "enter":
			v.filtering = false
			v.filter.Blur()
			return nil
		case "esc":
			v.filtering = false
			v.filter.Blur()
			v.filter.SetValue("")
			v.filterQuery = ""
			v.applyFilter()
			return nil
		case "up", "down":
			if k.String() == "up" {
				v.list.move(-1)
			} else {
				v.list.move(1)
			}
			return nil
		}
		return v.updateFilter(k)
	}
	if v.list.handleKey(k, v.keys.NavKeyMap) {
		return nil
	}
	switch {
	case key.Matches(k, v.keys.Back):
		if v.filterQuery != "" {
			// esc undoes the innermost thing: the filter, then the view.
			v.filter.SetValue("")
			v.filterQuery = ""
			v.applyFilter()
			return nil
		}
		v.closed = true
	case key.Matches(k, v.keys.Filter):
		v.filtering = true
		return v.filter.Focus()
	case key.Matches(k, v.keys.Open):
		if v.selected() != nil {
			v.detail = true
		}
		return nil
	case key.Matches(k, v.keys.Retry):
		return v.openConfirm()
	case key.Matches(k, v.keys.Copy):
		return v.copySelected()
	}
	return nil
}

func (v *failuresView) copySelected() tea.Cmd {
	e := v.selected()
	if e == nil {
		return nil
	}
	// Tab-separated, so it pastes into a spreadsheet as three cells.
	return copyToClipboard(fmt.Sprintf("%s\t%d\t%s", e.Address, e.Attempts, e.LastError), e.Address+" and its reason")
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
		body = fmt.Sprintf("%s of them failed and %s were skipped. ", english.Thousands(v.failed), english.Thousands(v.skipped)) + body
	}
	id := v.id
	v.confirm = NewConfirm(v.c, fmt.Sprintf("Retry %s of '%s'?", english.Count(n, "failed recipient", "failed recipients"), v.name),
		body, "Retry", func() tea.Msg { return retryStartMsg{id: id} })
	return nil
}

type retryStartMsg struct{ id uint64 }

// retry runs RetryFailed in a command, its progress through a one-slot
// channel read by a command that re-arms itself.
func (v *failuresView) retry() tea.Cmd {
	v.retrying, v.progress = true, sending.Progress{}
	ch := make(chan sending.Progress, 1)
	svc, actor, id, ctx := v.c.Sends, v.c.Actor, v.id, v.c.Ctx
	work := func() tea.Msg {
		defer close(ch)
		res, err := svc.RetryFailed(ctx, actor, id, func(p sending.Progress) { offerLatest(ch, p) })
		return retryDoneMsg{id: id, res: res, err: err}
	}
	return tea.Batch(work, waitRetryProgress(id, ch), v.spin.Tick)
}

func waitRetryProgress(id uint64, ch <-chan sending.Progress) tea.Cmd {
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

// ShortHelp lists the view's keys.
func (v *failuresView) ShortHelp() []key.Binding {
	if v.confirm != nil {
		return v.confirm.ShortHelp()
	}
	if v.detail {
		return []key.Binding{v.keys.Back, v.keys.Copy, v.keys.Down, v.keys.Up}
	}
	if v.filtering {
		return []key.Binding{
			key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply")),
			key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear")),
		}
	}
	h := []key.Binding{}
	if len(v.rows) > 0 {
		h = append(h, v.keys.Open, v.keys.Filter)
	}
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
	return [][]key.Binding{k.Bindings(), {k.Open, k.Filter, k.Retry, k.Copy, k.Back}}
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
		title += v.spin.View() + fmt.Sprintf(" Queueing them again… %s/%s", english.Thousands(v.progress.Enqueued), english.Thousands(v.progress.Total))
	case !v.loaded:
		title += st.Dim.Render("reading the ledger…")
	default:
		title += st.Dim.Render(english.Count(v.failed, "failed recipient", "failed recipients"))
		if v.skipped > 0 {
			title += st.Dim.Render(" · " + english.Thousands(v.skipped) + " skipped")
		}
	}
	switch {
	case v.filtering:
		title = v.filter.View() + "  " + st.Dim.Render(fmt.Sprintf("%s of %s match", english.Thousands(len(v.visible)), english.Thousands(len(v.rows))))
	case v.filterQuery != "":
		title += lipgloss.NewStyle().Foreground(st.Accent).Render(fmt.Sprintf("  filter %q: %s", v.filterQuery, english.Thousands(len(v.visible)))) + st.Dim.Render("  esc clears")
	}
	lines := []string{ansi.Truncate(title, w, "…")}
	var out string
	switch {
	case v.loaded && len(v.rows) == 0:
		msg := "No recipient failed — esc goes back to the send."
		if v.skipped > 0 {
			msg = fmt.Sprintf("No recipient failed; %s were skipped — R queues them again, esc goes back.", english.Thousands(v.skipped))
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
		first, end := v.list.window(v.rowsShown())
		if len(v.visible) == 0 && v.filterQuery != "" {
			lines = append(lines, "", st.Dim.Render(ansi.Truncate(fmt.Sprintf("  No failure matches %q — esc clears the filter", v.filterQuery), w, "…")))
		}
		for i := first; i < end; i++ {
			e := v.rows[v.visible[i]]
			reason := e.LastError
			if reason == "" {
				reason = "no reason given"
			}
			row := pad(e.Address, addrW, false) + "  " + pad(english.Thousands(e.Attempts), triesW, true) + "  " + reason
			if i == v.list.cursor {
				lines = append(lines, st.Selected.Render(pad(ansi.Truncate("▌ "+row, w, "…"), w, false)))
			} else {
				lines = append(lines, ansi.Truncate("  "+row, w, "…"))
			}
		}
		foot := ""
		if len(v.visible) > 0 {
			of := english.Thousands(v.failed)
			if v.filterQuery != "" {
				of = english.Thousands(len(v.visible)) + " matching"
			}
			foot = fmt.Sprintf("%s–%s of %s · enter shows the whole reason", english.Thousands(first+1), english.Thousands(end), of)
			if v.truncated {
				foot += fmt.Sprintf(" (the first %s are listed; `tui campaign export %d FILE.csv` writes all)", english.Thousands(len(v.rows)), v.id)
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
	if v.detail {
		if e := v.selected(); e != nil {
			out = Overlay(w, h, fitLines(out, w, h), v.detailView(e, w, h))
		}
	}
	return out
}

// detailView is one failure in a box: the whole reason, wrapped, with
// what else the ledger knows of the recipient.
func (v *failuresView) detailView(e *store.LedgerEntry, w, h int) string {
	st := v.c.Styles
	inner := max(min(w-8, 76), 20)
	label := func(s string) string { return st.Label.Render(fmt.Sprintf("%-9s", s)) }
	reason := e.LastError
	if reason == "" {
		reason = "no reason given"
	}
	lines := []string{
		st.Title.Render(ansi.Truncate(e.Address, inner, "…")),
		"",
		// Tries add up over the rounds a retry starts: a webhook's
		// attempt says the same number.
		label("Tries") + " " + english.Thousands(e.Attempts) + st.Dim.Render(fmt.Sprintf("  over every round; the last in round %d", e.Round)),
		label("Last try") + " " + e.UpdatedAt.Local().Format("2006-01-02 15:04:05"),
		label("Reason"),
	}
	room := max(h-len(lines)-6, 3)
	wrapped := wrapText(reason, inner)
	if len(wrapped) > room {
		wrapped = append(wrapped[:room-1], st.Dim.Render("… y copies all of it"))
	}
	lines = append(lines, wrapped...)
	lines = append(lines, "", st.Dim.Render(ansi.Truncate(fmt.Sprintf("%s of %s · ↑/↓ the next · y copies · esc closes", english.Thousands(v.list.cursor+1), english.Thousands(len(v.visible))), inner, "…")))
	return st.Dialog.Render(strings.Join(lines, "\n"))
}
