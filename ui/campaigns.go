package ui

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/internal/english"
	"tui/sending"
	"tui/store"
)

// The campaign list, its detail pane and the editor it opens. It stays fast
// with tens of thousands of campaigns: rows carry a precomputed lower-case
// search string, View draws only the rows on screen, and audience sizes are
// counted in the background for what is visible.

// wideList is the width from which the detail pane sits beside the list.
const wideList = 120

// firstPage is how many campaigns the first read brings: more than any
// screen shows, so the list is usable while the rest loads.
const firstPage = 200

// maxSizeJobs bounds concurrent audience counts: each one is a read
// transaction that may walk a million contacts.
const maxSizeJobs = 2

type campaignRow struct {
	c        store.Campaign
	search   string // lower-cased name, channel, status and tags
	audience string // store.AudienceKey
	lastSend string
}

func newCampaignRow(c store.Campaign) campaignRow {
	c = safeCampaign(c)
	search := strings.ToLower(strconv.FormatUint(c.ID, 10) + "\x00" + c.Name + "\x00" + string(c.Channel) + "\x00" + string(c.Status) + "\x00" +
		strings.Join(c.Tags, "\x00") + "\x00" + strings.Join(c.ExcludeTags, "\x00"))
	return campaignRow{
		c:        c,
		search:   search,
		audience: store.AudienceKey(&c),
		lastSend: lastSendSummary(c.LastSend),
	}
}

func lastSendSummary(ls *store.SendInfo) string {
	if ls == nil {
		return "—"
	}
	if ls.FinishedAt == nil {
		return fmt.Sprintf("sending %s/%s", english.Thousands(ls.Sent+ls.Failed), english.Thousands(ls.Total))
	}
	s := english.Thousands(ls.Sent) + " sent"
	if ls.Failed > 0 {
		s += " · " + english.Thousands(ls.Failed) + " failed"
	}
	return s
}

type (
	campaignsLoadedMsg struct {
		req     int
		rows    []campaignRow
		partial bool // only the newest firstPage; the rest is being read
		err     error
	}
	audienceSizeMsg struct {
		gen int
		key string
		n   int
		err error
	}
	campaignDeletedMsg struct {
		id   uint64
		name string
		err  error
	}
	campaignDuplicatedMsg struct {
		c   store.Campaign
		err error
	}
)

// CampaignsScreen is the campaign list with its detail pane, and the stack
// of layers opened over it (dialogs, the editor, the live pane of a send).
type CampaignsScreen struct {
	c     *Common
	keys  CampaignListKeyMap
	fkeys FilterKeyMap

	width, height int

	loadReq int
	loaded  bool
	partial bool // only the newest campaigns are in; the rest is loading
	loadErr error
	all     []campaignRow // newest first
	visible []int         // indexes into all that pass the filter
	list    scrollList    // over visible
	want    uint64        // campaign to select once it is loaded

	filter      textinput.Model
	filtering   bool
	filterQuery string // applied, lower-cased

	detail bool // the detail pane fills the screen

	sizes    map[string]int
	sizeErrs map[string]bool
	inflight map[string]bool
	sizeGen  int

	// stack is what is open over the list, the top one last: it has the
	// keys. behind holds layers that left the screen but still work (a
	// send queueing after esc).
	stack  []layer
	behind []layer

	idW          int    // the ID column's width
	cwd          string // where relative export paths start
	nextEditorID int

	// Sending: the session's live sends, and the counters of send flows
	// and panes, whose answers carry them.
	sends    *sendBoard
	flowRuns int
	paneReqs int
	clockSeq int
	clockOn  bool
}

// NewCampaignsScreen builds the campaign list.
func NewCampaignsScreen(c *Common) *CampaignsScreen {
	f := textinput.New()
	f.Prompt = "/ "
	f.Placeholder = "name, channel, status or tag"
	st := textinput.DefaultStyles(true)
	st.Cursor.Blink = false
	st.Focused.Prompt = c.Styles.Key
	st.Focused.Placeholder = c.Styles.Dim
	f.SetStyles(st)
	cwd, _ := os.Getwd()
	return &CampaignsScreen{
		c:        c,
		cwd:      cwd,
		keys:     DefaultCampaignListKeyMap(),
		fkeys:    DefaultFilterKeyMap(),
		filter:   f,
		sizes:    map[string]int{},
		sizeErrs: map[string]bool{},
		inflight: map[string]bool{},
		sends:    newSendBoard(),
	}
}

