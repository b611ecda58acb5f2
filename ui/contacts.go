package ui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// ContactsScreen lists contacts. (Placeholder: replaced by the real screen.)
type ContactsScreen struct{ c *Common }

// NewContactsScreen builds the contacts screen.
func NewContactsScreen(c *Common) *ContactsScreen { return &ContactsScreen{c: c} }

func (s *ContactsScreen) Init() tea.Cmd                    { return nil }
func (s *ContactsScreen) Update(tea.Msg) (Screen, tea.Cmd) { return s, nil }
func (s *ContactsScreen) View() string                     { return "Contacts" }
func (s *ContactsScreen) SetSize(int, int)                 {}
func (s *ContactsScreen) Capturing() bool                  { return false }
func (s *ContactsScreen) Breadcrumb() []string             { return []string{"Contacts"} }
func (s *ContactsScreen) ShortHelp() []key.Binding         { return nil }
func (s *ContactsScreen) FullHelp() [][]key.Binding        { return nil }
