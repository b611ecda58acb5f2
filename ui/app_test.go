package ui

import (
	"errors"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/queue"
)

func TestAppStartsOnEmptyStore(t *testing.T) {
	st := newTestStore(t)
	s := startApp(t, st, 80, 24)
	s.waitFor("No campaigns yet — press n to create one")
	for _, want := range []string{
		"press 2, then i", // contacts come first
		"No Redis is needed until you send",
		"redis: not connected — dials when a send starts", // in full at 80 columns
		"? help",
		"Campaigns (0)", // once the counts are read
	} {
		s.waitFor(want)
	}
}

func TestQuitFromTopLevel(t *testing.T) {
	st := newTestStore(t)
	s := startApp(t, st, 80, 24)
	s.waitFor("No campaigns yet")
	s.press("esc") // esc never quits
	s.press("?")
	s.waitFor("Everywhere") // still running after esc
	s.press("esc")
	s.waitGone("Everywhere")
	s.press("q")
	s.finished()
}

func TestCtrlCQuitsFromEditor(t *testing.T) {
	st := newTestStore(t)
	s := startApp(t, st, 80, 24)
	s.waitFor("No campaigns yet")
	s.press("n")
	s.waitFor("New campaign")
	s.typeText("half typed")
	s.press("ctrl+c")
	s.finished()
}

func TestSwitchScreens(t *testing.T) {
	st := newTestStore(t)
	s := startApp(t, st, 80, 24)
	s.waitFor("No campaigns yet")
	crumb := func() string {
		scr := s.screen()
		lines := strings.Split(scr, "\n")
		return lines[len(lines)-1]
	}
	s.press("2")
	s.waitUntil("the Contacts breadcrumb", func(string) bool { return strings.HasPrefix(crumb(), "Contacts") })
	s.press("3")
	s.waitUntil("the Suppression breadcrumb", func(string) bool { return strings.HasPrefix(crumb(), "Suppression") })
	s.press("tab")
	s.waitUntil("tab to wrap to Campaigns", func(string) bool { return strings.HasPrefix(crumb(), "Campaigns") })
	s.press("shift+tab")
	s.waitUntil("shift+tab to go back to Suppression", func(string) bool { return strings.HasPrefix(crumb(), "Suppression") })
	s.press("1")
	s.waitFor("No campaigns yet")
}

func TestDataChangedRefreshesCountsAndAudiences(t *testing.T) {
	st := newTestStore(t)
	seedCampaign(t, st, "Spring sale")
	s := startApp(t, st, 80, 24)
	scr := s.waitFor("Spring sale")
	s.waitUntil("the audience of 0", func(scr string) bool {
		return strings.HasSuffix(strings.TrimSpace(strings.Split(lineWith(scr, "Spring sale"), "  —")[0]), " 0")
	})
	_ = scr
	seedContacts(t, st, twoContacts) // another session imports
	s.tm.Send(DataChangedMsg{What: ContactData})
	s.waitFor("Contacts (2)")
	s.waitUntil("the audience to become 2", func(scr string) bool {
		return strings.HasSuffix(strings.TrimSpace(strings.Split(lineWith(scr, "Spring sale"), "  —")[0]), " 2")
	})
}

func TestErrorsFlashAndStayInList(t *testing.T) {
	st := newTestStore(t)
	s := startApp(t, st, 80, 24)
	s.waitFor("No campaigns yet")
	s.tm.Send(ErrorMsg{Err: errors.New("import contacts.csv: file not found; check the path")})
	s.waitFor("✗ import contacts.csv")
	s.press("!")
	scr := s.waitFor("Recent errors")
	if !strings.Contains(scr, "file not found; check the path") {
		t.Errorf("the error list lacks the error:\n%s", scr)
	}
	s.press("esc")
	s.waitGone("Recent errors")
}

// The store may vanish under a screen (another session deletes what this
// one shows); the App must say so, not crash.
func TestEditDeletedCampaignReportsError(t *testing.T) {
	st := newTestStore(t)
	c := seedCampaign(t, st, "Spring sale")
	s := startApp(t, st, 80, 24)
	s.waitFor("Spring sale")
	s.press("e")
	s.waitFor("Edit campaign")
	if err := st.DeleteCampaign("other", c.ID, 0); err != nil {
		t.Fatal(err)
	}
	s.typeText("!")
	s.press("ctrl+s")
	scr := s.waitFor("Not saved")
	if !strings.Contains(scr, "Spring sale!") {
		t.Errorf("the typing was lost:\n%s", scr)
	}
	s.waitFor("Reloading")
	s.waitFor("Campaigns (0)")
	s.waitFor("deleted in another session. ctrl+s saves your")
	s.press("ctrl+s")
	s.waitFor("Saved 'Spring sale!'")
	if c, ok := campaignNamed(t, st, "Spring sale!"); !ok || c.ID == 0 || c.Body != "Hi {{.name}},\nnews for you." {
		t.Errorf("the re-created campaign = %+v (found %v)", c, ok)
	}
}

