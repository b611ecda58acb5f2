package ui

import (
	"errors"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// Screen tests for what trips a newcomer up on the way from a fresh
// database to a watched send, each at 80×24.

// A tags column in a CSV gives contacts their tags: the table has one TAGS
// column and a campaign on that tag reaches them.
func TestCSVTagsColumnBecomesTags(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, "email,name,tags,country\nada@example.com,Ada,vip,FR\nbob@example.com,Bob,,DE\n")
	seedCampaign(t, st, "VIP news", "vip")
	s := startApp(t, st, 80, 24)
	s.press("2")
	scr := s.waitFor("ada@example.com")
	header := lineWith(scr, "ADDRESS")
	if n := strings.Count(header, "TAGS"); n != 1 {
		t.Fatalf("the contacts table has %d TAGS columns:\n%s", n, frame(scr))
	}
	if !strings.Contains(lineWith(scr, "ada@example.com"), "vip") {
		t.Fatalf("ada's row does not show her tag vip:\n%s", frame(scr))
	}
	s.press("1")
	s.waitUntil("VIP news to count 1 recipient", func(scr string) bool {
		l := lineWith(scr, "VIP news")
		return l != "" && strings.Contains(l, " 1 ")
	})
}

// The editor counts the audience as the tags change, and an empty one says
// which tag nobody has instead of asking for an import.
func TestEditorCountsTheAudienceLive(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, "email,name\nada@example.com,Ada\nbob@example.com,Bob\ncy@example.com,Cy\n", "news")
	seedContacts(t, st, "email,name\ndi@example.com,Di\n", "b2b")
	s := startApp(t, st, 80, 24)
	s.waitFor("No campaigns yet")
	s.press("n")
	s.waitFor("New campaign")
	s.waitUntil("the audience of every contact", func(scr string) bool {
		return strings.Contains(lineWith(scr, "Audience"), "4 recipients")
	})
	s.press("tab", "tab", "tab", "tab") // Channel, Subject, Body, Tags
	s.waitUntil("the Tags field to have the focus", func(scr string) bool { return strings.Contains(lineWith(scr, "Tags"), "›") })
	s.typeText("news")
	s.waitUntil("the audience of the tag news", func(scr string) bool {
		return strings.Contains(lineWith(scr, "Audience"), "3 recipients")
	})
	s.typeText(" vip")
	s.waitUntil("the audience of news or vip", func(scr string) bool {
		return strings.Contains(lineWith(scr, "Audience"), "3 recipients") && !strings.Contains(lineWith(scr, "Audience"), "counting")
	})
	for range len("news vip") {
		s.press("backspace")
	}
	s.typeText("vip")
	scr := s.waitUntil("an empty audience that names the tag", func(scr string) bool {
		return strings.Contains(lineWith(scr, "Audience"), "0 recipients — no contact has vip")
	})
	s.press("ctrl+p")
	scr = s.waitFor("ctrl+p back to the form")
	f := flat(scr)
	for _, want := range []string{"No contact has the tag vip", "4 contacts in the database", "b2b (1)", "news (3)"} {
		if !strings.Contains(f, want) {
			t.Fatalf("the preview of an empty audience lacks %q:\n%s", want, frame(scr))
		}
	}
	if strings.Contains(f, "Import contacts") {
		t.Fatalf("the preview asks for an import although contacts exist:\n%s", frame(scr))
	}
}

// An error longer than the status bar opens in the message area above the
// footer, whole, with its cause and what to do; it outlives the flash's
// seconds and esc puts it away.
func TestLongErrorWrapsIntoTheMessageArea(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, twoContacts)
	camp := seedSend(t, st, "Spring sale", 0)
	url := closedPortURL(t)
	rig := newSendRig(t, st, url, rigOptions{})
	s := startAppWith(t, rig.common(), 80, 24)
	s.waitFor("Spring sale")
	s.sendFromList("Spring sale", 2)
	scr := s.waitFor("✗ cannot reach Redis at")
	f := flat(scr)
	for _, want := range []string{"cannot reach Redis at " + url, "connection refused", "REDIS_URL", "esc dismisses"} {
		if !strings.Contains(f, want) {
			t.Fatalf("the message area lacks %q:\n%s", want, frame(scr))
		}
	}
	for _, l := range strings.Split(scr, "\n") {
		if strings.Contains(l, "cannot reach Redis") && strings.HasSuffix(l, "…") {
			t.Fatalf("the error is cut:\n%s", frame(scr))
		}
	}
	// The footer stays where it was: the short help, then the status bar.
	lines := strings.Split(scr, "\n")
	if !strings.Contains(lines[23], "? help") || !strings.Contains(lines[23], "redis: unavailable") {
		t.Fatalf("the status bar moved or lost the indicator:\n%s", frame(scr))
	}
	s.press("esc")
	scr = s.waitGone("cannot reach Redis")
	if !strings.Contains(scr, "Spring sale") {
		t.Fatalf("esc left the list:\n%s", frame(scr))
	}
	if got := campaignByID(t, st, camp.ID); got.Status != "draft" {
		t.Fatalf("the campaign changed: %+v", got)
	}
}

// The message area outlasts the flash's timer for an error; a short info
// flash in the status bar still goes.
func TestLongErrorOutlivesTheFlashTimer(t *testing.T) {
	st := newTestStore(t)
	app := NewApp(NewCommon(st, "tester", ctStatus()))
	app.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	long := "cannot reach Redis at redis://127.0.0.1:1/0: dial tcp 127.0.0.1:1: connect: connection refused. Start Redis (redis-server) or set REDIS_URL to a running one, then press s again."
	app.Update(ErrorMsg{Err: errors.New(long)})
	app.Update(flashExpiredMsg{seq: app.flash.seq})
	if scr := flat(ansi.Strip(app.render())); !strings.Contains(scr, "then press s again.") {
		t.Fatalf("the error went with the timer:\n%s", app.render())
	}
	app.Update(FlashMsg{Text: "Saved"})
	app.Update(flashExpiredMsg{seq: app.flash.seq})
	if scr := ansi.Strip(app.render()); strings.Contains(scr, "Saved") || strings.Contains(scr, "press s again") {
		t.Fatalf("a flash outlived its timer:\n%s", scr)
	}
}