// Init reads the newest campaigns first so the first frame does not wait
// for a long list; the rest follows.
func (s *CampaignsScreen) Init() tea.Cmd { return s.loadPage(firstPage) }

// load reads every campaign.
func (s *CampaignsScreen) load() tea.Cmd { return s.loadPage(0) }

// loadPage reads the newest limit campaigns, or all of them when limit is 0.
func (s *CampaignsScreen) loadPage(limit int) tea.Cmd {
	s.loadReq++
	req, st := s.loadReq, s.c.Store
	return func() tea.Msg {
		var list []store.Campaign
		var err error
		if limit > 0 {
			// One more than asked tells whether there is more to read.
			list, err = st.RecentCampaigns(limit + 1)
		} else {
			list, err = st.Campaigns()
		}
		if err != nil {
			return campaignsLoadedMsg{req: req, err: err}
		}
		partial := limit > 0 && len(list) > limit
		if partial {
			list = list[:limit]
		}
		rows := make([]campaignRow, len(list))
		for i, c := range list {
			rows[i] = newCampaignRow(c)
		}
		return campaignsLoadedMsg{req: req, rows: rows, partial: partial}
	}
}

// Update handles one message. Keys and pastes go to the top layer, or to
// the list; the list keeps its own messages; everything else goes to every
// layer.
func (s *CampaignsScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		return s, s.handleKey(msg)
	case tea.PasteMsg:
		switch {
		case s.top() != nil:
			return s, s.toTop(msg)
		case s.filtering:
			return s, s.updateFilter(msg)
		}
		return s, nil
	}
	if cmd, ok := s.updateSending(msg); ok {
		return s, cmd
	}
	if cmd, ok := s.updateList(msg); ok {
		return s, cmd
	}
	cmd := s.toLayers(msg)
	if s.filtering && s.top() == nil {
		cmd = tea.Batch(cmd, s.updateFilter(msg))
	}
	return s, cmd
}

// updateList handles the list's own messages; ok is false for the rest.
func (s *CampaignsScreen) updateList(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case campaignsLoadedMsg:
		if msg.req != s.loadReq {
			return nil, true
		}
		s.loaded, s.loadErr = true, msg.err
		if msg.err != nil {
			return ReportError(fmt.Errorf("read campaigns: %w; press r to try again", msg.err)), true
		}
		keep := s.want
		if keep == 0 {
			keep = s.selectedID()
		}
		s.all, s.partial = msg.rows, msg.partial
		s.applyFilter()
		s.selectID(keep)
		reread := s.noteActiveSends()
		if s.partial {
			return tea.Batch(s.wantSizes(), s.load(), s.ensureClock(), reread), true
		}
		s.want = 0
		return tea.Batch(s.wantSizes(), s.ensureClock(), reread), true
	case endedSendsMsg:
		for _, e := range msg.ended {
			s.sends.settle(e.c, e.send)
		}
		return nil, true
	case audienceSizeMsg:
		if msg.gen != s.sizeGen {
			return nil, true
		}
		delete(s.inflight, msg.key)
		if msg.err != nil {
			s.sizeErrs[msg.key] = true
		} else {
			s.sizes[msg.key] = msg.n
		}
		// The delete question names the count.
		return tea.Batch(s.toLayers(msg), s.wantSizes()), true
	case campaignDeletedMsg:
		if msg.err != nil {
			return tea.Batch(ReportError(msg.err), s.load()), true
		}
		if i := s.indexOf(msg.id); i >= 0 {
			// Gone from the list with the flash, not a reload later.
			s.all = append(s.all[:i], s.all[i+1:]...)
			s.applyFilter()
		}
		return tea.Batch(Flash("Deleted '"+msg.name+"'"), DataChanged(CampaignData), s.wantSizes()), true
	case duplicateCampaignMsg:
		return s.duplicate(msg.id), true
	case campaignDuplicatedMsg:
		if msg.err != nil {
			return ReportError(msg.err), true
		}
		s.showStored(msg.c)
		return tea.Batch(Flash("Duplicated as '"+msg.c.Name+"'"), DataChanged(CampaignData), s.wantSizes()), true
	case DataChangedMsg:
		var cmds []tea.Cmd
		if msg.What != CampaignData {
			// Contacts or the suppression list changed: every count may be off.
			s.sizeGen++
			s.sizes, s.sizeErrs, s.inflight = map[string]int{}, map[string]bool{}, map[string]bool{}
			cmds = append(cmds, s.wantSizes())
		}
		if msg.What == AllData || msg.What == CampaignData {
			cmds = append(cmds, s.load())
		}
		// The editor's preview may show a contact that changed.
		return tea.Batch(append(cmds, s.toLayers(msg))...), true
	}
	return nil, false
}

