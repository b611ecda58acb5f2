// Package ui holds the Bubble Tea v2 models of tui. Only App implements
// tea.Model; every screen is a concrete type the App owns, built from one
// Common so that each SSH session can have a tree of its own.
package ui

import (
	"context"
	"image/color"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"tui/queue"
	"tui/sending"
	"tui/store"
)

// Common is what every screen shares: the session's dependencies and size.
// Never a package global: two SSH sessions must not share one.
type Common struct {
	Store  *store.Store
	Actor  string       // who this session acts as, for the audit log
	Redis  queue.Status // the connection indicator's latest state
	Styles *Styles
	Now    func() time.Time
	Width  int
	Height int

	// Ctx lives as long as the session: long commands (a send's enqueue,
	// the reads of subscriptions) stop when it ends. The App replaces it
	// with one it cancels in Close.
	Ctx context.Context

	// The sending side. Sends is nil in a session that cannot send (then s
	// says so); Hub and Conn are the process's, shared by every session;
	// Worker is set only with --worker.
	Sends  *sending.Service
	Hub    *sending.Hub
	Conn   *queue.Conn
	Worker *LocalWorker
	// WorkerShared says Worker belongs to a server that outlives this
	// session (tui --ssh --worker): quitting the session never stops it.
	WorkerShared bool

	// LastTestTo is where this session sent its last test (ctrl+t in the
	// editor offers it again).
	LastTestTo string
}

// NewCommon builds the shared state of one session.
func NewCommon(st *store.Store, actor string, redis queue.Status) *Common {
	return &Common{Store: st, Actor: actor, Redis: redis, Styles: DefaultStyles(), Now: time.Now, Ctx: context.Background()}
}

// WithSending gives the session what it needs to start and follow sends:
// the service (whose Conn is dialled only when a send starts), the hub that
// folds worker events, and the in-process worker when there is one (nil
// otherwise). It returns c for chaining.
func (c *Common) WithSending(svc *sending.Service, hub *sending.Hub, w *LocalWorker) *Common {
	c.Sends, c.Hub, c.Worker = svc, hub, w
	if svc != nil && svc.Conn != nil {
		c.Conn = svc.Conn
		c.Redis = svc.Conn.Status()
	}
	return c
}

// Screen is what the App needs from each top-level screen. Concrete screens
// return themselves from Update.
type Screen interface {
	Init() tea.Cmd
	Update(tea.Msg) (Screen, tea.Cmd)
	View() string
	SetSize(width, height int)
	// Capturing is true while a text input or dialog has focus: the App then
	// passes every key except ctrl+c through instead of acting on it.
	Capturing() bool
	// Breadcrumb is where the person is, e.g. ["Campaigns", "Spring sale"].
	Breadcrumb() []string
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
}

// FlashMsg shows a short message in the status bar: about 3 s for info,
// 6 s for errors. Errors also stay in the error list.
type FlashMsg struct {
	Text string
	Err  bool
}

// Flash is a command that shows an info message.
func Flash(text string) tea.Cmd {
	return func() tea.Msg { return FlashMsg{Text: text} }
}

// ErrorMsg reports a failed operation; the App flashes it and keeps it in
// the error list. The error's text must say what happened and what to do.
type ErrorMsg struct{ Err error }

// ReportError is a command that surfaces err.
func ReportError(err error) tea.Cmd {
	return func() tea.Msg { return ErrorMsg{Err: err} }
}

// DataKind names what stored data changed.
type DataKind string

// The kinds of stored data a DataChangedMsg names.
const (
	AllData         DataKind = "" // anything may have changed
	CampaignData    DataKind = "campaigns"
	ContactData     DataKind = "contacts"
	SuppressionData DataKind = "suppression"
)

// DataChangedMsg tells every screen that stored data changed (in this or
// another session) and that what they show may be stale.
type DataChangedMsg struct{ What DataKind }

