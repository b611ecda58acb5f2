package ui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"tui/internal/english"
	"tui/store"
)

// listedAddresses returns the contact addresses in the list part of the
// screen, in order.
func listedAddresses(scr string) []string {
	var out []string
	for _, f := range strings.Fields(scr) {
		if strings.HasSuffix(f, "@example.com") {
			out = append(out, f)
		}
	}
	return out
}

func TestContactsFilterByTextAndTag(t *testing.T) {
	st := newTestStore(t)
	ctSeed(t, st, "email,name,city\n"+
		"ann@example.com,Ann,Utrecht\n"+
		"bob@example.com,Bob,Paris\n"+
		"cas@example.com,Cas,Utrecht\n"+
		"dee@example.com,Dee,Oslo\n")
	ctSeed(t, st, "email\nann@example.com\nbob@example.com\n", "vip")

	s := startApp(t, st, 80, 24)
	s.press("2")
	s.waitFor("rows 1–4 of 4")

	s.press("/")
	s.typeText("utrecht")
	scr := s.waitFor("rows 1–2 of 2")
	if got := listedAddresses(scr); !slices.Equal(got, []string{"ann@example.com", "cas@example.com"}) {
		t.Errorf("/utrecht lists %v:\n%s", got, frame(scr))
	}
	s.press("enter")
	s.waitFor("Contacts · rows 1–2 of 2 · /utrecht")

	// The tag picker offers the existing tags; typing narrows them.
	s.press("t")
	s.waitFor("Filter by tag")
	s.waitFor("vip  2 contacts")
	s.typeText("vi")
	s.press("enter")
	scr = s.waitFor("rows 1–1 of 1 · /utrecht tag:vip")
	if got := listedAddresses(scr); !slices.Equal(got, []string{"ann@example.com"}) {
		t.Errorf("/utrecht tag:vip lists %v:\n%s", got, frame(scr))
	}

	// esc clears the newest filter first: the tag, then the text.
	s.press("esc")
	scr = s.waitFor("rows 1–2 of 2 · /utrecht")
	if strings.Contains(scr, "tag:vip") {
		t.Errorf("esc did not clear the tag filter first:\n%s", frame(scr))
	}
	s.press("esc")
	s.waitFor("rows 1–4 of 4")
	s.waitGone("/utrecht")

	// esc in the filter input undoes the edit, not just the input.
	s.press("/")
	s.typeText("oslo")
	s.waitFor("rows 1–1 of 1")
	s.press("esc")
	s.waitFor("rows 1–4 of 4")

	// A filter that matches nothing says how to get out of it.
	s.press("/")
	s.typeText("nobody-at-all")
	s.press("enter")
	s.waitFor("No contacts match /nobody-at-all — esc clears the filter")
	s.press("esc")
	s.waitFor("rows 1–4 of 4")
}

