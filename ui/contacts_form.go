package ui

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"tui/store"
)

// miniForm is the small single-line form the contacts, import and
// suppression screens share: a few labelled inputs, an inline error per
// field, enter to go on, esc to cancel. Every letter goes to the focused
// input; only esc, enter, tab, shift+tab and ctrl+s act on the form.
type miniForm struct {
	c      *Common
	title  string
	intro  string
	fields []*formField
	focus  int
	err    string // a problem with the whole form, e.g. the store refused it
	busy   string // set while the submitted values are being saved
	keys   miniFormKeyMap

	// maxLines, when above 0, is the height the form may use: a longer
	// one scrolls to keep the focused field in view.
	maxLines int

	// optionalFrom, when above 0, is the first of the trailing fields
	// that only tab reaches: enter on the field before it, or on any of
	// them, saves, so an advanced field does not lengthen the usual way
	// through the form.
	optionalFrom int

	// discard, when set, is the question esc asks before it closes a
	// form whose values changed ("Discard this contact?"): what was typed
	// is not lost to one key, as in the campaign editor.
	discard string
	initial []string // the values the form opened with
	confirm *Confirm // the question, while it is asked
}

// askDiscard makes esc ask question before it drops what was typed.
func (f *miniForm) askDiscard(question string) *miniForm {
	f.discard = question
	return f
}

func (f *miniForm) values() []string {
	out := make([]string, len(f.fields))
	for i, fl := range f.fields {
		out[i] = fl.input.Value()
	}
	return out
}

// dirty reports whether a value differs from the one the form opened with.
func (f *miniForm) dirty() bool {
	if f.initial == nil {
		return false
	}
	for i, v := range f.values() {
		if v != f.initial[i] {
			return true
		}
	}
	return false
}

type formField struct {
	label string
	hint  string
	input textinput.Model
	err   string
	// tags, when set, makes the field complete comma-separated tags.
	tags []string
	// check, when set, says what is wrong with a value ("" when nothing):
	// the person hears about a bad address when leaving the field rather
	// than after filling in the rest.
	check func(string) string
	// paths, when set, makes the field complete file paths, relative ones
	// from pathCwd; matches are what the directory listing offered.
	paths   bool
	pathCwd string
	matches []string
	listed  string // the value matches were listed for
	// tabWaiting: tab came before the listing of what was typed; it
	// completes once the listing arrives.
	tabWaiting bool
	// pending: keys typed while the tab waited; they follow the
	// completion, as they would have after a slower tab.
	pending []tea.KeyPressMsg
}

// pathCompletionsMsg carries the entries of a directory that complete what
// was typed in a path field; the listing runs in a command.
type pathCompletionsMsg struct {
	field   *formField
	value   string
	matches []string
}

type formAction int

const (
	formKeep formAction = iota
	formSubmit
	formCancel
)

type miniFormKeyMap struct {
	Next, Prev, Enter, Submit, Cancel key.Binding
}

func defaultMiniFormKeyMap() miniFormKeyMap {
	return miniFormKeyMap{
		Next:   key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next field / complete")),
		Prev:   key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous field")),
		Enter:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "next / save")),
		Submit: key.NewBinding(key.WithKeys("ctrl+s"), key.WithHelp("ctrl+s", "save")),
		Cancel: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	}
}

// newFieldInput is a text input without a prompt and with a steady cursor:
// a blinking one repaints the screen twice a second for nothing.
func newFieldInput(placeholder string) textinput.Model {
	in := textinput.New()
	in.Prompt = ""
	in.Placeholder = placeholder
	st := in.Styles()
	st.Cursor.Blink = false
	in.SetStyles(st)
	return in
}

func newMiniForm(c *Common, title, intro string, fields ...*formField) *miniForm {
	f := &miniForm{c: c, title: title, intro: intro, fields: fields, keys: defaultMiniFormKeyMap()}
	f.focusField(0)
	return f
}

func newFormField(label, placeholder, hint string) *formField {
	return &formField{label: label, hint: hint, input: newFieldInput(placeholder)}
}

func (f *miniForm) value(i int) string { return strings.TrimSpace(f.fields[i].input.Value()) }

func (f *miniForm) focusField(i int) tea.Cmd {
	if len(f.fields) == 0 {
		return nil
	}
	i = (i + len(f.fields)) % len(f.fields)
	for j, fl := range f.fields {
		if j != i {
			fl.input.Blur()
		}
	}
	f.focus = i
	return f.fields[i].input.Focus()
}

