package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"tui/internal/english"
	"tui/store"
)

// SuppressionScreen lists the addresses that must never receive anything.
// The list is small next to the contacts (people who unsubscribed or
// bounced), so it is loaded whole in a command and filtered in memory.
type SuppressionScreen struct {
	c             *Common
	keys          SuppressionKeyMap
	width, height int

	all     []store.Suppression
	shown   []int // indexes into all that pass the filter
	loaded  bool
	loadReq int
	// focusAddr is put under the cursor when the next load brings it.
	focusAddr string

	filter       string
	filtering    bool
	filterInput  textinput.Model
	filterBefore string

	list scrollList // over shown

	form   *miniForm
	dialog *Confirm
}

type (
	suppressionLoadedMsg struct {
		req  int
		list []store.Suppression
		err  error
	}
	suppressionActionMsg struct {
		flash string
		focus string
		err   error
	}
)

// NewSuppressionScreen builds the suppression list screen.
func NewSuppressionScreen(c *Common) *SuppressionScreen {
	s := &SuppressionScreen{c: c, keys: DefaultSuppressionKeyMap()}
	s.filterInput = newFieldInput("address, reason or who added it")
	return s
}

// Init loads the list.
func (s *SuppressionScreen) Init() tea.Cmd { return s.load() }

func (s *SuppressionScreen) load() tea.Cmd {
	s.loadReq++
	req, st := s.loadReq, s.c.Store
	return func() tea.Msg {
		list, err := st.Suppressions()
		for i := range list {
			list[i].Reason, list[i].By = safeLine(list[i].Reason), safeLine(list[i].By)
		}
		return suppressionLoadedMsg{req: req, list: list, err: err}
	}
}

// SetSize gives the screen the space above the App's footer.
func (s *SuppressionScreen) SetSize(width, height int) {
	s.width, s.height = max(width, 0), max(height, 0)
	s.sizeList()
}

// Capturing is true while the filter input, the form or a dialog has the
// focus.
func (s *SuppressionScreen) Capturing() bool { return s.filtering || s.form != nil || s.dialog != nil }

// Breadcrumb says where the person is.
func (s *SuppressionScreen) Breadcrumb() []string {
	if s.form != nil {
		return []string{"Suppression list", "Add"}
	}
	return []string{"Suppression list"}
}

// ShortHelp lists the keys of whatever has the focus.
func (s *SuppressionScreen) ShortHelp() []key.Binding {
	switch {
	case s.dialog != nil:
		return s.dialog.ShortHelp()
	case s.form != nil:
		return s.form.ShortHelp()
	case s.filtering:
		return []key.Binding{
			key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
			key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "undo")),
		}
	}
	k := s.keys
	if s.loaded && len(s.all) == 0 {
		return []key.Binding{k.Add}
	}
	return []key.Binding{k.Down, k.Up, k.Filter, k.Add, k.Remove, k.Back}
}

// FullHelp groups every key of the screen.
func (s *SuppressionScreen) FullHelp() [][]key.Binding {
	k := s.keys
	return [][]key.Binding{
		k.Bindings(),
		{k.Filter, k.Back, k.Reload},
		{k.Add, k.Remove},
	}
}

func (s *SuppressionScreen) visibleRows() int {
	n := s.height - 2
	if s.filtering {
		n--
	}
	return max(n, 1)
}

// Update handles one message.
func (s *SuppressionScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case suppressionLoadedMsg:
		if msg.req != s.loadReq {
			return s, nil
		}
		if msg.err != nil {
			return s, ReportError(fmt.Errorf("%w (press r to try again)", msg.err))
		}
		s.all, s.loaded = msg.list, true
		s.applyFilter()
		s.sizeList()
		if s.focusAddr != "" {
			for i, idx := range s.shown {
				if s.all[idx].Address == s.focusAddr {
					s.list.selectRow(i)
				}
			}
			s.focusAddr = ""
		}
		return s, nil
	case suppressionActionMsg:
		if msg.err != nil {
			if s.form != nil {
				s.form.busy = ""
				s.form.err = msg.err.Error()
			}
			return s, ReportError(msg.err)
		}
		s.form = nil
		s.focusAddr = msg.focus
		return s, tea.Batch(Flash(msg.flash), DataChanged(SuppressionData))
	case DataChangedMsg:
		// Campaign edits do not touch the list; anything else may (a
		// contact suppressed on the contacts screen, another session).
		if msg.What == CampaignData {
			return s, nil
		}
		return s, s.load()
	case tea.KeyPressMsg:
		return s, s.handleKey(msg)
	}
	var cmd tea.Cmd
	switch {
	case s.form != nil:
		_, cmd = s.form.Update(msg)
	case s.filtering:
		s.filterInput, cmd = s.filterInput.Update(msg)
	}
	return s, cmd
}