func TestContactsTagAndUntagMarked(t *testing.T) {
	st := newTestStore(t)
	ctSeed(t, st, ctCSV(5))
	s := startApp(t, st, 80, 24)
	s.press("2")
	s.waitFor("user0005@example.com")

	// Mark the first two (space marks and moves down), then tag them.
	s.press("space", "space", "+")
	s.waitFor("Add tag to 2 marked contacts:")
	s.typeText("gold\n")
	s.waitFor("Tagged 2 contacts with gold")
	for i, want := range []bool{true, true, false, false, false} {
		c, err := st.ContactByAddress(ctAddr(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		if c.HasTag("gold") != want {
			t.Errorf("%s has gold = %v, want %v", c.Address, c.HasTag("gold"), want)
		}
	}
	s.waitGone("2 marked")

	// The marks are gone after the tagging; mark the same two again and
	// remove the tag from both. The prompt offers their tags.
	s.press("g", "space", "space", "-")
	s.waitFor("Remove tag from 2 marked contacts:")
	s.typeText("go")
	s.press("tab", "enter")
	s.waitFor("Removed gold from 2 contacts")
	for i := 1; i <= 5; i++ {
		if c, _ := st.ContactByAddress(ctAddr(i)); c.HasTag("gold") {
			t.Errorf("%s still has gold", c.Address)
		}
	}

	// Without marks, + works on the contact under the cursor.
	s.press("+")
	s.waitFor("Add tag to user0003@example.com:")
	s.typeText("solo\n")
	s.waitFor("Tagged 1 contact with solo")
	if c, _ := st.ContactByAddress(ctAddr(3)); !c.HasTag("solo") {
		t.Errorf("%s did not get solo: %v", c.Address, c.Tags)
	}

	// A marks the whole page; esc in the prompt changes nothing; esc in
	// the list clears the marks.
	before := ctSnapshot(t, st)
	s.press("A")
	s.waitFor("5 marked")
	s.press("+")
	s.waitFor("Add tag to 5 marked contacts:")
	s.typeText("q") // a letter in the prompt is text, never quit
	s.press("esc")
	s.waitGone("Add tag to")
	s.press("esc")
	s.waitGone("5 marked")
	if after := ctSnapshot(t, st); after != before {
		t.Errorf("a cancelled prompt changed the store:\nbefore %s\nafter  %s", before, after)
	}
}

func ctAddr(i int) string { return fmt.Sprintf("user%04d@example.com", i) }

func TestContactsPagesThroughALargeList(t *testing.T) {
	st := newTestStore(t)
	ctSeed(t, st, ctCSV(1000))
	s := startApp(t, st, 80, 24)
	s.press("2")
	// 24 lines: the App's tab line and two footer lines leave 21; the
	// title and the column header leave 19 rows.
	s.waitFor("rows 1–19 of 1,000")
	s.press("pgdown")
	scr := s.waitFor("rows 20–38 of 1,000")
	if !strings.Contains(scr, ctAddr(20)) || strings.Contains(scr, ctAddr(19)+" ") {
		t.Errorf("pgdown shows the wrong rows:\n%s", frame(scr))
	}
	s.press("G")
	scr = s.waitFor("rows 982–1,000 of 1,000")
	if !strings.Contains(scr, ctAddr(1000)) {
		t.Errorf("G does not show the last contact:\n%s", frame(scr))
	}
	s.press("pgup", "k")
	s.waitFor("rows 963–981 of 1,000")
	s.press("g")
	s.waitFor("rows 1–19 of 1,000")

	// A text filter does not count every match up front: the header says
	// "at least", and G counts to find the end.
	s.press("/")
	s.typeText("example")
	s.press("enter")
	s.waitFor("rows 1–19 of ≥ 200")
	s.press("G")
	scr = s.waitFor("rows 982–1,000 of 1,000")
	if !strings.Contains(scr, ctAddr(1000)) {
		t.Errorf("G under a filter does not show the last match:\n%s", frame(scr))
	}
	// Going back up past the loaded window loads earlier rows.
	for range 10 {
		s.press("pgup")
	}
	s.waitFor("rows 792–810 of 1,000")
	s.waitFor(ctAddr(792))
}

func TestContactsAddDetailSuppressDelete(t *testing.T) {
	st := newTestStore(t)
	s := startApp(t, st, 80, 24)
	s.press("2")
	s.waitFor("No contacts yet — i import a CSV, a add one")

	// An invalid address is an inline error, and nothing is saved.
	before := ctSnapshot(t, st)
	s.press("a")
	s.waitFor("Add a contact")
	s.typeText("not an address\n")
	s.waitFor("is neither an email address nor a phone number")
	if after := ctSnapshot(t, st); after != before {
		t.Errorf("an invalid address changed the store:\nbefore %s\nafter  %s", before, after)
	}
	s.press("ctrl+u")
	s.typeText("Zoe@Example.com\nZoe Q\nvip, quiz\n")
	s.waitFor("Added zoe@example.com")
	zoe, err := st.ContactByAddress("zoe@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if zoe.Name != "Zoe Q" || strings.Join(zoe.Tags, ",") != "quiz,vip" {
		t.Errorf("added %+v", zoe)
	}
	s.waitFor("rows 1–1 of 1")

	s.press("enter")
	scr := s.waitFor("Contact zoe@example.com")
	for _, want := range []string{"Name        Zoe Q", "Tags        quiz, vip", "Created", "Updated"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the details lack %q:\n%s", want, frame(scr))
		}
	}

	// s from the details suppresses this contact's address.
	s.press("s")
	s.waitFor("Suppress zoe@example.com — reason:")
	s.typeText("asked to stop\n")
	s.waitFor("Suppressed  yes — no campaign sends to this address")
	sups, err := st.Suppressions()
	if err != nil {
		t.Fatal(err)
	}
	if len(sups) != 1 || sups[0].Address != "zoe@example.com" || sups[0].Reason != "asked to stop" || sups[0].By != "tester" {
		t.Errorf("suppression list = %+v", sups)
	}
	s.press("esc")
	s.waitFor("⊘ suppressed")

	// d asks first, naming the contact, with Cancel focused: enter keeps it.
	s.press("d")
	scr = s.waitFor("Delete contact zoe@example.com?")
	if !strings.Contains(scr, "zoe@example.com (Zoe Q)") {
		t.Errorf("the confirmation does not name the contact:\n%s", frame(scr))
	}
	s.press("enter")
	s.waitGone("Delete contact")
	if _, err := st.ContactByAddress("zoe@example.com"); err != nil {
		t.Fatalf("cancel deleted the contact: %v", err)
	}
	s.press("d")
	s.waitFor("Delete contact zoe@example.com?")
	s.press("y")
	s.waitFor("No contacts yet")
	if _, err := st.ContactByAddress("zoe@example.com"); err == nil {
		t.Error("the contact is still stored after y")
	}
}

// What was typed into a contact's form is not lost to one esc: esc on a
// changed form asks, n keeps the typing, y drops it; esc on an untouched
// form closes it at once. At the smallest size the question is drawn over
// the form, whole. The suppression screen's form asks too.
func TestContactFormsAskBeforeDroppingWhatWasTyped(t *testing.T) {
	st := newTestStore(t)
	ctSeed(t, st, "email,name\nann@example.com,Ann\n")
	before := ctSnapshot(t, st)
	s := startApp(t, st, 80, 24)
	s.press("2")
	s.waitFor("rows 1–1 of 1")

	s.press("a")
	s.waitFor("Add a contact")
	s.press("esc") // nothing typed: closes
	s.waitFor("rows 1–1 of 1")

	s.press("a")
	s.waitFor("Add a contact")
	s.typeText("zoe@example.com")
	s.press("esc")
	s.waitFor("Discard this contact?")
	s.press("n")
	s.waitGone("Discard this contact?")
	if scr := s.screen(); !strings.Contains(scr, "Address  zoe@example.com") {
		t.Fatalf("n did not keep what was typed:\n%s", frame(scr))
	}
	s.press("esc")
	s.waitFor("Discard this contact?")
	s.press("y")
	s.waitFor("rows 1–1 of 1")

	// Editing, at the smallest size: the question is over the form.
	s.resize(60, 15)
	s.press("e")
	s.waitFor("Edit contact ann@example.com")
	s.press("tab")
	s.typeText("e Lee")
	s.press("esc")
	scr := s.waitFor("Discard your changes to ann@example.com?")
	for _, want := range []string{"What you typed will be lost.", "Discard", "y confirm"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the question lacks %q at 60×15:\n%s", want, frame(scr))
		}
	}
	s.press("enter") // Cancel has the focus: keeps editing
	s.waitGone("Discard your changes")
	s.press("esc")
	s.waitFor("Discard your changes to ann@example.com?")
	s.press("y")
	s.waitFor("ann@example.com")
	if after := ctSnapshot(t, st); after != before {
		t.Errorf("a discarded form changed the store:\nbefore %s\nafter  %s", before, after)
	}

	// The suppression screen's form asks too.
	s.resize(80, 24)
	s.press("3")
	s.press("a")
	s.waitFor("Suppress an address")
	s.typeText("bob@example.com")
	s.press("esc")
	s.waitFor("Discard this address?")
	s.press("y")
	s.waitGone("Suppress an address")
	if sups, err := st.Suppressions(); err != nil || len(sups) != 0 {
		t.Errorf("a discarded suppression was saved: %+v, %v", sups, err)
	}
}