func TestConflictOffersReload(t *testing.T) {
	st := newTestStore(t)
	c := seedCampaign(t, st, "Spring sale")
	s := startApp(t, st, 80, 24)
	s.waitFor("Spring sale")
	s.press("e")
	s.waitFor("Edit campaign")
	theirs := c
	theirs.Subject = "Their subject"
	if _, err := st.UpdateCampaign("alice", theirs); err != nil {
		t.Fatal(err)
	}
	s.typeText(" mine")
	s.press("ctrl+s")
	scr := s.waitFor("ctrl+r loads their version")
	if !strings.Contains(scr, "alice") {
		t.Errorf("the conflict does not say who changed it:\n%s", scr)
	}
	s.press("ctrl+r")
	scr = s.waitFor("Their subject")
	if strings.Contains(scr, "Spring sale mine") {
		t.Errorf("reload kept the local name:\n%s", scr)
	}
	s.typeText(" again")
	s.press("ctrl+s")
	s.waitFor("Saved 'Spring sale again'")
	got, _ := campaignNamed(t, st, "Spring sale again")
	if got.Subject != "Their subject" || got.Version != c.Version+2 {
		t.Errorf("stored = %+v", got)
	}
}

// Every size, from nothing to huge, draws without a panic and never more
// than the terminal holds.
func TestEverySizeFits(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, twoContacts)
	for i := 0; i < 30; i++ {
		seedCampaign(t, st, strings.Repeat("Long campaign name ", 3)+string(rune('A'+i)))
	}
	app := NewApp(NewCommon(st, "tester", queue.IdleStatus(queue.DefaultURL)))
	runCmd(app, app.Init())
	states := []struct {
		name   string
		keys   []string
		expect string // proof that the keys reached the state
	}{
		{"list", nil, "LAST SEND"},
		{"detail", []string{"enter"}, "Last send"},
		{"filter", []string{"esc", "/", "l", "o"}, "match"},
		{"delete dialog", []string{"esc", "esc", "d"}, "Delete campaign"},
		{"editor", []string{"esc", "e"}, "Edit campaign"},
		{"editor preview", []string{"ctrl+p"}, "Preview for"},
		{"discard dialog", []string{"ctrl+p", "x", "esc"}, "Discard your changes"},
		{"help", []string{"y", "?"}, "Everywhere"},
		{"contacts", []string{"esc", "2"}, "Contacts"},
	}
	sizes := [][2]int{{0, 0}, {1, 1}, {2, 40}, {40, 2}, {59, 14}, {60, 15}, {61, 16}, {80, 24}, {100, 30}, {119, 40}, {120, 40}, {200, 60}, {300, 100}}
	for _, state := range states {
		app.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
		for _, k := range state.keys {
			_, cmd := app.Update(parseKey(t, k))
			runCmd(app, cmd)
		}
		if v := ansi.Strip(app.View().Content); !strings.Contains(v, state.expect) {
			t.Fatalf("state %s: the view lacks %q:\n%s", state.name, state.expect, v)
		}
		for _, sz := range sizes {
			w, h := sz[0], sz[1]
			app.Update(tea.WindowSizeMsg{Width: w, Height: h})
			out := app.View().Content
			lines := strings.Split(out, "\n")
			if out != "" && len(lines) > h {
				t.Errorf("%s at %dx%d: %d lines", state.name, w, h, len(lines))
			}
			for i, l := range lines {
				if lw := ansi.StringWidth(l); lw > w {
					t.Errorf("%s at %dx%d: line %d is %d cells wide: %q", state.name, w, h, i, lw, ansi.Strip(l))
					break
				}
			}
			if w >= MinWidth && h >= MinHeight && len(lines) != h {
				t.Errorf("%s at %dx%d: %d lines, want %d", state.name, w, h, len(lines), h)
			}
		}
	}
}

// runCmd runs a command and feeds what it produces back into the app, the
// way a program would, without timers: ticks are skipped.
func runCmd(app *App, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			runCmd(app, c)
		}
	case nil:
	default:
		if _, isTick := msg.(flashExpiredMsg); isTick {
			return
		}
		_, next := app.Update(msg)
		runCmd(app, next)
	}
}