// fail marks field i with msg and moves the focus there.
func (f *miniForm) fail(i int, msg string) tea.Cmd {
	f.busy = ""
	f.fields[i].err = msg
	return f.focusField(i)
}

// Update handles one message; the caller acts on formSubmit and formCancel.
func (f *miniForm) Update(msg tea.Msg) (formAction, tea.Cmd) {
	if f.busy != "" {
		// Saving: keys would edit values that are already on their way.
		if k, ok := msg.(tea.KeyPressMsg); ok && key.Matches(k, f.keys.Cancel) {
			return formCancel, nil
		}
		return formKeep, nil
	}
	if f.initial == nil {
		// Before the first message can change anything: the values the
		// form was opened with, filled in by its screen.
		f.initial = f.values()
	}
	if f.confirm != nil {
		switch m := msg.(type) {
		case tea.KeyPressMsg:
			if closed, _ := f.confirm.Update(m); closed {
				yes := f.confirm.Confirmed()
				f.confirm = nil
				if yes {
					return formCancel, nil
				}
			}
			return formKeep, nil
		case tea.PasteMsg:
			return formKeep, nil // not into a field hidden behind the question
		}
	}
	if m, ok := msg.(pathCompletionsMsg); ok {
		for i, fl := range f.fields {
			if fl != m.field || fl.input.Value() != m.value {
				continue
			}
			if len(m.matches) == 1 && m.matches[0] == m.value {
				m.matches = nil // complete already
			}
			fl.matches, fl.listed = m.matches, m.value
			fl.input.SetSuggestions(m.matches)
			if fl.tabWaiting && i == f.focus {
				pending := fl.pending
				fl.tabWaiting, fl.pending = false, nil
				cmd, done := f.completePath(fl)
				if !done {
					f.checkField(fl)
					cmd = f.focusField(f.focus + 1)
				}
				action := formKeep
				for _, k := range pending {
					if action != formKeep {
						break
					}
					var next tea.Cmd
					action, next = f.Update(k)
					cmd = tea.Batch(cmd, next)
				}
				return action, cmd
			}
		}
		return formKeep, nil
	}
	fl := f.fields[f.focus]
	if k, ok := msg.(tea.KeyPressMsg); ok && fl.tabWaiting && !key.Matches(k, f.keys.Cancel) {
		fl.pending = append(fl.pending, k)
		return formKeep, nil
	}
	if k, ok := msg.(tea.KeyPressMsg); ok && fl.paths && key.Matches(k, f.keys.Next) {
		if fl.listed != fl.input.Value() && fl.input.Value() != "" {
			// Typed faster than the directory was read: the tab waits
			// for the listing rather than leaving the field.
			fl.tabWaiting = true
			return formKeep, nil
		}
		if cmd, done := f.completePath(fl); done {
			return formKeep, cmd
		}
	}
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case key.Matches(k, f.keys.Cancel):
			if f.discard != "" && f.dirty() {
				f.confirm = NewConfirm(f.c, f.discard, "What you typed will be lost.", "Discard", nil)
				return formKeep, nil
			}
			return formCancel, nil
		case key.Matches(k, f.keys.Submit):
			return formSubmit, nil
		case key.Matches(k, f.keys.Enter):
			if f.checkField(fl) {
				return formKeep, nil
			}
			if f.focus == len(f.fields)-1 || (f.optionalFrom > 0 && f.focus >= f.optionalFrom-1) {
				return formSubmit, nil
			}
			return formKeep, f.focusField(f.focus + 1)
		case key.Matches(k, f.keys.Prev):
			f.checkField(fl)
			return formKeep, f.focusField(f.focus - 1)
		case key.Matches(k, f.keys.Next):
			if !canComplete(&fl.input) {
				f.checkField(fl)
				return formKeep, f.focusField(f.focus + 1)
			}
		}
	}
	before := fl.input.Value()
	var cmd tea.Cmd
	fl.input, cmd = fl.input.Update(msg)
	if fl.input.Value() != before {
		fl.err, f.err = "", ""
	}
	if fl.tags != nil {
		fl.input.SetSuggestions(tagCompletions(fl.input.Value(), fl.tags))
	}
	if fl.paths && fl.input.Value() != before {
		fl.matches, fl.listed, fl.tabWaiting = nil, "", false
		fl.input.SetSuggestions(nil)
		return formKeep, tea.Batch(cmd, listPathCompletions(fl, fl.input.Value()))
	}
	return formKeep, cmd
}