// updateFilter passes a key or a paste to the filter input and re-filters
// when the query changed, keeping the selection where it can.
func (s *CampaignsScreen) updateFilter(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	before := s.filter.Value()
	s.filter, cmd = s.filter.Update(msg)
	if s.filter.Value() == before {
		return cmd
	}
	keep := s.selectedID()
	s.filterQuery = strings.ToLower(strings.TrimSpace(s.filter.Value()))
	s.applyFilter()
	s.selectID(keep)
	return tea.Batch(cmd, s.wantSizes())
}

func (s *CampaignsScreen) handleKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case s.top() != nil:
		return s.toTop(k)
	case s.filtering:
		return s.handleFilterKey(k)
	}
	return s.handleListKey(k)
}

// showStored puts a campaign this session just wrote into the list and
// selects it at once, so the flash and the row arrive together; the reload
// that follows brings everything else.
func (s *CampaignsScreen) showStored(c store.Campaign) {
	s.want = c.ID
	row := newCampaignRow(c)
	if i := s.indexOf(c.ID); i >= 0 {
		s.all[i] = row
	} else {
		s.all = append([]campaignRow{row}, s.all...)
	}
	if s.filterQuery != "" && !strings.Contains(row.search, s.filterQuery) {
		s.clearFilter()
	}
	s.applyFilter()
	s.selectID(c.ID)
}

func (s *CampaignsScreen) handleFilterKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, s.fkeys.Apply):
		s.filtering = false
		s.filter.Blur()
		if strings.TrimSpace(s.filter.Value()) == "" {
			s.clearFilter()
		}
		return nil
	case key.Matches(k, s.fkeys.Clear):
		s.clearFilter()
		return s.wantSizes()
	case k.String() == "up" || k.String() == "down":
		// Arrows browse the matches while typing; letters stay text.
		s.sizeList()
		if k.String() == "up" {
			s.list.move(-1)
		} else {
			s.list.move(1)
		}
		return s.wantSizes()
	}
	return s.updateFilter(k)
}

func (s *CampaignsScreen) clearFilter() {
	keep := s.selectedID()
	s.filtering = false
	s.filter.Blur()
	s.filter.SetValue("")
	s.filterQuery = ""
	s.applyFilter()
	s.selectID(keep)
}

func (s *CampaignsScreen) handleListKey(k tea.KeyPressMsg) tea.Cmd {
	s.sizeList()
	if s.list.handleKey(k, s.keys.NavKeyMap) {
		return s.wantSizes()
	}
	switch {
	case key.Matches(k, s.keys.Filter):
		s.filtering = true
		s.detail = false
		return s.filter.Focus()
	case key.Matches(k, s.keys.Open):
		if s.selected() != nil {
			s.detail = true
		}
		return nil
	case key.Matches(k, s.keys.Back):
		switch {
		case s.detail:
			s.detail = false
		case s.filterQuery != "":
			s.clearFilter()
		}
		return s.wantSizes()
	case key.Matches(k, s.keys.New):
		return s.openEditor(store.Campaign{})
	case key.Matches(k, s.keys.Edit):
		if r := s.selected(); r != nil {
			return s.openEditor(r.c)
		}
	case key.Matches(k, s.keys.Duplicate):
		if r := s.selected(); r != nil {
			return s.duplicate(r.c.ID)
		}
	case key.Matches(k, s.keys.Delete):
		return s.askDelete()
	case key.Matches(k, s.keys.Reload):
		return s.load()
	case key.Matches(k, s.keys.Send):
		return s.send()
	case key.Matches(k, s.keys.Watch):
		return s.watch()
	case key.Matches(k, s.keys.Export):
		if r := s.selected(); r != nil {
			return s.openExport(r.c.ID, r.c.Name)
		}
		return nil
	case key.Matches(k, s.keys.Copy):
		if r := s.selected(); r != nil {
			return copyToClipboard(strconv.FormatUint(r.c.ID, 10), fmt.Sprintf("ID %d ('%s')", r.c.ID, r.c.Name))
		}
		return nil
	default:
		return nil
	}
	return s.wantSizes()
}