func (s *SuppressionScreen) handleKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case s.dialog != nil:
		closed, cmd := s.dialog.Update(k)
		if closed {
			s.dialog = nil
		}
		return cmd
	case s.form != nil:
		return s.handleFormKey(k)
	case s.filtering:
		return s.handleFilterKey(k)
	}
	km := s.keys
	s.sizeList()
	if s.list.handleKey(k, km.NavKeyMap) {
		return nil
	}
	switch {
	case key.Matches(k, km.Filter):
		s.filtering = true
		s.filterBefore = s.filter
		s.filterInput.SetValue(s.filter)
		s.filterInput.CursorEnd()
		s.sizeList()
		return s.filterInput.Focus()
	case key.Matches(k, km.Add):
		s.form = newMiniForm(s.c, "Suppress an address",
			"Nothing is ever sent to it again, whatever campaign includes it.",
			newFormField("Address", "ann@example.com or +31 6 1234 5678", "an email address or a phone number").withCheck(checkAddress),
			newFormField("Reason", "unsubscribed, bounced, complained…", "optional; shown in this list"),
		).askDiscard("Discard this address?")
		return s.form.focusField(0)
	case key.Matches(k, km.Remove):
		s.confirmRemove()
	case key.Matches(k, km.Reload):
		return s.load()
	case key.Matches(k, km.Back):
		if s.filter != "" {
			s.filter = ""
			s.applyFilter()
		}
	}
	s.sizeList()
	return nil
}

func (s *SuppressionScreen) handleFilterKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "enter":
		s.filtering = false
		s.filterInput.Blur()
		s.sizeList()
		return nil
	case "esc":
		s.filtering = false
		s.filterInput.Blur()
		s.filter = s.filterBefore
		s.applyFilter()
		s.sizeList()
		return nil
	}
	var cmd tea.Cmd
	s.filterInput, cmd = s.filterInput.Update(k)
	if v := strings.TrimSpace(s.filterInput.Value()); v != s.filter {
		s.filter = v
		s.list.reset()
		s.applyFilter()
	}
	s.sizeList()
	return cmd
}

func (s *SuppressionScreen) handleFormKey(k tea.KeyPressMsg) tea.Cmd {
	action, cmd := s.form.Update(k)
	switch action {
	case formCancel:
		s.form = nil
		return nil
	case formSubmit:
		addr, err := store.NormalizeAddress(s.form.value(0))
		if err != nil {
			return s.form.fail(0, err.Error()+"; nothing was saved")
		}
		reason := s.form.value(1)
		flash := "Suppressed " + addr
		for _, sup := range s.all {
			if sup.Address == addr {
				flash = "Updated the reason for " + addr
			}
		}
		s.form.busy = "Saving…"
		st, actor := s.c.Store, s.c.Actor
		return func() tea.Msg {
			_, err := st.Suppress(actor, addr, reason)
			return suppressionActionMsg{flash: flash, focus: addr, err: err}
		}
	}
	return cmd
}

func (s *SuppressionScreen) confirmRemove() {
	sup, ok := s.current()
	if !ok {
		return
	}
	body := "Campaigns that include " + sup.Address + " will send to it again."
	if sup.Reason != "" {
		body += " It was suppressed because: " + sup.Reason + "."
	}
	st, actor, addr := s.c.Store, s.c.Actor, sup.Address
	s.dialog = NewConfirm(s.c, "Remove "+addr+" from the suppression list?", body, "Remove", func() tea.Msg {
		err := st.Unsuppress(actor, addr)
		return suppressionActionMsg{flash: "Unsuppressed " + addr, err: err}
	})
}

func (s *SuppressionScreen) current() (store.Suppression, bool) {
	if i := s.list.cursor; i >= 0 && i < len(s.shown) {
		return s.all[s.shown[i]], true
	}
	return store.Suppression{}, false
}

