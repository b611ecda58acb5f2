package ui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/message"
	"tui/sending"
	"tui/store"
)

// The editor's body format choice, its preview of the message's parts, and
// its test send (ctrl+t): the campaign as the form stands, rendered for the
// preview's recipient and delivered once to the addresses typed, through a
// running worker; nothing stored changes but the audit log.

// handleFormatKey picks the body format as handleChannelKey picks the
// channel.
func (e *Editor) handleFormatKey(k tea.KeyPressMsg) tea.Cmd {
	n := len(store.BodyFormats)
	switch {
	case key.Matches(k, e.keys.ChoiceLeft):
		e.format = (e.format + n - 1) % n
	case key.Matches(k, e.keys.ChoiceNext):
		e.format = (e.format + 1) % n
	case key.Matches(k, e.keys.Enter):
		return e.moveFocus(1)
	default:
		for i, f := range store.BodyFormats {
			if k.Text != "" && strings.HasPrefix(f, strings.ToLower(k.Text)) {
				e.format = i
			}
		}
	}
	delete(e.errs, fFormat)
	e.refreshPreview()
	return nil
}

func (e *Editor) formatChoices(focused bool) string {
	st := e.c.Styles
	var parts []string
	for i, f := range store.BodyFormats {
		if i == e.format {
			parts = append(parts, lipgloss.NewStyle().Reverse(focused).Bold(true).Foreground(st.Accent).Render(" "+f+" "))
		} else {
			parts = append(parts, st.Dim.Render(" "+f+" "))
		}
	}
	value := strings.Join(parts, "")
	if focused && !e.readOnly {
		value += st.Dim.Render("  ←/→")
	}
	return value
}

// previewParts shows the text part of the message, and says what else it
// carries: an HTML part, the one-click unsubscribe link.
func (e *Editor) previewParts(w int) string {
	st := e.c.Styles
	f, _ := message.ParseFormat(e.preview.Format)
	p := message.Split(f, e.preview.Body)
	var b strings.Builder
	if p.HTML != "" {
		from := "written in HTML"
		if f == message.FormatMarkdown {
			from = "rendered from the Markdown"
		}
		b.WriteString(st.Dim.Render(ansi.Truncate(fmt.Sprintf("HTML part: %s, %s; the text part below goes with it", humanBytes(len(p.HTML)), from), max(w, 1), "…")) + "\n")
	}
	if e.preview.Unsubscribe != "" {
		b.WriteString(st.Dim.Render(ansi.Truncate("One-click unsubscribe: "+e.preview.Unsubscribe, max(w, 1), "…")) + "\n")
	} else if store.Channels[e.channel] == store.ChannelSMTP {
		b.WriteString(lipgloss.NewStyle().Foreground(st.Warn).Render(ansi.Truncate("No one-click unsubscribe: set TUI_UNSUBSCRIBE_URL (Gmail and Yahoo ask for it)", max(w, 1), "…")) + "\n")
	}
	b.WriteString(st.Dim.Render(strings.Repeat("─", max(min(w, 60), 1))) + "\n")
	b.WriteString(lipgloss.NewStyle().Width(w).Render(previewText(p.Text)))
	return b.String()
}

func humanBytes(n int) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f KB", float64(n)/1024)
}

// testPrompt asks where to send a test.
type testPrompt struct {
	input textinput.Model
	err   string
	keys  testPromptKeys
}

type testPromptKeys struct{ Send, Cancel key.Binding }

type editorTestDoneMsg struct {
	id, req int
	rep     sending.TestReport
	err     error
}

func (e *Editor) openTest() tea.Cmd {
	switch {
	case e.readOnly && e.orig.ID == 0:
		return nil
	case e.c.Sends == nil:
		e.note = "Test sends need Redis and a worker: this session cannot send."
		return nil
	case e.testing:
		return Flash("A test send is already under way")
	}
	ti := textinput.New()
	ti.Prompt = ""
	ti.Placeholder = "you@example.com, colleague@example.com"
	ti.CharLimit = 500
	ti.SetWidth(44)
	ti.SetValue(e.c.LastTestTo)
	ti.CursorEnd()
	e.test = &testPrompt{input: ti, keys: testPromptKeys{
		Send:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "send the test")),
		Cancel: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	}}
	return e.test.input.Focus()
}