// openExport asks where to write a campaign's ledger. A campaign never
// sent has none, and says so rather than writing an empty file.
func (s *CampaignsScreen) openExport(id uint64, name string) tea.Cmd {
	if r := s.rowByID(id); r != nil && r.c.LastSend == nil && r.c.Status.Editable() {
		return Flash(fmt.Sprintf("'%s' (ID %d) was never sent, so it has no ledger to export yet", name, id))
	}
	d := newExportDialog(s.c, id, name, s.cwd)
	s.push(&exportLayer{d})
	return d.focus()
}

func (s *CampaignsScreen) openEditor(c store.Campaign) tea.Cmd {
	s.nextEditorID++
	e := NewEditor(s.c, s.nextEditorID, c)
	s.push(editorLayer{e})
	return e.Init()
}

func (s *CampaignsScreen) duplicate(id uint64) tea.Cmd {
	st, actor := s.c.Store, s.c.Actor
	return func() tea.Msg {
		c, err := st.DuplicateCampaign(actor, id)
		if err != nil {
			err = fmt.Errorf("duplicate campaign: %w", err)
		}
		return campaignDuplicatedMsg{c: c, err: err}
	}
}

func (s *CampaignsScreen) deleteQuestion(r *campaignRow) string {
	count := "counting recipients…"
	if n, ok := s.sizes[r.audience]; ok {
		count = english.Count(n, "recipient", "recipients")
	} else if s.sizeErrs[r.audience] {
		count = "recipients unknown"
	}
	return fmt.Sprintf("Delete campaign '%s' (%s)?", r.c.Name, count)
}

func (s *CampaignsScreen) askDelete() tea.Cmd {
	r := s.selected()
	if r == nil {
		return nil
	}
	if r.c.Status == store.StatusSending || r.c.Status == store.StatusPaused {
		return ReportError(fmt.Errorf("campaign %q is %s: cancel the send before deleting it", r.c.Name, r.c.Status))
	}
	id, version, name := r.c.ID, r.c.Version, r.c.Name
	st, actor := s.c.Store, s.c.Actor
	confirm := NewConfirm(s.c, s.deleteQuestion(r),
		"Its delivery records go with it. This cannot be undone.", "Delete",
		func() tea.Msg {
			err := st.DeleteCampaign(actor, id, version)
			var conflict *store.ConflictError
			if errors.As(err, &conflict) {
				err = fmt.Errorf("not deleted: %w", err)
			}
			return campaignDeletedMsg{id: id, name: name, err: err}
		})
	s.push(&deleteLayer{confirm: confirm, id: id, question: s.deleteQuestionOf})
	return s.wantSizes()
}

// deleteQuestionOf is the delete question for campaign id once the count
// of audience is known, or false when that count is not the campaign's.
func (s *CampaignsScreen) deleteQuestionOf(id uint64, audience string) (string, bool) {
	r := s.rowByID(id)
	if r == nil || r.audience != audience {
		return "", false
	}
	return s.deleteQuestion(r), true
}

// applyFilter recomputes the visible rows from the query.
func (s *CampaignsScreen) applyFilter() {
	s.visible = s.visible[:0]
	for i := range s.all {
		if s.filterQuery == "" || strings.Contains(s.all[i].search, s.filterQuery) {
			s.visible = append(s.visible, i)
		}
	}
	s.sizeList()
}

// sizeList tells the list its rows and the room for them: the strip of
// sends above it grows and shrinks.
func (s *CampaignsScreen) sizeList() { s.list.resize(len(s.visible), s.listRows()) }

func (s *CampaignsScreen) indexOf(id uint64) int {
	for i := range s.all {
		if s.all[i].c.ID == id {
			return i
		}
	}
	return -1
}

func (s *CampaignsScreen) rowByID(id uint64) *campaignRow {
	if i := s.indexOf(id); i >= 0 {
		return &s.all[i]
	}
	return nil
}

func (s *CampaignsScreen) selectID(id uint64) {
	s.sizeList()
	if id == 0 {
		return
	}
	for vi, i := range s.visible {
		if s.all[i].c.ID == id {
			s.list.selectRow(vi)
			return
		}
	}
}

func (s *CampaignsScreen) selected() *campaignRow {
	if i := s.list.cursor; i >= 0 && i < len(s.visible) {
		return &s.all[s.visible[i]]
	}
	return nil
}

func (s *CampaignsScreen) selectedID() uint64 {
	if r := s.selected(); r != nil {
		return r.c.ID
	}
	return 0
}