func TestContactsScreenAtEverySize(t *testing.T) {
	st := newTestStore(t)
	ctSeed(t, st, "email,name,city,company,team\n"+
		"a.very.long.address.indeed@example.com,Anna Maria Longname,Utrecht,ACME,Red\n"+
		"bob@example.com,Bob,Paris,Foo,Blue\n", "vip")
	s := startApp(t, st, 120, 30)
	s.press("2")
	scr := s.waitFor("UPDATED")
	for _, col := range []string{"ADDRESS", "NAME", "TAGS", "CITY", "COMPANY"} {
		if !strings.Contains(scr, col) {
			t.Errorf("at 120 columns %s is missing:\n%s", col, frame(scr))
		}
	}
	s.resize(60, 15)
	scr = s.waitGone("COMPANY")
	if !strings.Contains(scr, "ADDRESS") || !strings.Contains(scr, "bob@example.com") {
		t.Errorf("at 60×15 the list lost its first column:\n%s", frame(scr))
	}
	for _, l := range strings.Split(scr, "\n") {
		if ansi.StringWidth(l) > 60 {
			t.Errorf("a line is wider than 60: %q", l)
		}
	}
	s.resize(30, 8)
	s.waitFor("Terminal too small")
	s.resize(80, 24)
	s.waitFor("CITY")
	// The details, the import form and the tag picker all fit 60×15 too.
	s.resize(60, 15)
	for _, k := range []string{"enter", "i", "t"} {
		s.press(k)
		scr = s.waitUntil("the view after "+k, func(scr string) bool {
			return strings.Contains(scr, "Contact a.very") || strings.Contains(scr, "Import contacts") || strings.Contains(scr, "Filter by tag")
		})
		for _, l := range strings.Split(scr, "\n") {
			if ansi.StringWidth(l) > 60 {
				t.Errorf("after %s a line is wider than 60: %q", k, l)
			}
		}
		s.press("esc")
		s.waitFor("rows 1–2 of 2")
	}
}

