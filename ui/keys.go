package ui

import "charm.land/bubbles/v2/key"

// One KeyMap per context. Nothing destructive sits on ctrl+d (it scrolls in
// other tools), ctrl+h/j/k/l (tmux navigation) or keys that need AltGr on
// German and AZERTY layouts.

// AppKeyMap holds the keys that work on every screen.
type AppKeyMap struct {
	Quit      key.Binding
	ForceQuit key.Binding
	Help      key.Binding
	Errors    key.Binding
	Screen1   key.Binding
	Screen2   key.Binding
	Screen3   key.Binding
	Next      key.Binding
	Prev      key.Binding
	Close     key.Binding // closes the help and the error list
	// HelpAnywhere opens the help while a text input has the focus, where
	// ? is a character.
	HelpAnywhere key.Binding
}

// DefaultAppKeyMap returns the global keys.
func DefaultAppKeyMap() AppKeyMap {
	return AppKeyMap{
		Quit:         key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQuit:    key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit now")),
		Help:         key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Errors:       key.NewBinding(key.WithKeys("!"), key.WithHelp("!", "recent errors")),
		Screen1:      key.NewBinding(key.WithKeys("1"), key.WithHelp("1", "campaigns")),
		Screen2:      key.NewBinding(key.WithKeys("2"), key.WithHelp("2", "contacts")),
		Screen3:      key.NewBinding(key.WithKeys("3"), key.WithHelp("3", "suppression list")),
		Next:         key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next screen")),
		Prev:         key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous screen")),
		Close:        key.NewBinding(key.WithKeys("esc", "q", "?", "!"), key.WithHelp("esc", "close")),
		HelpAnywhere: key.NewBinding(key.WithKeys("f1"), key.WithHelp("f1", "help, also in a text field")),
	}
}

// ConfirmKeyMap holds the keys of a confirmation dialog.
type ConfirmKeyMap struct {
	Left     key.Binding
	Right    key.Binding
	Toggle   key.Binding
	Activate key.Binding
	Yes      key.Binding
	No       key.Binding
}

// DefaultConfirmKeyMap returns the dialog keys.
func DefaultConfirmKeyMap() ConfirmKeyMap {
	return ConfirmKeyMap{
		Left:     key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←/h", "cancel button")),
		Right:    key.NewBinding(key.WithKeys("right", "l"), key.WithHelp("→/l", "confirm button")),
		Toggle:   key.NewBinding(key.WithKeys("tab", "shift+tab"), key.WithHelp("tab", "switch button")),
		Activate: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "press button")),
		Yes:      key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "confirm")),
		No:       key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n/esc", "cancel")),
	}
}

// NavKeyMap holds the keys that move through a list. Every list's key map
// embeds it, so the same keys page everywhere: pgup/pgdn and, as in less
// and vim, ctrl+b/ctrl+f.
type NavKeyMap struct {
	Up       key.Binding
	Down     key.Binding
	Top      key.Binding
	Bottom   key.Binding
	PageUp   key.Binding
	PageDown key.Binding
}

// DefaultNavKeyMap returns the list navigation keys.
func DefaultNavKeyMap() NavKeyMap {
	return NavKeyMap{
		Up:       key.NewBinding(key.WithKeys("k", "up"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("j", "down"), key.WithHelp("↓/j", "down")),
		Top:      key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g", "top")),
		Bottom:   key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G", "bottom")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f"), key.WithHelp("pgdn", "page down")),
	}
}

// Bindings lists the navigation keys in the order the help shows them.
func (k NavKeyMap) Bindings() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.Top, k.Bottom, k.PageUp, k.PageDown}
}

// CampaignListKeyMap holds the keys of the campaign list.
type CampaignListKeyMap struct {
	NavKeyMap
	Filter    key.Binding
	Open      key.Binding
	New       key.Binding
	Edit      key.Binding
	Duplicate key.Binding
	Delete    key.Binding
	Back      key.Binding
	Reload    key.Binding
	Send      key.Binding
	Watch     key.Binding
	Copy      key.Binding
	Export    key.Binding
}

// DefaultCampaignListKeyMap returns the campaign list keys.
func DefaultCampaignListKeyMap() CampaignListKeyMap {
	return CampaignListKeyMap{
		NavKeyMap: DefaultNavKeyMap(),
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Open:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details")),
		New:       key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new")),
		Edit:      key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit")),
		Duplicate: key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "duplicate")),
		Delete:    key.NewBinding(key.WithKeys("d", "delete"), key.WithHelp("d", "delete")),
		Back:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Reload:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reload")),
		Send:      key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "send")),
		Watch:     key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "watch send")),
		Copy:      key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "copy ID")),
		Export:    key.NewBinding(key.WithKeys("E"), key.WithHelp("E", "export ledger")),
	}
}

// FilterKeyMap holds the keys while the filter input has the focus.
type FilterKeyMap struct {
	Apply key.Binding
	Clear key.Binding
}

// DefaultFilterKeyMap returns the filter input keys.
func DefaultFilterKeyMap() FilterKeyMap {
	return FilterKeyMap{
		Apply: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
		Clear: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
	}
}