// wantSizes starts counting the audiences of the selected and the visible
// rows that are not known yet, the selected one first.
func (s *CampaignsScreen) wantSizes() tea.Cmd {
	if len(s.inflight) >= maxSizeJobs || len(s.visible) == 0 {
		return nil
	}
	var cmds []tea.Cmd
	start := func(r *campaignRow) {
		if len(s.inflight) >= maxSizeJobs {
			return
		}
		k := r.audience
		if _, ok := s.sizes[k]; ok || s.inflight[k] || s.sizeErrs[k] {
			return
		}
		s.inflight[k] = true
		camp := store.Campaign{Name: r.c.Name, Tags: r.c.Tags, ExcludeTags: r.c.ExcludeTags, Channel: r.c.Channel}
		gen, st := s.sizeGen, s.c.Store
		cmds = append(cmds, func() tea.Msg {
			n, err := st.AudienceSize(&camp)
			return audienceSizeMsg{gen: gen, key: k, n: n, err: err}
		})
	}
	if r := s.selected(); r != nil {
		start(r)
	}
	first, end := s.list.window(s.listRows())
	for i := first; i < end; i++ {
		start(&s.all[s.visible[i]])
	}
	return tea.Batch(cmds...)
}

// SetSize gives the screen its area.
func (s *CampaignsScreen) SetSize(w, h int) {
	s.width, s.height = w, h
	s.filter.SetWidth(max(w/3, 10))
	s.sizeList()
	for _, l := range s.layers() {
		l.SetSize(w, h)
	}
}

// Capturing is true while the filter input or the top layer has the keys.
func (s *CampaignsScreen) Capturing() bool {
	return s.filtering || (s.top() != nil && s.top().Capturing())
}

// HasUnsavedChanges reports whether the editor holds unsaved typing.
func (s *CampaignsScreen) HasUnsavedChanges() bool {
	for _, l := range s.stack {
		if u, ok := l.(unsaved); ok && u.Dirty() {
			return true
		}
	}
	return false
}

// Breadcrumb says where the person is: in the topmost layer that fills the
// screen, or the list.
func (s *CampaignsScreen) Breadcrumb() []string {
	for i := len(s.stack) - 1; i >= 0; i-- {
		if p, ok := s.stack[i].(placed); ok {
			return p.Breadcrumb()
		}
	}
	if r := s.selected(); r != nil && (s.detail || s.width >= wideList) {
		return []string{"Campaigns", r.c.Name}
	}
	return []string{"Campaigns"}
}

// ShortHelp lists the keys for what is on screen now.
func (s *CampaignsScreen) ShortHelp() []key.Binding {
	switch {
	case s.top() != nil:
		return s.top().ShortHelp()
	case s.filtering:
		return []key.Binding{s.fkeys.Apply, s.fkeys.Clear}
	case len(s.all) == 0:
		return []key.Binding{s.keys.New}
	case s.detail:
		return append([]key.Binding{s.keys.Back}, append(s.sendKeys(), s.keys.Edit, s.keys.Duplicate, s.keys.Delete, s.keys.Down, s.keys.Up)...)
	}
	h := append(s.sendKeys(), s.keys.New, s.keys.Edit, s.keys.Open, s.keys.Filter, s.keys.Duplicate, s.keys.Delete)
	if s.filterQuery != "" {
		h = append(h, s.keys.Back)
	}
	return h
}

// FullHelp lists every key of the screen: of the topmost layer that has a
// help of its own, or of the list.
func (s *CampaignsScreen) FullHelp() [][]key.Binding {
	for i := len(s.stack) - 1; i >= 0; i-- {
		if h := s.stack[i].FullHelp(); h != nil {
			return h
		}
	}
	k := s.keys
	return [][]key.Binding{
		k.Bindings(),
		{k.Open, k.Back, k.Filter, s.fkeys.Apply, s.fkeys.Clear, k.Reload},
		{k.New, k.Edit, k.Duplicate, k.Delete, k.Send, k.Watch, k.Copy, k.Export},
	}
}

// listRows is how many campaign rows fit: the pane minus its title line,
// the column header and the strip of sends.
func (s *CampaignsScreen) listRows() int { return max(s.height-2-s.stripHeight(), 1) }

// View draws the list, or its detail pane, with the layers over it.
func (s *CampaignsScreen) View() string {
	if s.width <= 0 || s.height <= 0 {
		return ""
	}
	return s.viewUpTo(len(s.stack))
}