func (s *SuppressionScreen) applyFilter() {
	s.shown = s.shown[:0]
	q := strings.ToLower(s.filter)
	for i, sup := range s.all {
		if q == "" || strings.Contains(sup.Address, q) || strings.Contains(strings.ToLower(sup.Reason), q) ||
			strings.Contains(strings.ToLower(suppressionSource(sup)), q) {
			s.shown = append(s.shown, i)
		}
	}
}

// sizeList tells the list its rows and the room for them, which the
// filter input takes a line of.
func (s *SuppressionScreen) sizeList() { s.list.resize(len(s.shown), s.visibleRows()) }

// View renders the screen in its width×height.
func (s *SuppressionScreen) View() string {
	w, h := s.width, s.height
	if w <= 0 || h <= 0 {
		return ""
	}
	var body string
	switch {
	case s.form != nil:
		s.form.maxLines = h
		body = s.form.View(min(w, 100))
	default:
		body = s.listView()
	}
	if s.dialog != nil {
		return Overlay(w, h, fitBlock(body, w, h), s.dialog.View())
	}
	return fitBlock(body, w, h)
}

func (s *SuppressionScreen) listView() string {
	st := s.c.Styles
	w := s.width
	title := st.Title.Render("Suppression list")
	if !s.loaded {
		return title + "\n" + st.Dim.Render("Loading…")
	}
	if len(s.all) == 0 {
		lines := []string{title, ""}
		lines = append(lines, wrapText("Addresses here never receive anything, whatever campaign includes them — "+st.Key.Render("a")+" add one", w)...)
		lines = append(lines, "")
		lines = append(lines, wrapText(st.Dim.Render("One-click unsubscribes and bounced addresses arrive here by themselves; add complaints by hand. On the contacts screen, s suppresses the contact under the cursor."), w)...)
		return strings.Join(lines, "\n")
	}
	info := english.Count(len(s.all), "address", "addresses")
	if s.filter != "" {
		info = fmt.Sprintf("%s of %s · /%s", english.Thousands(len(s.shown)), info, s.filter)
	}
	lines := []string{cutLine(title+st.Dim.Render(" · "+info), w)}

	now := s.c.Now()
	cols := []tableColumn{
		{title: "ADDRESS", min: 16, priority: 0},
		{title: "REASON", min: 10, priority: 1},
		{title: "WHEN", min: 8, want: 10, priority: 2},
		{title: "SOURCE", min: 6, priority: 3},
	}
	vis := s.visibleRows()
	first, end := s.list.window(vis)
	for _, idx := range s.shown[first:end] {
		sup := s.all[idx]
		cols[0].want = max(cols[0].want, min(len(sup.Address), 40))
		cols[1].want = max(cols[1].want, min(len(sup.Reason), 40))
		cols[3].want = max(cols[3].want, min(len(suppressionSource(sup)), 24))
	}
	widths := fitColumns(cols, w-2)
	lines = append(lines, st.Header.Render(padLine("  "+renderCells([]string{"ADDRESS", "REASON", "WHEN", "SOURCE"}, widths), w)))
	if len(s.shown) == 0 {
		lines = append(lines, "", st.Dim.Render(cutLine("No address matches /"+s.filter+" — esc clears the filter", w)))
	}
	for i := first; i < end; i++ {
		sup := s.all[s.shown[i]]
		line := padLine("  "+renderCells([]string{sup.Address, sup.Reason, agoText(now, sup.At), suppressionSource(sup)}, widths), w)
		if i == s.list.cursor {
			line = st.Selected.Render(line)
		}
		lines = append(lines, line)
	}
	if s.filtering {
		for len(lines) < vis+2 {
			lines = append(lines, "")
		}
		s.filterInput.SetWidth(max(w-4, 1))
		lines = append(lines, cutLine(st.Key.Render("/ ")+s.filterInput.View(), w))
	}
	return strings.Join(lines, "\n")
}

// suppressionSource says where an entry came from: an unsubscribe link, a
// bounce (with the campaign), or the person who added it.
func suppressionSource(sup store.Suppression) string {
	camp := ""
	if sup.Campaign != 0 {
		camp = fmt.Sprintf(" · campaign %d", sup.Campaign)
	}
	switch sup.Source {
	case store.SourceUnsubscribe:
		return "unsubscribe" + camp
	case store.SourceBounce:
		return "bounce" + camp
	}
	if sup.By == "" {
		return "by hand"
	}
	return "by " + sup.By
}
