package ui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"tui/internal/english"
	"tui/store"
)

// Drawing the contacts screen. Nothing here reads the store: the rows are
// the window the last load brought.

// pickFieldColumns chooses the extra fields worth a column: the ones most
// rows have, ignoring name (it has its own column).
func pickFieldColumns(rows []store.Contact, n int) []string {
	counts := map[string]int{}
	for _, c := range rows {
		for k, v := range c.Fields {
			// A column that repeats the address (a psid column in a
			// file of mixed kinds) says nothing the ADDRESS column does not.
			if k != "name" && v != "" && v != c.Address {
				counts[k]++
			}
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > n {
		keys = keys[:n]
	}
	return keys
}

// View renders the screen in its width×height.
func (s *ContactsScreen) View() string {
	w, h := s.width, s.height
	if w <= 0 || h <= 0 {
		return ""
	}
	var body string
	switch {
	case s.imp != nil:
		body = s.imp.View()
	case s.form != nil:
		s.form.maxLines = h
		body = s.form.View(min(w, 100))
	case s.picker != nil:
		body = s.picker.View(w, h)
	case s.detail != nil && s.prompt != nil:
		// The prompt takes the last line under the details.
		detail := fitBlock(s.detailView(), w, h-1)
		body = detail + strings.Repeat("\n", h-strings.Count(detail, "\n")-1) + s.promptLine()
	case s.detail != nil:
		body = s.detailView()
	default:
		body = s.listView()
	}
	if s.dialog != nil {
		return Overlay(w, h, fitBlock(body, w, h), s.dialog.View())
	}
	return fitBlock(body, w, h)
}

// fitBlock cuts s to at most h lines of at most w cells, so nothing the
// screen draws can wrap or push the footer away.
func fitBlock(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		lines[i] = cutLine(l, w)
	}
	return strings.Join(lines, "\n")
}

func (s *ContactsScreen) listView() string {
	st := s.c.Styles
	w := s.width
	if !s.loaded {
		return st.Title.Render("Contacts") + "\n" + st.Dim.Render("Loading contacts…")
	}
	if s.isEmpty() {
		return s.emptyView()
	}
	vis := s.visibleRows()
	lines := []string{s.titleLine()}

	cols := s.columns()
	gutter := 3
	widths := fitColumns(cols, w-gutter)
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = c.title
	}
	lines = append(lines, st.Header.Render(padLine(strings.Repeat(" ", gutter)+renderCells(header, widths), w)))

	if s.exact && s.total == 0 {
		lines = append(lines, "", st.Dim.Render(cutLine("No contacts match "+s.filterText()+" — esc clears the filter", w)))
	}
	now := s.c.Now()
	shown := s.total
	if !s.exact && shown > 0 {
		shown = s.list.offset + vis // more may follow; rows not loaded yet show as …
	}
	for i := s.list.offset; i < s.list.offset+vis && i < shown; i++ {
		c, ok := s.row(i)
		if !ok {
			lines = append(lines, st.Dim.Render(padLine("   …", w)))
			continue
		}
		mark, sup := " ", " "
		if _, ok := s.marks[c.ID]; ok {
			mark = "●"
		}
		if s.win.suppressed[c.Key()] {
			sup = "⊘"
		}
		line := padLine(mark+sup+" "+renderCells(s.cells(c, now), widths), w)
		switch {
		case i == s.list.cursor:
			line = st.Selected.Render(line)
		case mark != " ":
			line = st.Key.Render(line)
		case sup != " ":
			line = st.Dim.Render(line)
		}
		lines = append(lines, line)
	}
	for len(lines) < vis+2 {
		lines = append(lines, "")
	}
	switch {
	case s.filtering:
		s.filterInput.SetWidth(max(w-4, 1))
		lines = append(lines, cutLine(st.Key.Render("/ ")+s.filterInput.View(), w))
	case s.prompt != nil:
		lines = append(lines, s.promptLine())
	}
	return strings.Join(lines, "\n")
}

// promptLine is the one-line input of +, - and s.
func (s *ContactsScreen) promptLine() string {
	st, p, w := s.c.Styles, s.prompt, s.width
	errText := ""
	if p.err != "" {
		errText = "  " + st.Error.Render("✗ "+p.err)
	}
	p.input.SetWidth(max(w-lipgloss.Width(p.label)-lipgloss.Width(errText)-2, 1))
	return cutLine(st.Label.Render(p.label)+p.input.View()+errText, w)
}

// titleLine says what is shown: the rows, the filters, the marks.
func (s *ContactsScreen) titleLine() string {
	st := s.c.Styles
	parts := []string{st.Title.Render("Contacts")}
	vis := s.visibleRows()
	switch {
	case s.total == 0 && s.exact:
		parts = append(parts, st.Dim.Render("no rows"))
	case s.total == 0:
		// A new filter's first answer is not in yet.
		parts = append(parts, st.Dim.Render("searching…"))
	default:
		last := s.list.offset + vis
		if s.exact {
			last = min(last, s.total)
		} else {
			last = min(last, max(s.total, s.list.offset+1))
		}
		of := english.Thousands(s.total)
		if !s.exact {
			of = "≥ " + of
		}
		if s.counting {
			of += " (counting…)"
		}
		parts = append(parts, st.Dim.Render(fmt.Sprintf("rows %s–%s of %s", english.Thousands(s.list.offset+1), english.Thousands(last), of)))
	}
	if f := s.filterText(); f != "" {
		parts = append(parts, st.Key.Render(f))
	}
	if n := len(s.marks); n > 0 {
		parts = append(parts, st.Key.Render(english.Thousands(n)+" marked"))
	}
	if len(s.win.suppressed) > 0 {
		parts = append(parts, st.Dim.Render("⊘ suppressed"))
	}
	if s.loading && !s.counting && s.total > 0 {
		parts = append(parts, st.Dim.Render("loading…"))
	}
	return cutLine(strings.Join(parts, st.Dim.Render(" · ")), s.width)
}

