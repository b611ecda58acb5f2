package ui

import (
	"slices"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"tui/store"
)

// A layer is one thing open over the campaign list: the delete question,
// the export dialog, the editor, the send flow, the live pane of a send.
// The campaign screen keeps them on a stack. Keys and pastes go to the top
// layer, which closes itself (esc, mostly); every other message goes to
// every layer, each keeping what is its own. What a layer produces or asks
// for comes back to the screen as a message, its reply, handled in the same
// Update: the next key already finds the editor or dialog it opened.
type layer interface {
	// Update handles one message. reply, when not nil, is for the screen: a
	// result (the saved campaign) or a request (the editor, the export
	// dialog, to go on working behind the screen).
	Update(msg tea.Msg) (cmd tea.Cmd, reply tea.Msg)
	// View draws the layer in w×h. below draws what it covers: a dialog is
	// drawn over it; a layer that fills the screen never calls it.
	View(w, h int, below func() string) string
	SetSize(w, h int)
	// Capturing is true while the layer takes every key, the App's too.
	Capturing() bool
	// TypingText is true while a text input has the focus, where ? is a
	// character.
	TypingText() bool
	// Done is true once the layer has closed: the screen drops it.
	Done() bool
	// ShortHelp is the footer's keys. A dialog's FullHelp is nil: the full
	// help is that of what it covers.
	help.KeyMap
}

// placed is a layer that fills the screen and says where the person is.
type placed interface{ Breadcrumb() []string }

// unsaved is a layer that may hold typing not yet saved.
type unsaved interface{ Dirty() bool }

// The replies of layers.
type (
	// campaignSavedMsg: the editor saved the campaign and closed.
	campaignSavedMsg struct{ c store.Campaign }
	// editCampaignMsg asks for the editor on a campaign (e on a send that
	// cannot start).
	editCampaignMsg struct{ c store.Campaign }
	// watchSendMsg asks for the live pane of a campaign's send.
	watchSendMsg struct{ c store.Campaign }
	// exportLedgerMsg asks for the export dialog of a campaign's ledger.
	exportLedgerMsg struct {
		id   uint64
		name string
	}
	// goBehindMsg: the layer leaves the screen but goes on working, like a
	// send that goes on queueing after esc. It gets every message still,
	// but no keys, and is dropped once done.
	goBehindMsg struct{ l layer }
)

// push opens a layer over the others.
func (s *CampaignsScreen) push(l layer) {
	l.SetSize(s.width, s.height)
	s.stack = append(s.stack, l)
}

// top is the layer that has the keys, or nil when the list has them.
func (s *CampaignsScreen) top() layer {
	if len(s.stack) == 0 {
		return nil
	}
	return s.stack[len(s.stack)-1]
}

// toTop gives a key or a paste to the top layer.
func (s *CampaignsScreen) toTop(msg tea.Msg) tea.Cmd {
	cmd, reply := s.top().Update(msg)
	return tea.Batch(cmd, s.settle(reply))
}

// toLayers gives a message to every layer, on screen or behind it.
func (s *CampaignsScreen) toLayers(msg tea.Msg) tea.Cmd {
	all := s.layers()
	if len(all) == 0 {
		return nil
	}
	cmds := make([]tea.Cmd, 0, len(all)+1)
	replies := make([]tea.Msg, 0, len(all))
	for _, l := range all {
		cmd, reply := l.Update(msg)
		cmds = append(cmds, cmd)
		replies = append(replies, reply)
	}
	return tea.Batch(append(cmds, s.settle(replies...))...)
}

// settle drops the layers that closed, then acts on the replies.
func (s *CampaignsScreen) settle(replies ...tea.Msg) tea.Cmd {
	done := func(l layer) bool { return l.Done() }
	s.stack = slices.DeleteFunc(s.stack, done)
	s.behind = slices.DeleteFunc(s.behind, done)
	var cmds []tea.Cmd
	for _, r := range replies {
		if r != nil {
			cmds = append(cmds, s.onReply(r))
		}
	}
	return tea.Batch(cmds...)
}

// onReply acts on what a layer produced or asks for.
func (s *CampaignsScreen) onReply(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case campaignSavedMsg:
		s.showStored(msg.c)
		return tea.Batch(Flash("Saved '"+msg.c.Name+"'"), DataChanged(CampaignData), s.wantSizes())
	case editCampaignMsg:
		s.detail = false
		return s.openEditor(msg.c)
	case watchSendMsg:
		return s.openPane(msg.c)
	case exportLedgerMsg:
		return s.openExport(msg.id, msg.name)
	case goBehindMsg:
		s.stack = slices.DeleteFunc(s.stack, func(l layer) bool { return l == msg.l })
		s.behind = append(s.behind, msg.l)
	}
	return nil
}

// layers is every layer, on screen or behind it.
func (s *CampaignsScreen) layers() []layer { return append(slices.Clip(s.stack), s.behind...) }

// dialogOver draws a dialog box centred over what it covers.
func dialogOver(w, h int, below func() string, box string) string {
	return Overlay(w, h, fitLines(below(), w, h), box)
}

