package ui

import (
	"fmt"
	"os"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"tui/store"
)

// ContactsScreen lists contacts a window at a time: however many there are,
// it holds only the rows around the cursor, loaded by Store.ListContacts
// (or Store.ContactsEnd for G) in a command and tagged with a request id so
// a late answer never overwrites a newer one.
type ContactsScreen struct {
	c             *Common
	keys          ContactsKeyMap
	detailKeys    ContactDetailKeyMap
	pickerKeys    PickerKeyMap
	width, height int
	cwd           string // where relative import paths start

	filter store.ContactFilter
	// filterOrder is the order the text and tag filters were applied in;
	// esc clears the newest first.
	filterOrder  []string
	filtering    bool
	filterInput  textinput.Model
	filterBefore string
	filterSeq    int

	win        contactsWindow
	total      int  // matching contacts; a lower bound unless exact
	exact      bool // total is the whole count
	loaded     bool // a first answer arrived: an empty list is really empty
	loadReq    int
	loading    bool
	pendingOff int
	counting   bool       // G is counting a filtered set to find its end
	endOnLoad  bool       // after the next data change, show the newest contact
	list       scrollList // over total, open-ended until exact

	marks map[uint64]markedContact
	tags  []store.TagCount

	picker *tagPicker
	prompt *contactsPrompt
	form   *miniForm
	// editing is set while the form edits a contact rather than adds one.
	editing *contactEdit
	dialog  *Confirm
	detail  *contactDetail
	imp     *importer
	// importRuns numbers the imports' opens and runs across importers.
	importRuns int
}

// contactsWindow is the slice of the filtered list that is in memory.
type contactsWindow struct {
	off        int
	rows       []store.Contact
	suppressed map[string]bool
	fields     []string // the extra field columns shown, chosen from rows
}

type markedContact struct {
	address string
	tags    []string
}

type contactDetail struct {
	contact store.Contact
	scroll  int
}

// Messages of the contacts screen; each carries what it needs to be
// checked for staleness.
type (
	contactsPageMsg struct {
		req        int
		off        int
		page       store.ContactPage
		suppressed map[string]bool
		counted    int  // the exact total when G counted it, else -1
		fresh      bool // the data changed: forget the old lower bound
		toEnd      bool
		err        error
	}
	contactsTagsMsg struct {
		tags []store.TagCount
		err  error
	}
	contactsFilterTickMsg struct{ seq int }
	contactsActionMsg     struct {
		flash      string
		what       DataKind // for DataChanged
		deleted    uint64
		clearMarks bool
		err        error
	}
)

// filterDebounce lets a fast typist finish a word before the list scans a
// million contacts for it.
const filterDebounce = 120 * time.Millisecond

// contactsMinLoad is the fewest rows a load asks for: loads happen once
// per screenful of movement, not per key.
const contactsMinLoad = 200

// NewContactsScreen builds the contacts screen.
func NewContactsScreen(c *Common) *ContactsScreen {
	s := &ContactsScreen{
		c:          c,
		keys:       DefaultContactsKeyMap(),
		detailKeys: DefaultContactDetailKeyMap(),
		pickerKeys: DefaultPickerKeyMap(),
		marks:      map[uint64]markedContact{},
		exact:      true,
	}
	s.filterInput = newFieldInput("address, name or any field")
	s.cwd, _ = os.Getwd()
	return s
}

// Init loads the first window and the tags.
func (s *ContactsScreen) Init() tea.Cmd { return tea.Batch(s.load(0, false), s.loadTags()) }

// SetSize gives the screen the space above the App's footer.
func (s *ContactsScreen) SetSize(width, height int) {
	s.width, s.height = max(width, 0), max(height, 0)
	if s.imp != nil {
		s.imp.setSize(s.width, s.height)
	}
	s.sizeList()
}

// Capturing is true while an input, picker, dialog or form has the focus.
func (s *ContactsScreen) Capturing() bool {
	return s.dialog != nil || s.prompt != nil || s.form != nil || s.picker != nil || s.filtering ||
		(s.imp != nil && s.imp.capturing())
}

