package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// newHelp builds the footer's short help in the session's palette.
func newHelp(st *Styles) help.Model {
	h := help.New()
	h.Styles.ShortKey = st.Key
	h.Styles.ShortDesc = st.Dim
	h.Styles.ShortSeparator = st.Dim
	h.Styles.Ellipsis = st.Dim
	h.Styles.FullKey = st.Key
	h.Styles.FullDesc = lipgloss.NewStyle()
	h.Styles.FullSeparator = st.Dim
	return h
}

// helpSection is one titled block of the full help.
type helpSection struct {
	title  string
	groups [][]key.Binding
}

// renderFullHelp lays the sections out as columns that flow onto new rows
// when the terminal is narrow, inside a box that fits w×h. When they do
// not fit the box scrolls: scroll is its first line, returned clamped. A
// section that does not fit beside another starts a row of its own, and
// its columns carried onto a new row repeat its title: keys under another
// section's title would seem to be that section's (the contacts' "s
// suppress" read as a key for everywhere).
func renderFullHelp(st *Styles, w, h int, sections []helpSection, scroll int) (string, int) {
	type column struct {
		section int
		first   bool // the section's first column
		body    string
	}
	var cols []column
	sectionW := make([]int, len(sections))
	for i, sec := range sections {
		first := true
		for _, g := range sec.groups {
			var lines []string
			keyW := 0
			for _, b := range g {
				if b.Enabled() {
					keyW = max(keyW, ansi.StringWidth(b.Help().Key))
				}
			}
			for _, b := range g {
				if !b.Enabled() || b.Help().Key == "" {
					continue
				}
				k := b.Help().Key
				lines = append(lines, st.Key.Render(k)+strings.Repeat(" ", keyW-ansi.StringWidth(k)+2)+b.Help().Desc)
			}
			if len(lines) == 0 {
				continue
			}
			body := strings.Join(lines, "\n")
			cols = append(cols, column{section: i, first: first, body: body})
			sectionW[i] += max(lipgloss.Width(body), ansi.StringWidth(sec.title)) + 4
			first = false
		}
	}
	inner := max(w-6, 10)
	var rows []string
	var row []string
	rowW, rowSection := 0, -1
	for _, c := range cols {
		title := ""
		if c.first {
			title = sections[c.section].title
		}
		cw := max(lipgloss.Width(c.body), ansi.StringWidth(title)) + 4
		wrap := rowW > 0 && rowW+cw > inner
		if c.first && rowW > 0 && rowSection != c.section && rowW+sectionW[c.section] > inner {
			wrap = true // the section would be split: it starts its own row
		}
		if wrap {
			rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
			row, rowW = nil, 0
			if !c.first {
				title = sections[c.section].title + ", continued"
				cw = max(lipgloss.Width(c.body), ansi.StringWidth(title)) + 4
			}
		}
		row = append(row, lipgloss.NewStyle().PaddingRight(4).Render(st.Label.Render(title)+"\n"+c.body))
		rowW += cw
		rowSection = c.section
	}
	if len(row) > 0 {
		rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
	}
	return scrollBox(st, w, h, st.Title.Render("Keys"), strings.Join(rows, "\n\n"), "esc or ? closes this help", scroll)
}

// scrollBox draws a titled box no larger than w×h whose body scrolls: when
// it does not fit, the last line says how much is above and below and how
// to scroll. It returns the box and the scroll, clamped.
func scrollBox(st *Styles, w, h int, title, body, foot string, scroll int) (string, int) {
	maxW, maxH := max(w-4, 8), max(h-2, 3)
	box := st.Dialog.Padding(0, 1)
	innerW := max(maxW-box.GetHorizontalFrameSize(), 1)
	innerH := maxH - box.GetVerticalFrameSize()
	lines := strings.Split(body, "\n")
	room := max(innerH-3, 1) // the title, a blank line and the foot
	scroll = max(min(scroll, len(lines)-room), 0)
	if len(lines) > room {
		end := min(scroll+room, len(lines))
		lines = lines[scroll:end]
		var where []string
		if scroll > 0 {
			where = append(where, fmt.Sprintf("↑ %d more", scroll))
		}
		if rest := len(strings.Split(body, "\n")) - end; rest > 0 {
			where = append(where, fmt.Sprintf("↓ %d more", rest))
		}
		foot = strings.Join(where, " · ") + " — j/k or ↓/↑ scroll · " + foot
	}
	out := append([]string{title, ""}, lines...)
	out = append(out, st.Dim.Render(foot))
	for i, l := range out {
		out[i] = ansi.Truncate(l, innerW, "…")
	}
	return box.Render(strings.Join(out, "\n")), scroll
}

// loggedError is one entry of the recent-errors list.
type loggedError struct {
	at   time.Time
	text string
}

// maxLoggedErrors bounds the list: it is for what just went wrong, not a log.
const maxLoggedErrors = 50

func renderErrorList(st *Styles, w, h int, errs []loggedError) string {
	var b strings.Builder
	b.WriteString(st.Title.Render("Recent errors") + "\n\n")
	if len(errs) == 0 {
		b.WriteString("No errors in this session.\n")
	}
	inner := max(w-8, 10)
	for i := len(errs) - 1; i >= 0; i-- {
		e := errs[i]
		line := st.Dim.Render(e.at.Format("15:04:05")) + "  " + e.text
		b.WriteString(lipgloss.NewStyle().Width(inner).Render(line) + "\n")
	}
	b.WriteString("\n" + st.Dim.Render("esc closes this list"))
	return fitBox(st, w, h, b.String())
}

// fitBox draws body in a bordered box no larger than w×h, cutting lines that
// do not fit rather than wrapping them off screen.
func fitBox(st *Styles, w, h int, body string) string {
	maxW, maxH := max(w-4, 8), max(h-2, 3)
	box := st.Dialog.Padding(0, 1)
	innerW := maxW - box.GetHorizontalFrameSize()
	innerH := maxH - box.GetVerticalFrameSize()
	lines := strings.Split(body, "\n")
	if len(lines) > innerH && innerH > 0 {
		lines = append(lines[:innerH-1], "…")
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, max(innerW, 1), "…")
	}
	return box.Render(strings.Join(lines, "\n"))
}

// TypingText reports whether the focus is on a text input, where ? is a
// character; elsewhere ? opens the help even while the screen has the keys.
func (s *CampaignsScreen) TypingText() bool {
	if s.top() != nil {
		return s.top().TypingText()
	}
	return s.filtering
}

func (e *Editor) typingText() bool {
	switch {
	case e.test != nil:
		return true
	case e.confirm != nil, e.readOnly:
		return false
	}
	switch e.focus {
	case fChannel, fMsgType, fMsgTag, fFormat:
		return false
	}
	return true
}

func (p *progressPane) typingText() bool {
	switch {
	case p.cancelDlg != nil, p.rateDlg != nil:
		return true
	case p.failures != nil:
		return p.failures.filtering
	}
	return false
}

// TypingText: see CampaignsScreen.TypingText.
func (s *ContactsScreen) TypingText() bool {
	switch {
	case s.dialog != nil:
		return false
	case s.imp != nil:
		return s.imp.stage == importForm
	}
	return s.prompt != nil || s.form != nil || s.picker != nil || s.filtering
}

// TypingText: see CampaignsScreen.TypingText.
func (s *SuppressionScreen) TypingText() bool { return s.filtering || s.form != nil }
