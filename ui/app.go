package ui

import (
	tea "charm.land/bubbletea/v2"
)

// App is the root model. (Placeholder: replaced by the real root.)
type App struct {
	c *Common
}

// NewApp builds the root model of one session.
func NewApp(c *Common) *App { return &App{c: c} }

func (a *App) Init() tea.Cmd { return nil }

func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok && (k.String() == "q" || k.String() == "ctrl+c") {
		return a, tea.Quit
	}
	return a, nil
}

func (a *App) View() tea.View { return tea.NewView("tui") }
