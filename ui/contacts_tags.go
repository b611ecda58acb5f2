package ui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"tui/internal/english"
	"tui/store"
)

// tagPicker chooses one existing tag: type to narrow the list, arrows to
// move, enter to apply. Offering only tags that exist means a typo can not
// produce a filter that silently matches nobody.
type tagPicker struct {
	c       *Common
	input   textinput.Model
	all     []store.TagCount
	matches []store.TagCount
	sel     int
	keys    PickerKeyMap
}

func newTagPicker(c *Common, tags []store.TagCount, current string) *tagPicker {
	p := &tagPicker{c: c, input: newFieldInput("type to narrow"), keys: DefaultPickerKeyMap()}
	p.input.Focus()
	p.setTags(tags)
	for i, t := range p.matches {
		if t.Tag == current {
			p.sel = i
		}
	}
	return p
}

func (p *tagPicker) setTags(tags []store.TagCount) {
	p.all = tags
	p.narrow()
}

func (p *tagPicker) narrow() {
	q := strings.ToLower(strings.TrimSpace(p.input.Value()))
	p.matches = p.matches[:0]
	// Tags that start with what was typed come first, then the others
	// that contain it.
	var rest []store.TagCount
	for _, t := range p.all {
		switch {
		case strings.HasPrefix(t.Tag, q):
			p.matches = append(p.matches, t)
		case strings.Contains(t.Tag, q):
			rest = append(rest, t)
		}
	}
	p.matches = append(p.matches, rest...)
	p.sel = min(p.sel, max(len(p.matches)-1, 0))
}

// Update handles one message; on formSubmit chosen is the tag.
func (p *tagPicker) Update(msg tea.Msg) (action formAction, chosen string, cmd tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case key.Matches(k, p.keys.Cancel):
			return formCancel, "", nil
		case key.Matches(k, p.keys.Choose):
			if len(p.matches) == 0 {
				return formKeep, "", nil
			}
			return formSubmit, p.matches[p.sel].Tag, nil
		case key.Matches(k, p.keys.Up):
			if p.sel > 0 {
				p.sel--
			}
			return formKeep, "", nil
		case key.Matches(k, p.keys.Down):
			if p.sel < len(p.matches)-1 {
				p.sel++
			}
			return formKeep, "", nil
		case key.Matches(k, p.keys.Complete):
			if len(p.matches) > 0 {
				p.input.SetValue(p.matches[p.sel].Tag)
				p.input.CursorEnd()
				p.narrow()
			}
			return formKeep, "", nil
		}
	}
	before := p.input.Value()
	p.input, cmd = p.input.Update(msg)
	if p.input.Value() != before {
		p.sel = 0
		p.narrow()
	}
	return formKeep, "", cmd
}

// View renders the picker in a width×height area.
func (p *tagPicker) View(width, height int) string {
	st := p.c.Styles
	p.input.SetWidth(max(width-8, 1))
	lines := []string{
		cutLine(st.Title.Render("Filter by tag")+st.Dim.Render("  ↑/↓ choose · tab complete · enter apply · esc cancel"), width),
		cutLine(st.Key.Render("tag › ")+p.input.View(), width),
	}
	switch {
	case len(p.all) == 0:
		lines = append(lines, "", cutLine(st.Dim.Render("No tags yet — mark contacts and press + to tag them, or give tags when you import"), width))
	case len(p.matches) == 0:
		lines = append(lines, "", cutLine(st.Dim.Render("No tag contains “"+p.input.Value()+"”"), width))
	default:
		room := max(height-len(lines), 1)
		first := 0
		if p.sel >= room {
			first = p.sel - room + 1
		}
		tagW := 0
		for _, t := range p.matches {
			tagW = max(tagW, len(t.Tag))
		}
		tagW = min(tagW, max(width-16, 4))
		for i := first; i < len(p.matches) && i < first+room; i++ {
			t := p.matches[i]
			line := "  " + fitCell(t.Tag, tagW) + "  " + st.Dim.Render(english.Count(t.Count, "contact", "contacts"))
			if i == p.sel {
				line = st.Selected.Render(padLine("› "+fitCell(t.Tag, tagW)+"  "+english.Count(t.Count, "contact", "contacts"), width))
			}
			lines = append(lines, cutLine(line, width))
		}
	}
	return strings.Join(lines, "\n")
}

// ShortHelp lists the picker's keys.
func (p *tagPicker) ShortHelp() []key.Binding {
	return []key.Binding{p.keys.Up, p.keys.Down, p.keys.Complete, p.keys.Choose, p.keys.Cancel}
}
