package ui

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"tui/internal/english"
	"tui/store"
)

// rateDialog asks for a running send's new rate. Every worker follows
// within a second, so a send that floods a provider can be slowed down, and
// one that crawls sped up, without stopping it.
type rateDialog struct {
	c     *Common
	keys  RateKeyMap
	name  string
	from  int
	input textinput.Model
	err   string

	done bool // closed; rate is the answer when set is true
	set  bool
	rate int
}

func newRateDialog(c *Common, l *sendLive) *rateDialog {
	in := newPromptInput(c, "0", 8)
	if l.c.Rate > 0 {
		in.SetValue(strconv.Itoa(l.c.Rate))
		in.CursorEnd()
	}
	return &rateDialog{c: c, keys: DefaultRateKeyMap(), name: l.c.Name, from: l.c.Rate, input: in}
}

func (d *rateDialog) focus() tea.Cmd { return d.input.Focus() }

// Update takes every key: only enter and esc are not typing.
func (d *rateDialog) Update(msg tea.Msg) tea.Cmd {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case key.Matches(k, d.keys.Keep):
			d.done = true
			return nil
		case key.Matches(k, d.keys.Apply):
			rate, err := parseRate(d.input.Value())
			if err != nil {
				d.err = err.Error()
				return nil
			}
			d.done, d.set, d.rate = true, rate != d.from, rate
			return nil
		}
	}
	var cmd tea.Cmd
	d.input, cmd = d.input.Update(msg)
	d.err = ""
	return cmd
}

// parseRate reads messages per second; empty is no limit.
func parseRate(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > store.MaxRate {
		return 0, fmt.Errorf("%q is not a rate: type messages per second from 0 (no limit) to %s", s, english.Thousands(store.MaxRate))
	}
	return n, nil
}

// View renders the dialog box for a pane of width w.
func (d *rateDialog) View(w, h int) string {
	now := "no limit"
	if d.from > 0 {
		now = english.Thousands(d.from) + "/s"
	}
	return promptView(d.c, w, h, &d.input, fmt.Sprintf("Rate of '%s'", d.name),
		"Now "+now+", shared by every worker; a new rate reaches them all within a second. 0 or empty: no limit.",
		"Messages per second:", d.err, "enter sets it · esc keeps it")
}