// completePath completes a path field like a shell: several matches
// complete to what they share, one match completes whole. It reports
// whether there was anything to complete.
func (f *miniForm) completePath(fl *formField) (tea.Cmd, bool) {
	if p := commonPrefix(fl.matches); len(fl.matches) > 0 && len(p) > len(fl.input.Value()) {
		fl.input.SetValue(p)
		fl.input.CursorEnd()
		return listPathCompletions(fl, p), true
	}
	if canComplete(&fl.input) {
		// One the person chose with ↓/↑ among several.
		fl.input.SetValue(fl.input.CurrentSuggestion())
		fl.input.CursorEnd()
		return listPathCompletions(fl, fl.input.Value()), true
	}
	return nil, false
}

// withPaths makes the field complete file paths with tab.
func (fl *formField) withPaths(cwd string) *formField {
	fl.paths, fl.pathCwd = true, cwd
	fl.input.ShowSuggestions = true
	return fl
}

// listPathCompletions lists, in a command, the entries of the directory
// being typed whose names start with what follows its last slash.
func listPathCompletions(fl *formField, value string) tea.Cmd {
	cwd := fl.pathCwd
	return func() tea.Msg {
		return pathCompletionsMsg{field: fl, value: value, matches: pathCompletions(value, cwd)}
	}
}

// pathCompletions is the whole values that complete value: "~/Dow"
// gives "~/Downloads/"; directories end in a slash so the next tab goes on
// inside them. Hidden entries appear once a dot is typed.
func pathCompletions(value, cwd string) []string {
	dirPart, base := "", value
	if i := strings.LastIndexByte(value, '/'); i >= 0 {
		dirPart, base = value[:i+1], value[i+1:]
	}
	dir := dirPart
	switch {
	case dir == "":
		dir = cwd
	case dir == "~/" || strings.HasPrefix(dir, "~/"):
		home, err := os.UserHomeDir()
		if err != nil {
			return nil
		}
		dir = filepath.Join(home, dir[2:])
	case !filepath.IsAbs(dir):
		if cwd == "" {
			return nil
		}
		dir = filepath.Join(cwd, dir)
	}
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, base) || (strings.HasPrefix(name, ".") && !strings.HasPrefix(base, ".")) {
			continue
		}
		if e.IsDir() {
			name += "/"
		} else if info, err := os.Stat(filepath.Join(dir, name)); err == nil && info.IsDir() {
			name += "/" // a link to a directory
		}
		out = append(out, dirPart+name)
		if len(out) == 200 {
			break
		}
	}
	sort.Strings(out)
	return out
}