// viewUpTo draws the list with the first n layers of the stack over it.
func (s *CampaignsScreen) viewUpTo(n int) string {
	if n == 0 {
		return s.listScreen(s.width, s.height)
	}
	return s.stack[n-1].View(s.width, s.height, func() string { return s.viewUpTo(n - 1) })
}

// listScreen is the list, its detail or what stands in for them.
func (s *CampaignsScreen) listScreen(w, h int) string {
	switch {
	case !s.loaded:
		return Center(w, h, s.c.Styles.Dim.Render("Loading campaigns…"))
	case s.loadErr != nil && len(s.all) == 0:
		return Center(w, h, lipgloss.NewStyle().Width(min(w-4, 70)).Render(
			s.c.Styles.Error.Render("Could not read the campaigns: "+s.loadErr.Error())+"\n\nPress r to try again."))
	case len(s.all) == 0:
		return s.emptyView(w, h)
	case s.detail:
		return s.detailView(w, h)
	case w >= wideList:
		lw := w * 3 / 5
		dw := w - lw - 1
		sep := s.c.Styles.Dim.Render(strings.TrimRight(strings.Repeat("│\n", h), "\n"))
		return lipgloss.JoinHorizontal(lipgloss.Top, fitLines(s.listView(lw-1, h), lw, h), sep,
			fitLines(s.detailView(dw, h), dw, h))
	}
	return s.listView(w, h)
}

func (s *CampaignsScreen) emptyView(w, h int) string {
	st := s.c.Styles
	text := strings.Join([]string{
		st.Title.Render("No campaigns yet — press n to create one"),
		"",
		"A campaign is one message sent to an audience of contacts.",
		"Import contacts first: press " + st.Key.Render("2") + ", then " + st.Key.Render("i") + " to read a CSV file.",
		"",
		st.Dim.Render("No Redis is needed until you send: nothing connects before that."),
	}, "\n")
	return Center(w, h, lipgloss.NewStyle().MaxWidth(w).Render(text))
}

// column is one column of the list; the name column takes what is left.
type column struct {
	title string
	width int
	right bool
}

const (
	colStatus = iota
	colChannel
	colAudience
	colLast
	colUpdated
	numCols
)

// columns picks the columns that fit: on a narrow pane the least useful
// ones go first, so the name stays readable.
func columns(w int) (nameW int, cols [numCols]column, shown [numCols]bool) {
	cols = [numCols]column{
		colStatus:   {title: "STATUS", width: 9},
		colChannel:  {title: "CHANNEL", width: 9},
		colAudience: {title: "AUDIENCE", width: 9, right: true},
		colLast:     {title: "LAST SEND", width: 20},
		colUpdated:  {title: "UPDATED", width: 10},
	}
	for i := range shown {
		shown[i] = true
	}
	need := func() int {
		n := 2
		for i, c := range cols {
			if shown[i] {
				n += c.width + 2
			}
		}
		return n
	}
	for _, drop := range []int{colUpdated, colChannel, colLast, colStatus} {
		if w-need() >= 18 {
			break
		}
		shown[drop] = false
	}
	return max(w-need(), 4), cols, shown
}

func pad(s string, w int, right bool) string {
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w, "…")
	}
	if right {
		return strings.Repeat(" ", w-sw) + s
	}
	return s + strings.Repeat(" ", w-sw)
}