// Breadcrumb says where in the screen the person is.
func (s *ContactsScreen) Breadcrumb() []string {
	switch {
	case s.imp != nil:
		return []string{"Contacts", "Import"}
	case s.form != nil && s.editing != nil:
		return []string{"Contacts", "Edit"}
	case s.form != nil:
		return []string{"Contacts", "Add"}
	case s.detail != nil:
		return []string{"Contacts", s.detail.contact.Address}
	}
	return []string{"Contacts"}
}

// ShortHelp lists the keys of the innermost thing that has the focus.
func (s *ContactsScreen) ShortHelp() []key.Binding {
	switch {
	case s.dialog != nil:
		return s.dialog.ShortHelp()
	case s.prompt != nil:
		return []key.Binding{s.pickerKeys.Complete, key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply")), s.pickerKeys.Cancel}
	case s.form != nil:
		return s.form.ShortHelp()
	case s.picker != nil:
		return s.picker.ShortHelp()
	case s.filtering:
		return []key.Binding{
			key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
			key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "undo")),
		}
	case s.imp != nil:
		return s.imp.ShortHelp()
	case s.detail != nil:
		k := s.keys
		return []key.Binding{s.detailKeys.Close, k.Edit, s.detailKeys.Down, k.AddTag, k.RemoveTag, k.Suppress, k.Delete}
	}
	k := s.keys
	if s.isEmpty() {
		return []key.Binding{k.Import, k.Add}
	}
	return []key.Binding{k.Down, k.Filter, k.TagFilter, k.Mark, k.AddTag, k.RemoveTag, k.Open, k.Edit, k.Import, k.Add, k.Suppress, k.Delete, k.Back}
}

// FullHelp groups every key of the list.
func (s *ContactsScreen) FullHelp() [][]key.Binding {
	k := s.keys
	return [][]key.Binding{
		k.Bindings(),
		{k.Filter, k.TagFilter, k.Back, k.Reload},
		{k.Mark, k.MarkPage, k.AddTag, k.RemoveTag},
		{k.Open, k.Edit, k.Add, k.Import, k.Suppress, k.Delete},
	}
}

// visibleRows is how many contacts fit under the title and header lines.
func (s *ContactsScreen) visibleRows() int {
	n := s.height - 2
	if s.filtering || s.prompt != nil {
		n--
	}
	return max(n, 1)
}

func (s *ContactsScreen) loadLimit() int { return max(contactsMinLoad, 3*s.visibleRows()) }

// load asks for the window starting at off.
func (s *ContactsScreen) load(off int, fresh bool) tea.Cmd {
	s.loadReq++
	s.loading, s.pendingOff, s.counting = true, off, false
	req, st, f, limit := s.loadReq, s.c.Store, s.filter, s.loadLimit()
	return func() tea.Msg {
		msg := contactsPageMsg{req: req, off: off, counted: -1, fresh: fresh}
		msg.page, msg.err = st.ListContacts(f, off, limit, false)
		if msg.err == nil {
			msg.suppressed, msg.err = suppressedRows(st, msg.page.Contacts)
		}
		safeContacts(msg.page.Contacts)
		return msg
	}
}

// loadEnd loads the last window and the exact count: G on a filter has to
// find where the end is, and ContactsEnd finds it scanning from the end.
func (s *ContactsScreen) loadEnd() tea.Cmd {
	s.loadReq++
	s.loading, s.pendingOff, s.counting = true, -1, true
	req, st, f, limit := s.loadReq, s.c.Store, s.filter, s.loadLimit()
	return func() tea.Msg {
		msg := contactsPageMsg{req: req, toEnd: true, fresh: true}
		msg.page, msg.off, msg.err = st.ContactsEnd(f, limit)
		msg.counted = msg.page.Total
		if msg.err == nil {
			msg.suppressed, msg.err = suppressedRows(st, msg.page.Contacts)
		}
		safeContacts(msg.page.Contacts)
		return msg
	}
}