// DataChanged is a command that broadcasts a DataChangedMsg.
func DataChanged(what DataKind) tea.Cmd {
	return func() tea.Msg { return DataChangedMsg{What: what} }
}

// Styles is the palette, adaptive to light and dark terminals.
type Styles struct {
	Accent, Muted, Ok, Warn, Bad color.Color

	Title      lipgloss.Style
	Header     lipgloss.Style // column headers
	Selected   lipgloss.Style // the cursor row
	Dim        lipgloss.Style
	Error      lipgloss.Style
	Success    lipgloss.Style
	Key        lipgloss.Style // a key in help text, e.g. "n"
	Border     lipgloss.Style // panes
	Dialog     lipgloss.Style
	StatusBar  lipgloss.Style
	Breadcrumb lipgloss.Style
	Input      lipgloss.Style // an unfocused form field
	Focused    lipgloss.Style // a focused form field
	Label      lipgloss.Style
}

// DefaultStyles returns the styles for a dark background; SetDark switches.
func DefaultStyles() *Styles {
	s := &Styles{}
	s.SetDark(true)
	return s
}

// SetDark picks colours for a dark or light terminal background.
func (s *Styles) SetDark(dark bool) {
	ld := lipgloss.LightDark(dark)
	s.Accent = ld(lipgloss.Color("#5A3FC0"), lipgloss.Color("#A593F5"))
	s.Muted = ld(lipgloss.Color("#6B6B6B"), lipgloss.Color("#8A8A8A"))
	s.Ok = ld(lipgloss.Color("#1E7B34"), lipgloss.Color("#5FD787"))
	s.Warn = ld(lipgloss.Color("#A35F00"), lipgloss.Color("#FFB454"))
	s.Bad = ld(lipgloss.Color("#B3261E"), lipgloss.Color("#FF6B6B"))

	s.Title = lipgloss.NewStyle().Bold(true).Foreground(s.Accent)
	s.Header = lipgloss.NewStyle().Bold(true).Foreground(s.Muted)
	s.Selected = lipgloss.NewStyle().Reverse(true)
	s.Dim = lipgloss.NewStyle().Foreground(s.Muted)
	s.Error = lipgloss.NewStyle().Foreground(s.Bad)
	s.Success = lipgloss.NewStyle().Foreground(s.Ok)
	s.Key = lipgloss.NewStyle().Bold(true).Foreground(s.Accent)
	s.Border = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(s.Muted)
	s.Dialog = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(s.Accent).Padding(1, 2)
	s.StatusBar = lipgloss.NewStyle()
	s.Breadcrumb = lipgloss.NewStyle().Bold(true)
	s.Input = lipgloss.NewStyle().Border(lipgloss.NormalBorder()).BorderForeground(s.Muted)
	s.Focused = lipgloss.NewStyle().Border(lipgloss.NormalBorder()).BorderForeground(s.Accent)
	s.Label = lipgloss.NewStyle().Bold(true)
}

// StatusBadge colours a campaign status.
func (s *Styles) StatusBadge(st store.Status) string {
	c := s.Muted
	switch st {
	case store.StatusSending:
		c = s.Accent
	case store.StatusPaused, store.StatusScheduled:
		c = s.Warn
	case store.StatusCompleted:
		c = s.Ok
	case store.StatusFailed, store.StatusCancelled:
		c = s.Bad
	}
	return lipgloss.NewStyle().Foreground(c).Render(string(st))
}

// MinWidth and MinHeight are the smallest usable terminal; below it the App
// shows one centred line saying so.
const (
	MinWidth  = 60
	MinHeight = 15
)

// copyToClipboard puts text on the clipboard of the terminal the person
// sits at (OSC 52, which also crosses SSH) and says what was copied.
// Terminals that refuse OSC 52 (tmux without set-clipboard) ignore it.
func copyToClipboard(text, what string) tea.Cmd {
	return tea.Batch(tea.SetClipboard(text), Flash("Copied "+what))
}
