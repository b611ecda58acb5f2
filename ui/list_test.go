package ui

import (
	"fmt"
	"strings"
	"testing"

	"tui/store"
)

// The list pages as pagers do: the view and the cursor move a screen
// together, and neither passes the ends.
func TestScrollListPagesAndClamps(t *testing.T) {
	var l scrollList
	l.resize(50, 10)
	l.page(1)
	if l.cursor != 10 || l.offset != 10 {
		t.Errorf("page down from the top: cursor %d offset %d, want 10 10", l.cursor, l.offset)
	}
	l.bottom()
	if l.cursor != 49 || l.offset != 40 {
		t.Errorf("bottom: cursor %d offset %d, want 49 40", l.cursor, l.offset)
	}
	l.page(1)
	if l.cursor != 49 || l.offset != 40 {
		t.Errorf("page down at the end: cursor %d offset %d, want 49 40", l.cursor, l.offset)
	}
	// A filter leaves fewer rows: the cursor stays on one, in view.
	l.resize(5, 10)
	if l.cursor != 4 || l.offset != 0 {
		t.Errorf("after the list shrank: cursor %d offset %d, want 4 0", l.cursor, l.offset)
	}
	// A shorter screen keeps the cursor in view.
	l.resize(50, 10)
	l.selectRow(30)
	l.setHeight(3)
	if start, end := l.window(3); l.cursor < start || l.cursor >= end {
		t.Errorf("cursor %d out of the window %d–%d after a resize", l.cursor, start, end)
	}
	// An open-ended list (contacts before their count) scrolls past n.
	l.setLen(20, true)
	l.selectRow(25)
	if start, end := l.window(10); l.cursor != 25 || end != start+10 {
		t.Errorf("open-ended: cursor %d window %d–%d", l.cursor, start, end)
	}
}

// ctrl+f and ctrl+b page the campaigns and a send's failures as they page
// the contacts and the suppression list: one navigation key map.
func TestCtrlFAndCtrlBPageEveryList(t *testing.T) {
	st := newTestStore(t)
	const n = 60
	for i := 1; i <= n; i++ {
		seedCampaign(t, st, fmt.Sprintf("Campaign %03d", i))
	}
	camp := seedAllFailedSend(t, st, "Spring sale", n)
	s := startApp(t, st, 80, 24)
	selected := func(what string) string {
		t.Helper()
		return s.waitUntil(what+" selected", func(scr string) bool { return strings.Contains(lineWith(scr, "▌"), what) })
	}
	s.waitFor(fmt.Sprintf("1/%d", n+1))
	selected("Spring sale") // newest first
	s.press("ctrl+f")
	scr := s.waitGone("Campaign 060")
	if strings.Contains(lineWith(scr, "▌"), "Campaign 060") {
		t.Errorf("ctrl+f moved one row:\n%s", frame(scr))
	}
	s.press("ctrl+b")
	selected("Spring sale")

	s.press("w")
	s.waitFor("Completed with")
	s.press("f")
	selected("u000@example.com")
	s.press("ctrl+f")
	scr = s.waitGone("u000@example.com")
	if l := lineWith(scr, "▌"); !strings.Contains(l, "@example.com") || strings.Contains(l, "u001@") {
		t.Errorf("ctrl+f did not page the failures:\n%s", frame(scr))
	}
	s.press("ctrl+b")
	selected("u000@example.com")
	if got, _ := st.SendState(camp.ID); got.Round != 1 {
		t.Errorf("paging changed the send: round %d", got.Round)
	}
}

// seedAllFailedSend stores a finished send of name to n contacts, every
// one failed.
func seedAllFailedSend(t *testing.T, st *store.Store, name string, n int) store.Campaign {
	t.Helper()
	return seedFinishedSend(t, st, name, n, "")
}