func suppressedRows(st *store.Store, rows []store.Contact) (map[string]bool, error) {
	addrs := make([]string, len(rows))
	for i, c := range rows {
		addrs[i] = c.Key()
	}
	return st.SuppressedAmong(addrs)
}

func (s *ContactsScreen) loadTags() tea.Cmd {
	st := s.c.Store
	return func() tea.Msg {
		tags, err := st.Tags()
		return contactsTagsMsg{tags: tags, err: err}
	}
}

// reload refreshes the window the person is looking at.
func (s *ContactsScreen) reload() tea.Cmd {
	return s.load(max(0, s.list.offset-s.visibleRows()), true)
}

// resetList starts the list over after a filter change.
func (s *ContactsScreen) resetList() tea.Cmd {
	s.total, s.exact = 0, false
	s.list.reset()
	s.sizeList()
	s.win = contactsWindow{}
	return s.load(0, true)
}

// Update handles one message.
func (s *ContactsScreen) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case contactsPageMsg:
		return s, s.onPage(msg)
	case contactsTagsMsg:
		if msg.err != nil {
			return s, ReportError(fmt.Errorf("read the tags: %w", msg.err))
		}
		s.tags = msg.tags
		if s.picker != nil {
			s.picker.setTags(msg.tags)
		}
		return s, nil
	case contactsFilterTickMsg:
		if msg.seq == s.filterSeq && s.filtering {
			return s, s.setTextFilter(s.filterInput.Value())
		}
		return s, nil
	case contactsActionMsg:
		return s, s.onAction(msg)
	case contactEditOpenMsg:
		return s, s.onEditOpen(msg)
	case contactEditedMsg:
		return s, s.onEdited(msg)
	case contactAddedMsg:
		return s, s.onAdded(msg)
	case DataChangedMsg:
		// A campaign edit changes no contact, and a reload under a text
		// filter may scan a million of them.
		if msg.What == CampaignData {
			return s, nil
		}
		if s.endOnLoad && s.filter == (store.ContactFilter{}) {
			s.endOnLoad = false
			return s, tea.Batch(s.loadEnd(), s.loadTags())
		}
		return s, tea.Batch(s.reload(), s.loadTags())
	case tea.WindowSizeMsg:
		return s, s.ensureLoaded()
	case importOpenedMsg, importProgressMsg, importDoneMsg:
		if s.imp != nil {
			return s, s.imp.Update(msg)
		}
		return s, closeUnusedImport(msg)
	case tea.KeyPressMsg:
		return s, s.handleKey(msg)
	}
	return s, s.updateFocused(msg)
}

// updateFocused passes anything else (pastes, spinner ticks) to whatever
// has the focus.
func (s *ContactsScreen) updateFocused(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	switch {
	case s.dialog != nil:
	case s.prompt != nil:
		s.prompt.input, cmd = s.prompt.input.Update(msg)
	case s.form != nil:
		_, cmd = s.form.Update(msg)
	case s.picker != nil:
		_, _, cmd = s.picker.Update(msg)
	case s.filtering:
		s.filterInput, cmd = s.filterInput.Update(msg)
	case s.imp != nil:
		cmd = s.imp.Update(msg)
	}
	return cmd
}

func (s *ContactsScreen) onPage(m contactsPageMsg) tea.Cmd {
	if m.req != s.loadReq {
		return nil
	}
	s.loading, s.counting = false, false
	if m.err != nil {
		return ReportError(fmt.Errorf("load contacts: %w (press r to try again)", m.err))
	}
	s.loaded = true
	s.win = contactsWindow{off: m.off, rows: m.page.Contacts, suppressed: m.suppressed, fields: pickFieldColumns(m.page.Contacts, 2)}
	switch {
	case m.counted >= 0:
		s.total, s.exact = m.counted, true
	case m.page.Exact:
		s.total, s.exact = m.page.Total, true
	case m.fresh:
		s.total, s.exact = m.page.Total, false
	case s.exact:
		// A window that stopped early says nothing new about a count
		// that G already made exact.
	default:
		s.total = max(s.total, m.page.Total)
	}
	s.sizeList()
	if m.toEnd {
		s.list.bottom()
	}
	if s.detail != nil {
		if c, ok := s.rowByID(s.detail.contact.ID); ok {
			s.detail.contact = c
		}
	}
	return s.ensureLoaded()
}