// commonPrefix is the longest start all of ss share.
func commonPrefix(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	p := ss[0]
	for _, s := range ss[1:] {
		for !strings.HasPrefix(s, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}

// matchesHint names the entries that complete a path, for the line under
// the field.
func matchesHint(matches []string, w int) string {
	names := make([]string, 0, len(matches))
	for _, m := range matches {
		if i := strings.LastIndexByte(strings.TrimSuffix(m, "/"), '/'); i >= 0 {
			m = m[i+1:]
		}
		names = append(names, m)
	}
	text := fmt.Sprintf("%d matches: %s · ↓/↑ choose, tab takes it", len(names), strings.Join(names, "  "))
	return cutLine(text, w)
}

// checkField runs the field's check and reports whether it failed.
func (f *miniForm) checkField(fl *formField) bool {
	if fl.check == nil || strings.TrimSpace(fl.input.Value()) == "" {
		return false
	}
	fl.err = fl.check(fl.input.Value())
	return fl.err != ""
}

// withCheck gives the field a check run when the person leaves it.
func (fl *formField) withCheck(check func(string) string) *formField {
	fl.check = check
	return fl
}

// checkAddress is the check of an address field.
func checkAddress(v string) string {
	if _, err := store.NormalizeAddress(v); err != nil {
		return err.Error()
	}
	return ""
}

// canComplete reports whether tab would add something to the input.
func canComplete(in *textinput.Model) bool {
	s := in.CurrentSuggestion()
	return in.ShowSuggestions && s != "" && len(s) > len(in.Value())
}

// withTags makes the field complete tags from the given list.
func (fl *formField) withTags(tags []string) *formField {
	fl.tags = tags
	if fl.tags == nil {
		fl.tags = []string{}
	}
	fl.input.ShowSuggestions = true
	fl.input.SetSuggestions(tagCompletions(fl.input.Value(), fl.tags))
	return fl
}

// tagCompletions turns known tags into whole-value suggestions for the last
// tag being typed in a comma-separated list: "vip, ne" suggests "vip, new".
func tagCompletions(value string, tags []string) []string {
	cut := strings.LastIndexAny(value, ", ;") + 1
	prefix, partial := value[:cut], strings.ToLower(value[cut:])
	if partial == "" {
		return nil
	}
	have := map[string]bool{}
	for _, t := range strings.FieldsFunc(prefix, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		have[strings.ToLower(t)] = true
	}
	var out []string
	for _, t := range tags {
		if !have[t] && strings.HasPrefix(t, partial) {
			out = append(out, prefix+t)
		}
	}
	return out
}

// View renders the form in a width-wide column, with the question esc
// asked under it, or over it when the form's height leaves no room.
func (f *miniForm) View(width int) string {
	view := f.view(width)
	if f.confirm == nil {
		return view
	}
	box := f.confirm.View()
	if f.maxLines > 0 && lipgloss.Height(view)+1+lipgloss.Height(box) > f.maxLines {
		return Overlay(width, f.maxLines, fitLines(view, width, f.maxLines), box)
	}
	return view + "\n\n" + box
}

func (f *miniForm) view(width int) string {
	st := f.c.Styles
	labelW := 0
	for _, fl := range f.fields {
		labelW = max(labelW, len(fl.label))
	}
	// The input draws one cell more than its width, for the cursor.
	inputW := max(width-labelW-6, 8)
	var lines []string
	if f.title != "" {
		lines = append(lines, cutLine(st.Title.Render(f.title), width))
	}
	if f.intro != "" {
		for _, l := range wrapText(f.intro, width) {
			lines = append(lines, st.Dim.Render(l))
		}
	}
	lines = append(lines, "")
	head := len(lines)
	focusAt := 0
	for i, fl := range f.fields {
		marker := "  "
		label := st.Label.Render(fitCell(fl.label, labelW))
		if i == f.focus {
			marker = st.Key.Render("› ")
		}
		fl.input.SetWidth(inputW)
		if i == f.focus {
			focusAt = len(lines)
		}
		lines = append(lines, cutLine(marker+label+"  "+fl.input.View(), width))
		indent := strings.Repeat(" ", labelW+4)
		switch {
		case fl.err != "":
			for _, l := range wrapText("✗ "+fl.err, max(width-len(indent), 10)) {
				lines = append(lines, indent+st.Error.Render(l))
			}
		case fl.paths && len(fl.matches) > 1 && i == f.focus:
			lines = append(lines, indent+st.Dim.Render(matchesHint(fl.matches, max(width-len(indent), 10))))
		case fl.hint != "" && i == f.focus:
			hint := fl.hint
			if fl.paths {
				hint += " · tab completes"
			}
			lines = append(lines, cutLine(indent+st.Dim.Render(hint), width))
		}
	}
	body := lines[head:]
	var tail []string
	tail = append(tail, "")
	switch {
	case f.busy != "":
		tail = append(tail, cutLine(st.Dim.Render(f.busy), width))
	case f.err != "":
		for _, l := range wrapText("✗ "+f.err, width) {
			tail = append(tail, st.Error.Render(l))
		}
	}
	if room := f.maxLines - head - len(tail); f.maxLines > 0 && len(body) > room && room >= 3 {
		// The fields scroll: the focused one and the lines under it (its
		// hint or error) stay in view, with marks for what is hidden.
		focus := focusAt - head
		end := min(len(body), focus+3)
		start := max(end-(room-2), 0)
		end = min(len(body), start+room-2)
		window := []string{st.Dim.Render("  ↑ more fields (shift+tab)")}
		if start == 0 {
			window = window[:0]
			end = min(len(body), room-1)
		}
		window = append(window, body[start:end]...)
		if end < len(body) {
			window = append(window, st.Dim.Render("  ↓ more fields (tab)"))
		}
		body = window
	}
	return strings.Join(append(append(lines[:head:head], body...), tail...), "\n")
}

// ShortHelp lists the form's keys.
func (f *miniForm) ShortHelp() []key.Binding {
	if f.confirm != nil {
		return f.confirm.ShortHelp()
	}
	return []key.Binding{f.keys.Enter, f.keys.Next, f.keys.Prev, f.keys.Cancel}
}