// EditorKeyMap holds the keys of the campaign editor. Letters always go to
// the focused field, so every command is a control key.
type EditorKeyMap struct {
	Next       key.Binding
	Prev       key.Binding
	Enter      key.Binding // next field from a single-line input
	Save       key.Binding
	Cancel     key.Binding
	Preview    key.Binding
	ChoiceLeft key.Binding
	ChoiceNext key.Binding
	Reload     key.Binding // after a conflict
	TestSend   key.Binding
	Duplicate  key.Binding // a read-only campaign: a letter, as nothing is typed
}

// DefaultEditorKeyMap returns the editor keys.
func DefaultEditorKeyMap() EditorKeyMap {
	return EditorKeyMap{
		Next:       key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next field")),
		Prev:       key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous field")),
		Enter:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "next field")),
		Save:       key.NewBinding(key.WithKeys("ctrl+s"), key.WithHelp("ctrl+s", "save")),
		Cancel:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		Preview:    key.NewBinding(key.WithKeys("ctrl+p"), key.WithHelp("ctrl+p", "preview")),
		ChoiceLeft: key.NewBinding(key.WithKeys("left"), key.WithHelp("←", "previous channel")),
		ChoiceNext: key.NewBinding(key.WithKeys("right", "space"), key.WithHelp("→/space", "next channel")),
		Reload:     key.NewBinding(key.WithKeys("ctrl+r"), key.WithHelp("ctrl+r", "reload stored version")),
		TestSend:   key.NewBinding(key.WithKeys("ctrl+t"), key.WithHelp("ctrl+t", "send a test")),
		Duplicate:  key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "duplicate")),
	}
}

// SendKeyMap holds the keys of the send dialogs: the preflight's report and
// the confirmation. Confirming needs y, or enter on the focused button:
// Cancel has the focus when the dialog opens.
type SendKeyMap struct {
	Up      key.Binding
	Down    key.Binding
	Edit    key.Binding
	Close   key.Binding
	Toggle  key.Binding
	Press   key.Binding
	Confirm key.Binding
	Cancel  key.Binding
}

// DefaultSendKeyMap returns the send dialog keys.
func DefaultSendKeyMap() SendKeyMap {
	return SendKeyMap{
		Up:      key.NewBinding(key.WithKeys("k", "up"), key.WithHelp("↑/k", "scroll up")),
		Down:    key.NewBinding(key.WithKeys("j", "down"), key.WithHelp("↓/j", "scroll down")),
		Edit:    key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit campaign")),
		Close:   key.NewBinding(key.WithKeys("esc", "enter"), key.WithHelp("esc", "close")),
		Toggle:  key.NewBinding(key.WithKeys("tab", "shift+tab", "left", "right", "h", "l"), key.WithHelp("tab/←/→", "switch button")),
		Press:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "press button")),
		Confirm: key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "send")),
		Cancel:  key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n/esc", "cancel")),
	}
}

// ProgressKeyMap holds the keys of the live progress pane. Cancelling a
// send asks for the campaign's name, so x alone destroys nothing.
type ProgressKeyMap struct {
	Pause    key.Binding
	Resume   key.Binding
	Requeue  key.Binding // r while sending: queue the waiting recipients again
	Cancel   key.Binding
	Rate     key.Binding
	Failures key.Binding
	Retry    key.Binding
	Up       key.Binding
	Down     key.Binding
	Back     key.Binding
}

// DefaultProgressKeyMap returns the progress pane keys.
func DefaultProgressKeyMap() ProgressKeyMap {
	return ProgressKeyMap{
		Pause:    key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause")),
		Resume:   key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "resume")),
		Requeue:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "re-queue")),
		Cancel:   key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "cancel send")),
		Rate:     key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "set rate")),
		Failures: key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "failures")),
		Retry:    key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "retry failed")),
		Up:       key.NewBinding(key.WithKeys("k", "up"), key.WithHelp("↑/k", "scroll failures")),
		Down:     key.NewBinding(key.WithKeys("j", "down"), key.WithHelp("↓/j", "scroll failures")),
		Back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
	}
}

// RateKeyMap holds the keys of the dialog that changes a running send's
// rate; every other key is typing.
type RateKeyMap struct {
	Apply key.Binding
	Keep  key.Binding
}

// DefaultRateKeyMap returns the rate dialog keys.
func DefaultRateKeyMap() RateKeyMap {
	return RateKeyMap{
		Apply: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "set the rate")),
		Keep:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "keep the rate")),
	}
}

// CancelSendKeyMap holds the keys of the dialog that asks for the name of
// the campaign whose send is being cancelled; every other key is typing.
type CancelSendKeyMap struct {
	Confirm key.Binding
	Keep    key.Binding
}

// DefaultCancelSendKeyMap returns the cancel dialog keys.
func DefaultCancelSendKeyMap() CancelSendKeyMap {
	return CancelSendKeyMap{
		Confirm: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "cancel the send")),
		Keep:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "keep sending")),
	}
}

// FailuresKeyMap holds the keys of a campaign's failures view.
type FailuresKeyMap struct {
	NavKeyMap
	Retry  key.Binding
	Copy   key.Binding
	Back   key.Binding
	Filter key.Binding
	Open   key.Binding
}

// DefaultFailuresKeyMap returns the failures view keys.
func DefaultFailuresKeyMap() FailuresKeyMap {
	return FailuresKeyMap{
		NavKeyMap: DefaultNavKeyMap(),
		Retry:     key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "retry failed")),
		Copy:      key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "copy row")),
		Back:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Open:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "whole reason")),
	}
}