// filterText shows the applied filters the way they are typed.
func (s *ContactsScreen) filterText() string {
	var parts []string
	for _, k := range s.filterOrder {
		switch k {
		case "text":
			parts = append(parts, "/"+s.filter.Text)
		case "tag":
			parts = append(parts, "tag:"+s.filter.Tag)
		}
	}
	return strings.Join(parts, " ")
}

func (s *ContactsScreen) columns() []tableColumn {
	want := func(title string, get func(c *store.Contact) string, lo, hi int) int {
		n := len(title)
		for i := range s.win.rows {
			n = max(n, len(get(&s.win.rows[i])))
		}
		return min(max(n, lo), hi)
	}
	cols := []tableColumn{
		{title: "ADDRESS", min: 16, priority: 0, want: want("ADDRESS", func(c *store.Contact) string { return c.Address }, 16, 40)},
		{title: "KIND", min: 5, want: 5, priority: 1},
		{title: "NAME", min: 8, priority: 1, want: want("NAME", func(c *store.Contact) string { return c.Name }, 8, 24)},
		{title: "TAGS", min: 6, priority: 2, want: want("TAGS", func(c *store.Contact) string { return strings.Join(c.Tags, ",") }, 6, 24)},
	}
	for i, f := range s.win.fields {
		cols = append(cols, tableColumn{title: strings.ToUpper(f), min: 6, priority: 4 + i,
			want: want(f, func(c *store.Contact) string { return c.Fields[f] }, 6, 18)})
	}
	cols = append(cols, tableColumn{title: "UPDATED", min: 8, want: 10, priority: 3})
	return cols
}

func (s *ContactsScreen) cells(c store.Contact, now time.Time) []string {
	cells := []string{c.Address, string(c.Kind), c.Name, strings.Join(c.Tags, ",")}
	for _, f := range s.win.fields {
		cells = append(cells, c.Fields[f])
	}
	return append(cells, agoText(now, c.UpdatedAt))
}

func (s *ContactsScreen) emptyView() string {
	st := s.c.Styles
	lines := []string{
		st.Title.Render("Contacts"),
		"",
		"No contacts yet — " + st.Key.Render("i") + " import a CSV, " + st.Key.Render("a") + " add one",
		"",
	}
	lines = append(lines, wrapText(st.Dim.Render("A CSV has a header row and an email, address, phone or psid (Messenger ID) column; every other column becomes a template field like {{.city}}:"), s.width)...)
	lines = append(lines, "", "  email,name,city", "  ann@example.com,Ann Lee,Utrecht")
	return strings.Join(lines, "\n")
}

func (s *ContactsScreen) detailView() string {
	st := s.c.Styles
	c := s.detail.contact
	now := s.c.Now()
	when := func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Local().Format("2006-01-02 15:04") + st.Dim.Render("  "+agoText(now, t))
	}
	tags := strings.Join(c.Tags, ", ")
	if tags == "" {
		tags = st.Dim.Render("none — + adds one")
	}
	lines := []string{st.Title.Render("Contact " + c.Address), ""}
	row := func(label, value string) {
		lines = append(lines, st.Label.Render(fitCell(label, 10))+"  "+value)
	}
	row("Address", c.Address)
	row("Kind", kindText(c.Kind))
	if c.Name != "" {
		row("Name", c.Name)
	}
	row("Tags", tags)
	row("Created", when(c.CreatedAt))
	row("Updated", when(c.UpdatedAt))
	if c.ImportRow > 0 {
		row("Imported", fmt.Sprintf("line %d of its last import", c.ImportRow))
	}
	if s.win.suppressed[c.Key()] {
		row("Suppressed", lipgloss.NewStyle().Foreground(st.Warn).Render("yes — no campaign sends to this address"))
	}
	lines = append(lines, "", st.Header.Render("Fields")+st.Dim.Render("  (templates see {{.address}} and these)"))
	keys := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		lines = append(lines, st.Dim.Render("  none — e edits the contact and adds them"))
	}
	keyW := 0
	for _, k := range keys {
		keyW = max(keyW, len(k))
	}
	keyW = min(keyW, 24)
	for _, k := range keys {
		lines = append(lines, "  "+fitCell(k, keyW)+"  "+c.Fields[k])
	}
	s.detail.scroll = min(s.detail.scroll, max(len(lines)-s.height, 0))
	return strings.Join(lines[s.detail.scroll:], "\n")
}

// kindText says what an address kind is and which channels reach it.
func kindText(k store.AddressKind) string {
	switch k {
	case store.KindEmail:
		return "email  (smtp, file, webhook)"
	case store.KindPhone:
		return "phone  (messenger with its country code; file, webhook)"
	case store.KindPSID:
		return "psid, a Messenger page-scoped ID  (messenger, file, webhook)"
	}
	return string(k)
}