func TestFitColumnsDropsLowPriorityFirst(t *testing.T) {
	cols := []tableColumn{
		{title: "ADDRESS", min: 16, want: 30, priority: 0},
		{title: "NAME", min: 8, want: 12, priority: 1},
		{title: "CITY", min: 6, want: 10, priority: 4},
		{title: "UPDATED", min: 8, want: 10, priority: 3},
	}
	cases := []struct {
		width int
		want  []int
	}{
		{200, []int{30, 12, 10, 10}},
		{16 + 2 + 8 + 2 + 8, []int{16, 8, 0, 8}}, // CITY goes before UPDATED
		{16 + 2 + 8, []int{16, 8, 0, 0}},
		{20, []int{20, 0, 0, 0}}, // the grown address takes the rest
		{10, []int{10, 0, 0, 0}}, // the first column is cut, never dropped
		{0, []int{0, 0, 0, 0}},
	}
	for _, c := range cases {
		if got := fitColumns(cols, c.width); !slices.Equal(got, c.want) {
			t.Errorf("fitColumns(width %d) = %v, want %v", c.width, got, c.want)
		}
	}
	row := renderCells([]string{"someone@example.com", "Someone", "Utrecht", "2d ago"}, fitColumns(cols, 36))
	if ansi.StringWidth(row) > 36 || !strings.HasPrefix(row, "someone@example…") {
		t.Errorf("row at 36 = %q", row)
	}
}

func TestSmallFormatters(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345: "-12,345"} {
		if got := english.Thousands(n); got != want {
			t.Errorf("english.Thousands(%d) = %q, want %q", n, got, want)
		}
	}
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.Local)
	for d, want := range map[time.Duration]string{
		10 * time.Second: "just now", 5 * time.Minute: "5m ago", 3 * time.Hour: "3h ago",
		50 * time.Hour: "2d ago", 40 * 24 * time.Hour: "Mar 31", 400 * 24 * time.Hour: "2025-04-05",
	} {
		if got := agoText(now, now.Add(-d)); got != want {
			t.Errorf("agoText(-%s) = %q, want %q", d, got, want)
		}
	}
	if agoText(now, time.Time{}) != "" {
		t.Error("a zero time should show nothing")
	}
	if english.Count(1, "row", "rows") != "1 row" || english.Count(2500, "row", "rows") != "2,500 rows" {
		t.Error("countNoun")
	}
}

func TestTagCompletions(t *testing.T) {
	tags := []string{"newsletter", "nl", "spring", "vip"}
	cases := map[string][]string{
		"":          nil,
		"n":         {"newsletter", "nl"},
		"vip, n":    {"vip, newsletter", "vip, nl"},
		"nl,n":      {"nl,newsletter"}, // a tag already typed is not offered again
		"vip, ":     nil,
		"SP":        {"spring"},
		"x":         nil,
		"vip;sprin": {"vip;spring"},
	}
	for in, want := range cases {
		if got := tagCompletions(in, tags); !slices.Equal(got, want) {
			t.Errorf("tagCompletions(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPickFieldColumns(t *testing.T) {
	rows := []store.Contact{
		{Fields: map[string]string{"name": "A", "city": "X", "team": "r"}},
		{Fields: map[string]string{"name": "B", "city": "Y", "zip": "1"}},
		{Fields: map[string]string{"city": "Z", "zip": "2", "team": ""}},
	}
	if got := pickFieldColumns(rows, 2); !slices.Equal(got, []string{"city", "zip"}) {
		t.Errorf("pickFieldColumns = %v, want city and zip (most rows have them; name has its own column)", got)
	}
	if got := pickFieldColumns(nil, 2); len(got) != 0 {
		t.Errorf("no rows gives %v", got)
	}
}
