package ui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// SuppressionScreen lists suppressed addresses. (Placeholder.)
type SuppressionScreen struct{ c *Common }

// NewSuppressionScreen builds the suppression list screen.
func NewSuppressionScreen(c *Common) *SuppressionScreen { return &SuppressionScreen{c: c} }

func (s *SuppressionScreen) Init() tea.Cmd                    { return nil }
func (s *SuppressionScreen) Update(tea.Msg) (Screen, tea.Cmd) { return s, nil }
func (s *SuppressionScreen) View() string                     { return "Suppression" }
func (s *SuppressionScreen) SetSize(int, int)                 {}
func (s *SuppressionScreen) Capturing() bool                  { return false }
func (s *SuppressionScreen) Breadcrumb() []string             { return []string{"Suppression list"} }
func (s *SuppressionScreen) ShortHelp() []key.Binding         { return nil }
func (s *SuppressionScreen) FullHelp() [][]key.Binding        { return nil }
