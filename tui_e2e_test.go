package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tui/store"
)

// A whole session of the real binary in a real terminal, as a newcomer would
// go through it: browse every screen, import contacts, create a campaign,
// edit it, filter, ask for help, quit. REDIS_URL points at a listener that
// counts connections: not one may arrive.
func TestBrowseCreateEditMakesNoConnection(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tui.db")
	csv := filepath.Join(dir, "people.csv")
	if err := os.WriteFile(csv, []byte("email,name,city\nada@example.com,Ada,London\nbob@example.com,Bob,Paris\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	redis := newConnCounter(t)
	term := startTerminal(t, 80, 24, []string{"TUI_DB=" + db, "REDIS_URL=" + redis.url(), "HOME=" + dir}, tuiBinary(t))
	screen := term.waitFor("No campaigns yet", "press n", "redis: not connected — dials when a send starts")
	if strings.Contains(screen, "sekrit") {
		t.Fatalf("the screen shows the Redis password:\n%s", screen)
	}

	// Every screen, and help.
	term.keys("2")
	term.waitFor("No contacts yet")
	term.keys("3")
	term.waitFor("Suppression")
	term.keys("?")
	term.waitFor("Everywhere", "esc close")
	term.keys("Escape")
	term.waitGone("Everywhere")
	term.keys("2")
	term.waitFor("No contacts yet")

	// Import through the TUI.
	term.keys("i")
	term.waitFor("Import contacts from a CSV file")
	term.typeText(csv)
	term.keys("Tab")
	term.typeText("news")
	term.keys("Enter")
	term.waitFor("Imported people.csv", "2 created")
	term.keys("Enter")
	term.waitFor("ada@example.com", "bob@example.com")

	// Create a campaign.
	term.keys("1")
	term.waitFor("No campaigns yet")
	term.keys("n")
	term.waitFor("New campaign")
	term.typeText("Spring sale")
	term.keys("Tab", "Tab")
	term.typeText("Hi {{.name}}")
	term.keys("Tab")
	term.typeText("Sale in {{.city}} today")
	term.keys("Tab")
	term.typeText("news")
	term.keys("C-p")
	term.waitFor("Subject: Hi Ada", "Sale in London today")
	term.keys("C-p")
	term.keys("C-s")
	term.waitFor("Saved 'Spring sale'", "draft")

	// Edit it.
	term.keys("e")
	term.waitFor("Spring sale")
	term.keys("C-u") // clear the name field
	term.typeText("Summer sale")
	term.keys("C-s")
	term.waitFor("Saved 'Summer sale'")

	// Filter, with a match and without.
	term.keys("/")
	term.typeText("summer")
	term.waitFor("Summer sale")
	term.keys("Enter")
	term.keys("Escape")
	term.waitFor("Summer sale")

	// Small and large terminals.
	term.resize(40, 12)
	term.waitFor("Terminal too small")
	term.resize(160, 40)
	term.waitFor("Summer sale")

	term.keys("q")
	term.waitFor("[exited] 0")
	if n := redis.count.Load(); n != 0 {
		t.Fatalf("%d connections to Redis while nothing was sent", n)
	}
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs, _ := st.Campaigns()
	if len(cs) != 1 || cs[0].Name != "Summer sale" || cs[0].Body != "Sale in {{.city}} today" || cs[0].Version != 2 {
		t.Fatalf("stored campaigns: %+v", cs)
	}
}
