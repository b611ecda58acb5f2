package ui

import (
	"strings"
	"testing"

	"charm.land/bubbles/v2/key"
	"github.com/charmbracelet/x/ansi"
)

// A section too wide for the terminal wraps onto rows of its own, and its
// columns carried onto a new row say whose they are: a screen's keys never
// sit under the title of the keys that work everywhere.
func TestHelpSectionsDoNotShareTheirTitles(t *testing.T) {
	bind := func(k, desc string) key.Binding { return key.NewBinding(key.WithKeys(k), key.WithHelp(k, desc)) }
	screen := helpSection{title: "Contacts", groups: [][]key.Binding{
		{bind("↑/k", "up"), bind("↓/j", "down"), bind("pgdn", "page down")},
		{bind("/", "filter"), bind("esc", "clear filter/marks")},
		{bind("space", "mark"), bind("-", "remove tag")},
		{bind("enter", "details"), bind("i", "import CSV"), bind("s", "suppress")},
	}}
	everywhere := helpSection{title: "Everywhere", groups: [][]key.Binding{
		{bind("1", "campaigns"), bind("shift+tab", "previous screen")},
		{bind("q", "quit"), bind("f1", "help, also in a text field")},
	}}
	for _, w := range []int{60, 80, 120, 200} {
		out, _ := renderFullHelp(DefaultStyles(), w, 60, []helpSection{screen, everywhere}, 0)
		lines := strings.Split(ansi.Strip(out), "\n")
		// The owner of a key is the title nearest to its left on the
		// nearest title line above it.
		titleOf := func(desc string) string {
			for i, l := range lines {
				col := strings.Index(l, desc)
				if col < 0 {
					continue
				}
				for j := i - 1; j >= 0; j-- {
					owner, at := "", -1
					for _, title := range []string{"Contacts, continued", "Contacts", "Everywhere"} {
						if tc := strings.Index(lines[j], title); tc >= 0 && tc <= col && tc > at {
							owner, at = title, tc
						}
					}
					if owner != "" {
						return owner
					}
				}
			}
			return ""
		}
		if got := titleOf("suppress"); !strings.HasPrefix(got, "Contacts") {
			t.Errorf("at %d columns, \"s suppress\" sits under %q:\n%s", w, got, strings.Join(lines, "\n"))
		}
		if got := titleOf("quit"); got != "Everywhere" {
			t.Errorf("at %d columns, \"q quit\" sits under %q:\n%s", w, got, strings.Join(lines, "\n"))
		}
	}
}