// ensureLoaded asks for rows when the visible part of the list is not in
// the window.
func (s *ContactsScreen) ensureLoaded() tea.Cmd {
	vis := s.visibleRows()
	start, end := s.list.window(vis)
	if end <= start {
		return nil
	}
	if start >= s.win.off && end <= s.win.off+len(s.win.rows) {
		return nil
	}
	off := max(0, start-vis)
	if s.loading && (s.pendingOff == off || s.counting) {
		return nil
	}
	return s.load(off, false)
}

// sizeList tells the list the contacts counted so far, open-ended until
// the count is exact, and the room for them, which an input line takes
// one of.
func (s *ContactsScreen) sizeList() {
	s.list.setLen(s.total, !s.exact)
	s.list.setHeight(s.visibleRows())
}

// row returns the contact at absolute index i when it is loaded.
func (s *ContactsScreen) row(i int) (store.Contact, bool) {
	j := i - s.win.off
	if j < 0 || j >= len(s.win.rows) {
		return store.Contact{}, false
	}
	return s.win.rows[j], true
}

func (s *ContactsScreen) rowByID(id uint64) (store.Contact, bool) {
	for _, c := range s.win.rows {
		if c.ID == id {
			return c, true
		}
	}
	return store.Contact{}, false
}

// current is the contact under the cursor, or the one whose details are
// open.
func (s *ContactsScreen) current() (store.Contact, bool) {
	if s.detail != nil {
		return s.detail.contact, true
	}
	if s.exact && s.total == 0 {
		return store.Contact{}, false
	}
	return s.row(s.list.cursor)
}

func (s *ContactsScreen) isEmpty() bool {
	return s.loaded && s.exact && s.total == 0 && s.filter == (store.ContactFilter{})
}

func (s *ContactsScreen) handleKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case s.dialog != nil:
		closed, cmd := s.dialog.Update(k)
		if closed {
			s.dialog = nil
		}
		return cmd
	case s.prompt != nil:
		return s.handlePromptKey(k)
	case s.form != nil:
		return s.handleFormKey(k)
	case s.picker != nil:
		action, tag, cmd := s.picker.Update(k)
		switch action {
		case formCancel:
			s.picker = nil
		case formSubmit:
			s.picker = nil
			return s.setTagFilter(tag)
		}
		return cmd
	case s.filtering:
		return s.handleFilterKey(k)
	case s.imp != nil:
		cmd := s.imp.Update(k)
		if s.imp.closed {
			s.imp = nil
		}
		return cmd
	case s.detail != nil:
		if cmd, ok := s.handleDetailKey(k); ok {
			return cmd
		}
	}
	return s.handleListKey(k)
}

func (s *ContactsScreen) handleDetailKey(k tea.KeyPressMsg) (tea.Cmd, bool) {
	switch {
	case key.Matches(k, s.detailKeys.Close):
		s.detail = nil
	case key.Matches(k, s.detailKeys.Up):
		s.detail.scroll = max(s.detail.scroll-1, 0)
	case key.Matches(k, s.detailKeys.Down):
		s.detail.scroll++
	case key.Matches(k, s.keys.Edit):
		return s.openEditForm(s.detail.contact.ID), true
	case key.Matches(k, s.keys.AddTag, s.keys.RemoveTag, s.keys.Suppress, s.keys.Delete):
		return nil, false
	}
	return nil, true
}

