package ui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// Confirm asks a yes/no question in a bordered box. Cancel has the focus
// when it opens, so a reflexive enter never destroys anything.
type Confirm struct {
	c        *Common
	title    string
	body     string
	yesLabel string
	noLabel  string // "Cancel" unless the question is itself about cancelling
	yes      tea.Cmd
	focusYes bool
	answered bool
	keys     ConfirmKeyMap
}

// NewConfirm builds a dialog whose yes button runs the yes command.
func NewConfirm(c *Common, title, body, yesLabel string, yes tea.Cmd) *Confirm {
	if yesLabel == "" {
		yesLabel = "OK"
	}
	return &Confirm{c: c, title: title, body: body, yesLabel: yesLabel, noLabel: "Cancel", yes: yes, keys: DefaultConfirmKeyMap()}
}

// WithNoLabel names the button that answers no, where "Cancel" would read
// as the thing asked about.
func (d *Confirm) WithNoLabel(label string) *Confirm {
	d.noLabel = label
	return d
}

// Update handles one message. closed is true once the person answered; cmd
// is the yes command when they confirmed.
func (d *Confirm) Update(msg tea.Msg) (closed bool, cmd tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return false, nil
	}
	switch {
	case key.Matches(k, d.keys.Yes):
		d.answered = true
		return true, d.yes
	case key.Matches(k, d.keys.No):
		return true, nil
	case key.Matches(k, d.keys.Left):
		d.focusYes = false
	case key.Matches(k, d.keys.Right):
		d.focusYes = true
	case key.Matches(k, d.keys.Toggle):
		d.focusYes = !d.focusYes
	case key.Matches(k, d.keys.Activate):
		if d.focusYes {
			d.answered = true
			return true, d.yes
		}
		return true, nil
	}
	return false, nil
}

// Confirmed reports whether the dialog closed with yes. Owners that must act
// before the next key arrives check it instead of waiting for the command.
func (d *Confirm) Confirmed() bool { return d.answered }

// ShortHelp lists the dialog's keys.
func (d *Confirm) ShortHelp() []key.Binding {
	return []key.Binding{d.keys.Toggle, d.keys.Activate, d.keys.Yes, d.keys.No}
}

// View renders the dialog box; place it with Center or Overlay.
func (d *Confirm) View() string {
	st := d.c.Styles
	// The box must fit the smallest usable terminal and stay readable on a
	// wide one.
	inner := 56
	if d.c.Width > 0 && d.c.Width-10 < inner {
		inner = max(d.c.Width-10, 20)
	}
	// The focused button is bracketed as well as highlighted, so it is
	// plain on a terminal without colour too.
	button := func(label string, focused bool) string {
		if focused {
			return lipgloss.NewStyle().Reverse(true).Bold(true).Render("[ " + label + " ]")
		}
		return lipgloss.NewStyle().Foreground(st.Muted).Render("  " + label + "  ")
	}
	buttons := lipgloss.JoinHorizontal(lipgloss.Top,
		button(d.noLabel, !d.focusYes), "  ", button(d.yesLabel, d.focusYes))
	parts := []string{}
	if d.title != "" {
		parts = append(parts, st.Title.Render(d.title), "")
	}
	if d.body != "" {
		parts = append(parts, lipgloss.NewStyle().Width(inner).Render(d.body), "")
	}
	parts = append(parts, lipgloss.PlaceHorizontal(inner, lipgloss.Right, buttons))
	hint := st.Dim.Render("y confirm · n/esc " + strings.ToLower(d.noLabel) + " · ←/→ choose")
	parts = append(parts, lipgloss.PlaceHorizontal(inner, lipgloss.Right, hint))
	return st.Dialog.Render(strings.Join(parts, "\n"))
}

// Center places s in the middle of a w×h area.
func Center(w, h int, s string) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, s)
}

// Overlay draws fg centred on top of bg (a w×h pane), keeping the rest of
// the pane visible around it so the person still sees what they act on.
func Overlay(w, h int, bg, fg string) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	fw, fh := lipgloss.Width(fg), lipgloss.Height(fg)
	x, y := max((w-fw)/2, 0), max((h-fh)/2, 0)
	// A blank margin keeps the text behind from running into the box's
	// border ("│ed"); a sliver of a few cells left at an edge is a word
	// cut in two that reads as part of the box, so the margin reaches the
	// edge instead.
	const sliver = 5
	left, right := min(x, 1), min(max(w-x-fw, 0), 1)
	if x <= sliver {
		left = x
	}
	if rest := w - x - fw; rest <= sliver {
		right = max(rest, 0)
	}
	if left > 0 || right > 0 {
		lines := strings.Split(fg, "\n")
		for i, l := range lines {
			lines[i] = strings.Repeat(" ", left) + l + strings.Repeat(" ", fw-lipgloss.Width(l)+right)
		}
		fg = strings.Join(lines, "\n")
		x -= left
		fw += left + right
	}
	canvas := lipgloss.NewCanvas(w, h)
	canvas.Compose(lipgloss.NewCompositor(
		lipgloss.NewLayer(bg),
		lipgloss.NewLayer(fg).X(x).Y(y).Z(1),
	))
	return canvas.Render()
}

// SetTitle replaces the question, e.g. once a count it names is known.
func (d *Confirm) SetTitle(title string) { d.title = title }

// compactDialog drops a dialog's blank separator lines when the area is
// too short for them, so the box, its input and its keys still fit.
func compactDialog(parts []string, boxHeight int) []string {
	const frame = 4 // border and padding, top and bottom
	lines := frame
	for _, p := range parts {
		lines += strings.Count(p, "\n") + 1
	}
	if lines <= boxHeight {
		return parts
	}
	out := parts[:0:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