func (e *Editor) testKey(k tea.KeyPressMsg) tea.Cmd {
	t := e.test
	switch {
	case key.Matches(k, t.keys.Cancel):
		e.test = nil
		return nil
	case key.Matches(k, t.keys.Send):
		addrs, err := sending.ParseTestAddresses(t.input.Value())
		if err != nil {
			t.err = err.Error()
			return nil
		}
		camp, fe := e.campaign()
		if fe != nil {
			t.err = fe.Error()
			return nil
		}
		if err := camp.Validate(); err != nil {
			t.err = "fix the form first: " + err.Error()
			return nil
		}
		e.test, e.testing = nil, true
		e.c.LastTestTo = strings.Join(addrs, ", ")
		e.testReq++
		e.note = ""
		req, id, svc, actor, ctx := e.testReq, e.id, e.c.Sends, e.c.Actor, e.c.Ctx
		contact := ""
		if e.recipient != nil {
			contact = fmt.Sprint(e.recipient.ID)
		}
		return tea.Batch(Flash(fmt.Sprintf("Sending a test to %s through a %s worker…", strings.Join(addrs, ", "), camp.Channel)),
			func() tea.Msg {
				rep, err := svc.TestSend(ctx, actor, sending.TestRequest{Campaign: camp, Contact: contact, To: addrs})
				return editorTestDoneMsg{id: id, req: req, rep: rep, err: err}
			})
	}
	var cmd tea.Cmd
	t.input, cmd = t.input.Update(k)
	t.err = ""
	return cmd
}

func (e *Editor) testDone(msg editorTestDoneMsg) tea.Cmd {
	e.testing = false
	lines := msg.rep.Lines()
	switch {
	case msg.err != nil:
		e.note = "Test not sent: " + msg.err.Error()
		return ReportError(fmt.Errorf("test send: %w", msg.err))
	case msg.rep.OK():
		var to, by []string
		for _, r := range msg.rep.Results {
			to, by = append(to, r.To), append(by, r.Worker)
		}
		return Flash(fmt.Sprintf("Test delivered to %s (worker %s)", strings.Join(to, ", "), strings.Join(slices.Compact(by), ", ")))
	}
	e.note = "Test: " + strings.Join(lines, "; ")
	return ReportError(fmt.Errorf("test send: %s", strings.Join(lines, "; ")))
}

// View draws the prompt box.
func (t *testPrompt) View(c *Common) string {
	st := c.Styles
	parts := []string{st.Title.Render("Send a test"), "",
		"To (comma-separated):", t.input.View(), ""}
	if t.err != "" {
		parts = append(parts, lipgloss.NewStyle().Width(48).Render(st.Error.Render("✗ "+t.err)), "")
	}
	parts = append(parts, lipgloss.NewStyle().Width(48).Render(st.Dim.Render(
		"The form as it stands, rendered for the preview's recipient, subject marked "+strings.TrimSpace(sending.TestSubjectPrefix)+
			"; delivered once by a running worker. Nothing is recorded in the campaign.")),
		"", st.Dim.Render("enter send · esc cancel"))
	return st.Dialog.Render(strings.Join(parts, "\n"))
}

// ShortHelp lists the prompt's keys.
func (t *testPrompt) ShortHelp() []key.Binding { return []key.Binding{t.keys.Send, t.keys.Cancel} }

// sampleText is the preflight sample's text part, the part every client
// shows.
func sampleText(p *sending.Preflight) string {
	f, _ := message.ParseFormat(p.Campaign.Format)
	return message.Split(f, p.Sample.Body).Text
}