func (s *CampaignsScreen) listView(w, h int) string {
	st := s.c.Styles
	var b strings.Builder

	// Title line: the filter input, the applied filter or the plain title.
	pos := ""
	switch {
	case s.partial:
		pos = st.Dim.Render("loading more…")
	case len(s.visible) > 0:
		pos = st.Dim.Render(fmt.Sprintf("%s/%s", english.Thousands(s.list.cursor+1), english.Thousands(len(s.visible))))
	}
	total := english.Thousands(len(s.all))
	if s.partial {
		total += "+"
	}
	var title string
	switch {
	case s.filtering:
		title = s.filter.View() + "  " + st.Dim.Render(fmt.Sprintf("%s of %s match", english.Thousands(len(s.visible)), total))
	case s.filterQuery != "":
		title = st.Title.Render("Campaigns") + "  " +
			lipgloss.NewStyle().Foreground(st.Accent).Render(fmt.Sprintf("filter %q: %s of %s", s.filterQuery, english.Thousands(len(s.visible)), total)) +
			st.Dim.Render("  esc clears")
	default:
		title = st.Title.Render("Campaigns") + st.Dim.Render(" "+total)
	}
	if gap := w - lipgloss.Width(title) - lipgloss.Width(pos); gap >= 2 {
		title += strings.Repeat(" ", gap) + pos
	}
	b.WriteString(ansi.Truncate(title, w, "…"))
	b.WriteByte('\n')
	for _, l := range s.stripLines(w) {
		b.WriteString(l)
		b.WriteByte('\n')
	}

	nameW, cols, shown := columns(w)
	// The ID is what the command line takes (export, status, pause): it
	// leads every row, as wide as the largest.
	s.idW = 2
	for i := range s.all {
		s.idW = max(s.idW, len(strconv.FormatUint(s.all[i].c.ID, 10)))
	}
	nameW = max(nameW-s.idW-2, 4)
	var hdr strings.Builder
	hdr.WriteString("  " + pad("ID", s.idW, true) + "  " + pad("NAME", nameW, false))
	for i, c := range cols {
		if shown[i] {
			hdr.WriteString("  " + pad(c.title, c.width, c.right))
		}
	}
	b.WriteString(st.Header.Render(ansi.Truncate(hdr.String(), w, "")))

	if len(s.visible) == 0 {
		b.WriteString("\n\n" + st.Dim.Render(ansi.Truncate(fmt.Sprintf("  No campaign matches %q — esc clears the filter", s.filterQuery), w, "…")))
		return b.String()
	}
	now := s.c.Now()
	first, end := s.list.window(s.listRows())
	for vi := first; vi < end; vi++ {
		r := &s.all[s.visible[vi]]
		sel := vi == s.list.cursor
		b.WriteByte('\n')
		b.WriteString(s.rowView(r, sel, w, nameW, cols, shown, now))
	}
	return b.String()
}

func (s *CampaignsScreen) audienceText(r *campaignRow) string {
	if n, ok := s.sizes[r.audience]; ok {
		return english.Thousands(n)
	}
	if s.sizeErrs[r.audience] {
		return "?"
	}
	return "…"
}

func (s *CampaignsScreen) rowView(r *campaignRow, sel bool, w, nameW int, cols [numCols]column, shown [numCols]bool, now time.Time) string {
	st := s.c.Styles
	var b strings.Builder
	if sel {
		b.WriteString("▌ ")
	} else {
		b.WriteString("  ")
	}
	b.WriteString(st.Dim.Render(pad(strconv.FormatUint(r.c.ID, 10), s.idW, true)) + "  ")
	b.WriteString(pad(r.c.Name, nameW, false))
	for i, c := range cols {
		if !shown[i] {
			continue
		}
		b.WriteString("  ")
		switch i {
		case colStatus:
			text := pad(string(r.c.Status), c.width, false)
			if !sel {
				text = st.StatusBadge(r.c.Status) + strings.Repeat(" ", max(c.width-len(r.c.Status), 0))
			}
			b.WriteString(text)
		case colChannel:
			b.WriteString(pad(string(r.c.Channel), c.width, false))
		case colAudience:
			b.WriteString(pad(s.audienceText(r), c.width, true))
		case colLast:
			last := r.lastSend
			if text, ok := scheduleCell(&r.c, now); ok {
				last = text
			}
			b.WriteString(pad(last, c.width, false))
		case colUpdated:
			b.WriteString(pad(ago(now, r.c.UpdatedAt), c.width, false))
		}
	}
	line := ansi.Truncate(b.String(), w, "")
	if sel {
		return st.Selected.Render(pad(line, w, false))
	}
	return line
}

// scheduleCell is what the LAST SEND column says of a scheduled campaign:
// when it starts, or that its start failed.
func scheduleCell(c *store.Campaign, now time.Time) (string, bool) {
	if c.Status != store.StatusScheduled || c.Schedule == nil {
		return "", false
	}
	if c.Schedule.Error != "" {
		return "✗ start failed", true
	}
	left := sending.TimeLeft(c.Schedule.At, now)
	if strings.HasPrefix(left, "in ") {
		return "starts " + left, true
	}
	return left, true
}

// ago says how long ago t was, briefly.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	case d < 30*24*time.Hour:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
	return t.Local().Format("2006-01-02")
}