func (s *ContactsScreen) handleListKey(k tea.KeyPressMsg) tea.Cmd {
	km := s.keys
	s.sizeList()
	switch {
	case key.Matches(k, km.Bottom):
		// The end of a list not counted yet is found by counting it.
		if s.exact && s.total > 0 && s.win.off+len(s.win.rows) == s.total {
			s.list.bottom()
			return s.ensureLoaded()
		}
		return s.loadEnd()
	case s.list.handleKey(k, km.NavKeyMap):
		return s.ensureLoaded()
	case key.Matches(k, km.Filter):
		s.filtering = true
		s.filterBefore = s.filter.Text
		s.filterInput.SetValue(s.filter.Text)
		s.filterInput.CursorEnd()
		s.sizeList()
		return s.filterInput.Focus()
	case key.Matches(k, km.Edit):
		if c, ok := s.row(s.list.cursor); ok {
			return s.openEditForm(c.ID)
		}
		return nil
	case key.Matches(k, km.TagFilter):
		s.picker = newTagPicker(s.c, s.tags, s.filter.Tag)
		return s.loadTags()
	case key.Matches(k, km.Mark):
		if c, ok := s.row(s.list.cursor); ok {
			s.toggleMark(c)
			s.list.move(1)
			return s.ensureLoaded()
		}
	case key.Matches(k, km.MarkPage):
		s.markPage()
	case key.Matches(k, km.AddTag):
		return s.openPrompt(promptAddTag)
	case key.Matches(k, km.RemoveTag):
		return s.openPrompt(promptRemoveTag)
	case key.Matches(k, km.Suppress):
		return s.openPrompt(promptSuppress)
	case key.Matches(k, km.Open):
		if c, ok := s.row(s.list.cursor); ok {
			s.detail = &contactDetail{contact: c}
		}
	case key.Matches(k, km.Add):
		return s.openAddForm()
	case key.Matches(k, km.Delete):
		s.confirmDelete()
	case key.Matches(k, km.Import):
		s.detail = nil
		s.imp = newImporter(s.c, &s.importRuns, s.cwd, s.tagNames())
		s.imp.setSize(s.width, s.height)
		return s.imp.focus()
	case key.Matches(k, km.Reload):
		return tea.Batch(s.reload(), s.loadTags())
	case key.Matches(k, km.Back):
		return s.back()
	}
	return nil
}

// back undoes the innermost thing: the newest filter, then the marks. It
// never leaves the screen.
func (s *ContactsScreen) back() tea.Cmd {
	if n := len(s.filterOrder); n > 0 {
		switch s.filterOrder[n-1] {
		case "text":
			return s.setTextFilter("")
		case "tag":
			return s.setTagFilter("")
		}
	}
	if len(s.marks) > 0 {
		s.marks = map[uint64]markedContact{}
	}
	return nil
}

func (s *ContactsScreen) noteFilter(kind string, on bool) {
	kept := s.filterOrder[:0]
	for _, k := range s.filterOrder {
		if k != kind {
			kept = append(kept, k)
		}
	}
	s.filterOrder = kept
	if on {
		s.filterOrder = append(s.filterOrder, kind)
	}
}

func (s *ContactsScreen) setTextFilter(text string) tea.Cmd {
	text = strings.TrimSpace(text)
	if text == s.filter.Text {
		return nil
	}
	s.filter.Text = text
	s.noteFilter("text", text != "")
	return s.resetList()
}

func (s *ContactsScreen) setTagFilter(tag string) tea.Cmd {
	if tag == s.filter.Tag {
		return nil
	}
	s.filter.Tag = tag
	s.noteFilter("tag", tag != "")
	return s.resetList()
}

func (s *ContactsScreen) handleFilterKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "enter":
		s.filtering = false
		s.filterSeq++
		s.filterInput.Blur()
		return s.setTextFilter(s.filterInput.Value())
	case "esc":
		s.filtering = false
		s.filterSeq++
		s.filterInput.Blur()
		return s.setTextFilter(s.filterBefore)
	}
	before := s.filterInput.Value()
	var cmd tea.Cmd
	s.filterInput, cmd = s.filterInput.Update(k)
	if s.filterInput.Value() == before {
		return cmd
	}
	s.filterSeq++
	seq := s.filterSeq
	return tea.Batch(cmd, tea.Tick(filterDebounce, func(time.Time) tea.Msg { return contactsFilterTickMsg{seq: seq} }))
}