// deleteLayer asks before a campaign is deleted. Its question names the
// number of recipients, which may be counted while it is open.
type deleteLayer struct {
	confirm *Confirm
	id      uint64
	// question is the question for campaign id once the audience key was
	// counted, or false when the count is not that campaign's.
	question func(id uint64, audience string) (string, bool)
	done     bool
}

func (d *deleteLayer) Update(msg tea.Msg) (tea.Cmd, tea.Msg) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		closed, cmd := d.confirm.Update(msg)
		d.done = closed
		return cmd, nil
	case audienceSizeMsg:
		if q, ok := d.question(d.id, msg.key); ok {
			d.confirm.SetTitle(q)
		}
	}
	return nil, nil
}

func (d *deleteLayer) View(w, h int, below func() string) string {
	return dialogOver(w, h, below, d.confirm.View())
}

func (d *deleteLayer) SetSize(int, int)          {}
func (d *deleteLayer) Capturing() bool           { return true }
func (d *deleteLayer) TypingText() bool          { return false }
func (d *deleteLayer) Done() bool                { return d.done }
func (d *deleteLayer) ShortHelp() []key.Binding  { return d.confirm.ShortHelp() }
func (d *deleteLayer) FullHelp() [][]key.Binding { return nil }

// exportLayer asks where to write a campaign's ledger.
type exportLayer struct{ d *exportDialog }

func (d *exportLayer) Update(msg tea.Msg) (tea.Cmd, tea.Msg) {
	switch msg.(type) {
	case tea.KeyPressMsg, tea.PasteMsg, ledgerExportedMsg, pathCompletionsMsg:
		return d.d.Update(msg), nil
	}
	return nil, nil
}

func (d *exportLayer) View(w, h int, below func() string) string {
	return dialogOver(w, h, below, d.d.View())
}

func (d *exportLayer) SetSize(int, int)          {}
func (d *exportLayer) Capturing() bool           { return true }
func (d *exportLayer) TypingText() bool          { return true }
func (d *exportLayer) Done() bool                { return d.d.Done() }
func (d *exportLayer) ShortHelp() []key.Binding  { return d.d.ShortHelp() }
func (d *exportLayer) FullHelp() [][]key.Binding { return nil }

// flowLayer is a send being started. esc while it queues sends it behind
// the screen, where it finishes.
type flowLayer struct{ f *sendFlow }

func (l *flowLayer) Update(msg tea.Msg) (tea.Cmd, tea.Msg) {
	shown := l.f.capturing()
	cmd := l.f.Update(msg)
	switch {
	case l.f.ended():
		return cmd, l.f.result()
	case shown && !l.f.capturing():
		return cmd, goBehindMsg{l}
	}
	return cmd, nil
}

func (l *flowLayer) View(w, h int, below func() string) string {
	return dialogOver(w, h, below, l.f.View())
}

func (l *flowLayer) SetSize(w, h int)          { l.f.setSize(w, h) }
func (l *flowLayer) Capturing() bool           { return l.f.capturing() }
func (l *flowLayer) TypingText() bool          { return false }
func (l *flowLayer) Done() bool                { return l.f.ended() }
func (l *flowLayer) ShortHelp() []key.Binding  { return l.f.ShortHelp() }
func (l *flowLayer) FullHelp() [][]key.Binding { return nil }

// paneLayer is the live pane of a send. E on it, when nothing in it has the
// keys, opens the export dialog of the send's ledger over it.
type paneLayer struct {
	p      *progressPane
	export key.Binding
}

func (l *paneLayer) Update(msg tea.Msg) (tea.Cmd, tea.Msg) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if !l.p.capturing() && key.Matches(msg, l.export) {
			id, name := l.p.campaign()
			return nil, exportLedgerMsg{id: id, name: name}
		}
		return l.p.Update(msg), nil
	case tea.PasteMsg, spinner.TickMsg, sendUpdatesMsg, sendControlMsg,
		paneLoadedMsg, failuresLoadedMsg, retryAskMsg, retryStartMsg, retryProgressMsg, retryDoneMsg:
		return l.p.Update(msg), nil
	}
	return nil, nil
}

func (l *paneLayer) View(int, int, func() string) string { return l.p.View() }
func (l *paneLayer) SetSize(w, h int)                    { l.p.setSize(w, h) }
func (l *paneLayer) Capturing() bool                     { return l.p.capturing() }
func (l *paneLayer) TypingText() bool                    { return l.p.typingText() }
func (l *paneLayer) Done() bool                          { return l.p.Done() }
func (l *paneLayer) ShortHelp() []key.Binding            { return l.p.ShortHelp() }
func (l *paneLayer) FullHelp() [][]key.Binding           { return l.p.FullHelp() }
func (l *paneLayer) Breadcrumb() []string                { return l.p.Breadcrumb() }

// editorLayer is the campaign editor; it fills the screen.
type editorLayer struct{ *Editor }

func (l editorLayer) Update(msg tea.Msg) (tea.Cmd, tea.Msg) {
	cmd := l.Editor.Update(msg)
	if saved := l.Result(); l.Done() && saved != nil {
		return cmd, campaignSavedMsg{*saved}
	}
	return cmd, nil
}

func (l editorLayer) Capturing() bool                       { return true }
func (l editorLayer) TypingText() bool                      { return l.typingText() }
func (l editorLayer) View(_, _ int, _ func() string) string { return l.Editor.View() }