func (s *CampaignsScreen) detailView(w, h int) string {
	st := s.c.Styles
	r := s.selected()
	if r == nil {
		return st.Dim.Render(" Nothing selected")
	}
	c := r.c
	lines := []string{
		" " + st.Title.Render(ansi.Truncate(c.Name, max(w-14, 4), "…")) + "  " + st.StatusBadge(c.Status),
		"",
	}
	field := func(label, value string) {
		lines = append(lines, " "+st.Label.Render(fmt.Sprintf("%-10s", label))+" "+value)
	}
	idHint := "  y copies it"
	if c.LastSend != nil || !c.Status.Editable() {
		idHint += " · E exports the ledger"
	}
	field("ID", strconv.FormatUint(c.ID, 10)+st.Dim.Render(idHint))
	channel := string(c.Channel)
	switch {
	case c.Channel == store.ChannelSMTP && c.From != "":
		channel += st.Dim.Render("  from ") + c.From
	case c.URL != "":
		channel += st.Dim.Render("  to ") + c.URL
	}
	field("Channel", channel)
	if c.Channel == store.ChannelMessenger {
		mt := string(c.EffectiveMessagingType())
		switch {
		case c.MessageTag != "":
			mt += st.Dim.Render("  tag ") + c.MessageTag
		case c.EffectiveMessagingType() != store.MessagingMessageTag:
			mt += st.Dim.Render("  within 24 hours of the person's last message")
		}
		field("Messaging", mt)
	}
	aud := s.audienceText(r)
	if aud != "…" && aud != "?" {
		aud += " recipients"
	}
	field("Audience", aud)
	tags := "every contact"
	if len(c.Tags) > 0 {
		tags = "tagged " + strings.Join(safeList(c.Tags), ", ")
	}
	if len(c.ExcludeTags) > 0 {
		tags += ", except " + strings.Join(safeList(c.ExcludeTags), ", ")
	}
	field("Who", tags)
	rate := "no limit"
	if c.Rate > 0 {
		rate = english.Thousands(c.Rate) + " messages/second"
	}
	field("Rate", rate+st.Dim.Render(" · "+english.Count(c.Attempts(), "try", "tries")+" per recipient"))
	last := "never sent"
	if ls := c.LastSend; ls != nil {
		last = r.lastSend + " of " + english.Thousands(ls.Total) + st.Dim.Render(", started "+ls.StartedAt.Local().Format("2006-01-02 15:04"))
	}
	field("Last send", last)
	if c.Status == store.StatusScheduled && c.Schedule != nil {
		starts := sending.ScheduleText(c.Schedule) + st.Dim.Render(", "+sending.TimeLeft(c.Schedule.At, s.c.Now()))
		field("Starts", ansi.Truncate(starts, max(w-13, 4), "…"))
		if c.Schedule.Error != "" {
			lines = append(lines, " "+lipgloss.NewStyle().Foreground(st.Warn).Render(
				ansi.Truncate("✗ the start failed: "+c.Schedule.Error, max(w-2, 1), "…")))
		}
	}
	switch {
	case c.Status == store.StatusSending || c.Status == store.StatusPaused:
		lines = append(lines, " "+st.Dim.Render(ansi.Truncate("w watches the send live: pause, resume or cancel it there", max(w-2, 1), "…")))
	case c.Status.Editable():
		lines = append(lines, " "+st.Dim.Render(ansi.Truncate("s checks every message, then asks before sending", max(w-2, 1), "…")))
	case c.LastSend != nil:
		lines = append(lines, " "+st.Dim.Render(ansi.Truncate("w shows how the send went and who failed", max(w-2, 1), "…")))
	}
	updated := c.UpdatedAt.Local().Format("2006-01-02 15:04")
	if c.UpdatedBy != "" {
		updated += " by " + c.UpdatedBy
	}
	field("Updated", updated+st.Dim.Render(fmt.Sprintf(" (version %d)", c.Version)))
	if !c.Status.Editable() {
		lines = append(lines, "", " "+lipgloss.NewStyle().Foreground(st.Warn).Render(
			ansi.Truncate("The message can no longer change: c duplicates it.", max(w-2, 1), "…")))
	}
	lines = append(lines, "", " "+st.Label.Render("Subject")+"  "+ansi.Truncate(c.Subject, max(w-11, 1), "…"),
		" "+st.Dim.Render(strings.Repeat("─", max(min(w-2, 60), 1))))
	bodyLines := strings.Split(lipgloss.NewStyle().Width(max(w-2, 1)).Render(c.Body), "\n")
	room := h - len(lines)
	if room > 0 && len(bodyLines) > room {
		bodyLines = append(bodyLines[:room-1], st.Dim.Render("…"))
	}
	for _, l := range bodyLines {
		lines = append(lines, " "+l)
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "…")
	}
	return strings.Join(lines, "\n")
}
