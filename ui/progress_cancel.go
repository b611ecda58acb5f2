package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/internal/english"
	"tui/store"
)

// cancelSendDialog asks for the campaign's name before a running send is
// cancelled: cancelling cannot be undone, and a reflexive key must not do
// it. A wrong name does nothing but say so.
type cancelSendDialog struct {
	c    *Common
	keys CancelSendKeyMap
	name string
	// live is the send as the board has it now: the dialog's counts move
	// while the name is typed, and it notices when the send ends.
	live  func() *sendLive
	input textinput.Model
	err   string

	done      bool // closed without cancelling
	confirmed bool // the name was typed: cancel the send
}

// newPromptInput is the one-line input of the pane's dialogs.
func newPromptInput(c *Common, placeholder string, limit int) textinput.Model {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = placeholder
	st := textinput.DefaultStyles(true)
	st.Cursor.Blink = false
	st.Focused.Prompt = c.Styles.Key
	st.Focused.Placeholder = c.Styles.Dim
	in.SetStyles(st)
	in.CharLimit = limit
	return in
}

// promptView draws a pane dialog that asks for one line: a title, what it
// does, the label and input, an error, and its keys, in a box for a w×h
// pane.
func promptView(c *Common, w, h int, in *textinput.Model, title, body, label, err, keys string) string {
	st := c.Styles
	inner := max(min(w-10, 60), 20)
	in.SetWidth(inner - 3)
	parts := []string{
		st.Title.Render(ansi.Truncate(title, inner, "…")), "",
		lipgloss.NewStyle().Width(inner).Render(body), "",
	}
	if label != "" {
		// A prompt that asks nothing more (the send ended) shows no input.
		parts = append(parts, label, in.View())
	}
	if err != "" {
		parts = append(parts, st.Error.Render(lipgloss.NewStyle().Width(inner).Render(err)))
	}
	parts = append(parts, "", lipgloss.PlaceHorizontal(inner, lipgloss.Right, st.Dim.Render(keys)))
	return st.Dialog.Render(strings.Join(compactDialog(parts, h), "\n"))
}

func newCancelSendDialog(c *Common, l *sendLive, live func() *sendLive) *cancelSendDialog {
	in := newPromptInput(c, l.c.Name, 200)
	return &cancelSendDialog{c: c, keys: DefaultCancelSendKeyMap(), name: l.c.Name, live: live, input: in}
}

// ended reports whether the send is over already, and how.
func (d *cancelSendDialog) ended() (store.Status, bool) {
	l := d.live()
	if l == nil || l.active() {
		return "", false
	}
	return l.c.Status, true
}

// body says what cancelling does now, with the send's latest counts.
func (d *cancelSendDialog) body() string {
	l := d.live()
	if l == nil {
		return "The send's numbers are not known yet."
	}
	if status, over := d.ended(); over {
		return fmt.Sprintf("The send ended while you typed: it is %s (%s of %s sent). There is nothing left to cancel — esc closes this.",
			status, english.Thousands(l.count(store.RecipientSent)), english.Thousands(l.send.Total))
	}
	left := l.send.Total - l.final()
	if l.send.Counts[store.RecipientSent] == 0 && l.final() == 0 {
		return fmt.Sprintf("Nobody has been sent to yet. All %s become cancelled, and this cannot be undone.",
			english.Count(l.send.Total, "recipient", "recipients"))
	}
	return fmt.Sprintf("%s of %s are done. The %s not sent yet become cancelled, and this cannot be undone. Deliveries under way finish.",
		english.Thousands(l.final()), english.Thousands(l.send.Total), english.Count(left, "recipient", "recipients"))
}

func (d *cancelSendDialog) focus() tea.Cmd { return d.input.Focus() }

// Update takes every key: only enter and esc are not typing.
func (d *cancelSendDialog) Update(msg tea.Msg) tea.Cmd {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case key.Matches(k, d.keys.Keep):
			d.done = true
			return nil
		case key.Matches(k, d.keys.Confirm):
			if _, over := d.ended(); over {
				d.done = true // nothing to cancel: the body said so
				return nil
			}
			if strings.TrimSpace(d.input.Value()) == d.name {
				d.confirmed = true
				return nil
			}
			d.err = fmt.Sprintf("That is not the name. Type %s exactly to cancel, or esc to keep sending.", d.name)
			return nil
		}
	}
	var cmd tea.Cmd
	d.input, cmd = d.input.Update(msg)
	return cmd
}

// View renders the dialog box for a pane of width w.
func (d *cancelSendDialog) View(w, h int) string {
	if _, over := d.ended(); over {
		return promptView(d.c, w, h, &d.input, fmt.Sprintf("The send of '%s' is over", d.name), d.body(),
			"", "", "enter or esc closes")
	}
	return promptView(d.c, w, h, &d.input, fmt.Sprintf("Cancel the send of '%s'?", d.name), d.body(),
		"Type the campaign's name to confirm:", d.err, "enter cancels the send · esc keeps it going")
}
