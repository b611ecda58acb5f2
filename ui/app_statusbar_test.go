package ui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"tui/queue"
	"tui/store"
)

func TestStatusBarKeepsWhatMatters(t *testing.T) {
	b := statusBar{styles: DefaultStyles(), dbPath: "~/.local/share/tui/tui.db"}
	idle := queue.IdleStatus(queue.DefaultURL)
	counts := &store.Counts{Campaigns: 10000, Contacts: 1000000}
	render := func(w int, in statusInfo) string { return ansi.Strip(b.View(w, in)) }

	// At 80 columns the indicator says in full that nothing is connected.
	got := render(80, statusInfo{crumbs: []string{"Campaigns"}, redis: idle, counts: counts})
	if !strings.Contains(got, "redis: not connected — dials when a send starts") || !strings.HasSuffix(got, "? help") {
		t.Errorf("80 columns: %q", got)
	}
	// Wide: everything, the path and the counts too.
	got = render(200, statusInfo{crumbs: []string{"Campaigns", "Spring sale"}, redis: idle, counts: counts})
	for _, want := range []string{"Campaigns › Spring sale", "~/.local/share/tui/tui.db", "10,000 campaigns · 1,000,000 contacts", "dials when a send starts"} {
		if !strings.Contains(got, want) {
			t.Errorf("200 columns lacks %q: %q", want, got)
		}
	}
	// One of each is not "1 campaigns".
	got = render(200, statusInfo{crumbs: []string{"Campaigns"}, redis: idle, counts: &store.Counts{Campaigns: 1, Contacts: 1}})
	if !strings.Contains(got, "1 campaign · 1 contact │") {
		t.Errorf("one of each: %q", got)
	}
	// A flash is shown whole at 80 columns; the indicator shortens for it.
	got = render(80, statusInfo{crumbs: []string{"Campaigns", "Copy of Spring sale"}, redis: idle,
		flash: "Duplicated as 'Copy of Spring sale'"})
	if !strings.Contains(got, "✓ Duplicated as 'Copy of Spring sale'") || !strings.Contains(got, "redis: idle") {
		t.Errorf("80 columns with a flash: %q", got)
	}
	// Never wider than the terminal, never more than one line.
	for w := 0; w <= 220; w++ {
		got := b.View(w, statusInfo{crumbs: []string{"Campaigns", strings.Repeat("long name ", 8), "Edit"}, redis: idle,
			flash: strings.Repeat("error text ", 12), flashErr: true, counts: counts})
		if ansi.StringWidth(got) > w || strings.Contains(got, "\n") {
			t.Fatalf("width %d: %d cells: %q", w, ansi.StringWidth(got), ansi.Strip(got))
		}
	}
}

func TestTildePath(t *testing.T) {
	t.Setenv("HOME", "/home/ada")
	for in, want := range map[string]string{
		"/home/ada/.local/share/tui/tui.db": "~/.local/share/tui/tui.db",
		"/home/adam/tui.db":                 "/home/adam/tui.db",
		"/srv/tui.db":                       "/srv/tui.db",
	} {
		if got := tildePath(in); got != want {
			t.Errorf("tildePath(%q) = %q, want %q", in, got, want)
		}
	}
}
