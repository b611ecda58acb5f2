package ui

import (
	"context"
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"tui/store"
)

// seedContacts imports a CSV into st.
func seedContacts(t *testing.T, st *store.Store, csv string, tags ...string) {
	t.Helper()
	rep, err := st.ImportCSV(context.Background(), strings.NewReader(csv),
		store.ImportOptions{Actor: "tester", Name: "seed.csv", Tags: tags})
	if err != nil {
		t.Fatalf("seed contacts: %v", err)
	}
	if rep.Invalid > 0 {
		t.Fatalf("seed contacts: %d invalid rows: %+v", rep.Invalid, rep.Problems)
	}
}

// seedCampaign stores a valid draft named name.
func seedCampaign(t *testing.T, st *store.Store, name string, tags ...string) store.Campaign {
	t.Helper()
	c, err := st.CreateCampaign("tester", store.Campaign{
		Name:    name,
		Channel: store.ChannelFile,
		Subject: "Hello {{.name}}",
		Body:    "Hi {{.name}},\nnews for you.",
		Tags:    tags,
	})
	if err != nil {
		t.Fatalf("seed campaign %q: %v", name, err)
	}
	return c
}

func campaignsIn(t *testing.T, st *store.Store) []store.Campaign {
	t.Helper()
	list, err := st.Campaigns()
	if err != nil {
		t.Fatalf("list campaigns: %v", err)
	}
	return list
}

func campaignNamed(t *testing.T, st *store.Store, name string) (store.Campaign, bool) {
	t.Helper()
	for _, c := range campaignsIn(t, st) {
		if c.Name == name {
			return c, true
		}
	}
	return store.Campaign{}, false
}

// lineWith returns the first screen line containing substr, or "".
func lineWith(scr, substr string) string {
	for _, l := range strings.Split(scr, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}

const twoContacts = "email,name,city\nada@example.com,Ada,London\nbob@example.com,Bob,Paris\n"

func TestCreateCampaignByKeys(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, twoContacts, "vip")
	s := startApp(t, st, 80, 24)
	s.waitFor("No campaigns yet — press n to create one")

	s.press("n")
	s.waitFor("New campaign")
	s.typeText("Spring sale")
	s.press("tab", "right") // channel: file → smtp, which asks for a sender
	s.waitFor("From")
	s.press("tab")
	s.typeText("news@example.com")
	s.press("enter") // enter moves on from a single-line input
	s.typeText("Hello {{.name}}")
	s.press("tab")
	s.typeText("Hi {{.name}},\nthe sale starts in {{.city}}.")
	s.press("tab")
	s.typeText("vip")
	s.press("tab", "tab")
	s.typeText("25")
	s.press("ctrl+p") // at 80 columns the preview sits behind ctrl+p
	scr := s.waitFor("Hello Ada")
	if !strings.Contains(scr, "the sale starts in London.") {
		t.Errorf("the preview does not render the body for Ada:\n%s", scr)
	}
	s.press("ctrl+p")
	s.waitFor("From")
	s.press("ctrl+s")

	s.waitFor("Saved 'Spring sale'")
	// Name, status, channel and the audience (both contacts are vip), once
	// it is counted.
	s.waitUntil("the new row with its audience", func(scr string) bool {
		return strings.Join(strings.Fields(lineWith(scr, "Spring sale")), " ") == "▌ 1 Spring sale draft smtp 2 —"
	})
	c, ok := campaignNamed(t, st, "Spring sale")
	if !ok {
		t.Fatalf("the campaign is not in the store: %+v", campaignsIn(t, st))
	}
	if c.Channel != store.ChannelSMTP || c.From != "news@example.com" || c.Subject != "Hello {{.name}}" ||
		c.Body != "Hi {{.name}},\nthe sale starts in {{.city}}." || strings.Join(c.Tags, ",") != "vip" || c.Rate != 25 {
		t.Errorf("stored campaign = %+v", c)
	}
}

func TestEditCampaign(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, twoContacts)
	orig := seedCampaign(t, st, "Spring sale")
	s := startApp(t, st, 80, 24)
	s.waitFor("Spring sale")

	s.press("e")
	s.waitFor("Edit campaign")
	s.press("ctrl+u") // clear the name field
	s.typeText("Summer sale")
	s.waitFor("unsaved changes")
	s.press("ctrl+s")
	scr := s.waitFor("Saved 'Summer sale'")
	if !strings.Contains(lineWith(scr, "▌"), "Summer sale") {
		t.Errorf("the saved campaign is not selected:\n%s", scr)
	}
	if strings.Contains(scr, "Spring sale") {
		t.Errorf("the old name is still listed:\n%s", scr)
	}
	c, ok := campaignNamed(t, st, "Summer sale")
	if !ok || c.ID != orig.ID || c.Version != orig.Version+1 || c.Body != orig.Body {
		t.Errorf("stored campaign = %+v (found %v), want id %d version %d and the old body", c, ok, orig.ID, orig.Version+1)
	}
}

func TestEditorValidationErrorsInline(t *testing.T) {
	st := newTestStore(t)
	s := startApp(t, st, 80, 24)
	s.waitFor("No campaigns yet")

	s.press("n")
	s.waitFor("New campaign")
	s.press("tab", "right", "right") // webhook: needs a URL
	s.waitFor("URL")
	s.press("tab")
	s.typeText("ftp://example.com")
	s.press("tab", "tab")
	s.typeText("Body that must survive")
	s.press("ctrl+s")

	scr := s.waitFor("a name is required")
	if !strings.Contains(scr, "is not an http(s) URL") {
		t.Errorf("the URL error is not shown:\n%s", scr)
	}
	if !strings.Contains(scr, "Body that must survive") || !strings.Contains(scr, "ftp://example.com") {
		t.Errorf("the typed values were lost:\n%s", scr)
	}
	if !strings.Contains(lineWith(scr, "Name"), "›") {
		t.Errorf("the focus is not on the first bad field (name):\n%s", scr)
	}
	// The error sits right under its field.
	lines := strings.Split(scr, "\n")
	for i, l := range lines {
		if strings.Contains(l, "a name is required") && (i == 0 || !strings.Contains(lines[i-1], "Name")) {
			t.Errorf("the name error is not under the name field:\n%s", scr)
		}
	}
	if n := len(campaignsIn(t, st)); n != 0 {
		t.Errorf("%d campaigns were saved, want none", n)
	}
	// Typing a name clears its error; saving now works.
	s.typeText("Fixed")
	s.waitGone("a name is required")
	s.press("tab", "tab")
	s.press("ctrl+u")
	s.typeText("https://hooks.example.com/x")
	s.press("ctrl+s")
	s.waitFor("Saved 'Fixed'")
	if c, ok := campaignNamed(t, st, "Fixed"); !ok || c.URL != "https://hooks.example.com/x" || c.Body != "Body that must survive" {
		t.Errorf("stored campaign = %+v (found %v)", c, ok)
	}
}

// The tries per recipient are set in the editor: a value out of range is
// refused under its field with nothing saved; a good one is stored and
// shown in the detail pane.
func TestEditorMaxAttempts(t *testing.T) {
	st := newTestStore(t)
	orig := seedCampaign(t, st, "Spring sale")
	s := startApp(t, st, 80, 24)
	s.waitFor("Spring sale")
	s.press("enter") // the detail pane
	s.waitFor(fmt.Sprintf("%d tries per recipient", store.DefaultMaxAttempts))
	s.press("esc")
	s.waitGone("tries per recipient")

	s.press("e")
	s.waitFor("Edit campaign")
	s.press("shift+tab", "shift+tab", "shift+tab") // from the name, backwards past Format and Starts to Attempts
	s.typeText("99")
	s.press("ctrl+s")
	scr := s.waitFor("must be between 1 and 20")
	if !strings.Contains(lineWith(scr, "Attempts"), "›") {
		t.Errorf("the focus is not on the attempts field:\n%s", frame(scr))
	}
	if c, _ := campaignNamed(t, st, "Spring sale"); c.Version != orig.Version || c.MaxAttempts != 0 {
		t.Errorf("a refused save changed the campaign: %+v", c)
	}

	s.press("backspace", "backspace")
	s.typeText("x")
	s.press("ctrl+s")
	s.waitFor(`"x" is not a whole number`)

	s.press("backspace")
	s.typeText("3")
	s.press("ctrl+s")
	scr = s.waitFor("Saved 'Spring sale'")
	if c, _ := campaignNamed(t, st, "Spring sale"); c.MaxAttempts != 3 || c.Version != orig.Version+1 {
		t.Errorf("stored campaign = %+v, want 3 tries at version %d", c, orig.Version+1)
	}
	s.press("enter")
	s.waitFor("3 tries per recipient")
}

// On a short terminal the form scrolls to the focused field and says
// that more lie above or below, so every error can be reached.
func TestEditorScrollsToTheFocusedField(t *testing.T) {
	st := newTestStore(t)
	s := startApp(t, st, 60, 15)
	s.waitFor("No campaigns yet")
	s.press("n")
	s.waitFor("New campaign")
	s.press("shift+tab", "shift+tab", "shift+tab") // backwards past Format and Starts to Attempts
	s.typeText("30")
	s.press("ctrl+s")
	scr := s.waitFor("3 problems to fix")
	if !strings.Contains(scr, "a name is required") || !strings.Contains(scr, "↓ more fields below") {
		t.Errorf("the first error and the hint below are not shown:\n%s", frame(scr))
	}
	s.press("shift+tab", "shift+tab", "shift+tab") // from the name back round, past Format and Starts, to the attempts
	scr = s.waitUntil("the focus on Attempts", func(scr string) bool {
		return strings.Contains(scr, "must be between 1 and 20") && strings.Contains(lineWith(scr, "Attempts"), "›")
	})
	if !strings.Contains(lineWith(scr, "Attempts"), "›") || !strings.Contains(scr, "↑ more fields above") {
		t.Errorf("the focused field is not scrolled into view:\n%s", frame(scr))
	}
}

func TestEditorTemplateErrorsShowLineAndColumn(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, "email,name\nada@example.com,Ada\n")
	s := startApp(t, st, 80, 24)
	s.waitFor("No campaigns yet")
	s.press("n")
	s.waitFor("New campaign")
	s.typeText("Typo")
	s.press("tab", "tab", "tab") // channel, subject, body
	body := "Hi {{.name}},\nyou live in {{.city}}."
	s.typeText(body)

	// What the renderer reports for Ada, who has no city.
	r, err := store.NewRenderer(&store.Campaign{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	ada, err := st.ContactByAddress("ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Render(&ada)
	fe, ok := err.(*store.FieldError)
	if !ok || fe.Line != 2 || fe.Col == 0 {
		t.Fatalf("render error = %#v, want a body error on line 2 with a column", err)
	}
	want := fmt.Sprintf("line 2, column %d:", fe.Col)
	scr := s.waitFor(want)
	if !strings.Contains(scr, "ada@example.com") {
		t.Errorf("the error does not name the contact:\n%s", scr)
	}

	// A syntax error is reported while typing, before any save.
	s.press("shift+tab") // to the subject
	s.typeText("Hi {{.name")
	s.waitFor("line 1: unclosed action")
	s.press("ctrl+s")
	scr = s.waitFor("Not saved")
	if !strings.Contains(scr, "line 1: unclosed action") {
		t.Errorf("the parse error is gone after saving:\n%s", scr)
	}
	if n := len(campaignsIn(t, st)); n != 0 {
		t.Errorf("%d campaigns were saved, want none", n)
	}
}

func TestFilterCampaigns(t *testing.T) {
	st := newTestStore(t)
	seedCampaign(t, st, "Spring sale", "vip")
	seedCampaign(t, st, "Summer news")
	seedCampaign(t, st, "Autumn digest", "newsletter")
	s := startApp(t, st, 80, 24)
	s.waitFor("Autumn digest")

	s.press("/")
	s.typeText("NEWS") // case-insensitive; matches a name and a tag
	scr := s.waitFor("2 of 3 match")
	if strings.Contains(scr, "Spring sale") || !strings.Contains(scr, "Summer news") || !strings.Contains(scr, "Autumn digest") {
		t.Errorf("wrong rows for filter \"news\":\n%s", scr)
	}
	s.press("enter") // keep the filter, leave the input
	scr = s.waitFor(`filter "news": 2 of 3`)
	if strings.Contains(scr, "Spring sale") {
		t.Errorf("the kept filter shows a non-match:\n%s", scr)
	}
	s.press("j") // list keys work again
	s.press("esc")
	scr = s.waitFor("Spring sale")
	if strings.Contains(scr, "filter \"") {
		t.Errorf("esc did not clear the filter:\n%s", scr)
	}

	s.press("/")
	s.typeText("zzz")
	s.waitFor(`No campaign matches "zzz"`)
	s.press("esc")
	s.waitFor("Spring sale")
}

func TestDuplicateCampaign(t *testing.T) {
	st := newTestStore(t)
	seedCampaign(t, st, "Spring sale")
	s := startApp(t, st, 80, 24)
	s.waitFor("Spring sale")
	s.press("c")
	scr := s.waitFor("Duplicated as 'Copy of Spring sale'")
	if !strings.Contains(lineWith(scr, "▌"), "Copy of Spring sale") {
		t.Errorf("the copy is not selected:\n%s", scr)
	}
	if _, ok := campaignNamed(t, st, "Copy of Spring sale"); !ok || len(campaignsIn(t, st)) != 2 {
		t.Errorf("store holds %+v", campaignsIn(t, st))
	}
}

func TestDeleteCampaignAsksFirst(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, twoContacts)
	seedCampaign(t, st, "Spring sale")
	s := startApp(t, st, 80, 24)
	s.waitFor("Spring sale")

	s.press("d")
	s.waitFor("Delete campaign 'Spring sale' (2 recipients)?")
	s.press("enter") // Cancel has the focus
	s.waitGone("Delete campaign")
	if len(campaignsIn(t, st)) != 1 {
		t.Fatal("enter on the dialog deleted the campaign; Cancel must have the focus")
	}
	s.press("d")
	s.waitFor("Delete campaign 'Spring sale'")
	s.press("esc")
	s.waitGone("Delete campaign")
	if len(campaignsIn(t, st)) != 1 {
		t.Fatal("esc deleted the campaign")
	}

	s.press("d")
	s.waitFor("Delete campaign 'Spring sale'")
	s.press("right", "enter")
	s.waitFor("Deleted 'Spring sale'")
	s.waitFor("No campaigns yet")
	if n := len(campaignsIn(t, st)); n != 0 {
		t.Errorf("%d campaigns left after delete", n)
	}
}

func TestQTypedInEditorDoesNotQuit(t *testing.T) {
	st := newTestStore(t)
	s := startApp(t, st, 80, 24)
	s.waitFor("No campaigns yet")
	s.press("n")
	s.waitFor("New campaign")
	s.typeText("q")
	s.typeText("uarterly q")
	scr := s.waitFor("quarterly q")
	if !strings.Contains(lineWith(scr, "Name"), "quarterly q") {
		t.Errorf("q did not reach the name field:\n%s", scr)
	}
	// Still running and still in the editor: esc asks about the typing.
	s.press("esc")
	s.waitFor("Discard your changes to 'quarterly q'?")
}

func TestEscInEditorAsksBeforeDiscarding(t *testing.T) {
	st := newTestStore(t)
	seedCampaign(t, st, "Spring sale")
	s := startApp(t, st, 80, 24)
	s.waitFor("Spring sale")

	// Without changes esc just closes.
	s.press("e")
	s.waitFor("Edit campaign")
	s.press("esc")
	s.waitGone("Edit campaign")

	s.press("e")
	s.waitFor("Edit campaign")
	s.typeText(" 2")
	s.press("esc")
	s.waitFor("Discard your changes to 'Spring sale 2'?")
	s.press("enter") // Cancel: back to the form with the typing intact
	scr := s.waitGone("Discard your changes")
	if !strings.Contains(scr, "Spring sale 2") || !strings.Contains(scr, "Edit campaign") {
		t.Fatalf("cancelling the discard lost the form:\n%s", scr)
	}
	s.press("esc")
	s.waitFor("Discard your changes")
	s.press("y")
	scr = s.waitGone("Edit campaign")
	if strings.Contains(scr, "Spring sale 2") {
		t.Errorf("discarded typing shows in the list:\n%s", scr)
	}
	if _, ok := campaignNamed(t, st, "Spring sale"); !ok {
		t.Error("the stored campaign changed")
	}
}

func TestResizeSmallAndLarge(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, twoContacts)
	seedCampaign(t, st, "Spring sale")
	s := startApp(t, st, 80, 24)
	s.waitFor("Spring sale")

	s.resize(40, 12)
	scr := s.waitFor("Terminal too small:")
	if !strings.Contains(scr, "need 60×15, have 40×12") {
		t.Errorf("the too-small message does not give the sizes:\n%s", scr)
	}
	if strings.Contains(scr, "Spring sale") {
		t.Errorf("the layout is drawn in a too-small terminal:\n%s", scr)
	}

	s.resize(200, 60)
	scr = s.waitFor("Last send")
	// List and detail side by side: the list header and the detail's
	// fields share lines.
	if l := lineWith(scr, "NAME"); !strings.Contains(l, "STATUS") || !strings.Contains(l, "UPDATED") {
		t.Errorf("the wide list lacks its columns:\n%s", scr)
	}
	if l := lineWith(scr, "Last send"); !strings.Contains(l, "│") {
		t.Errorf("the detail pane is not beside the list:\n%s", scr)
	}
	if l := lineWith(scr, "Spring sale  "); !strings.Contains(l, "Channel") && !strings.Contains(lineWith(scr, "Audience"), "│") {
		t.Errorf("the detail pane is not beside the list:\n%s", scr)
	}
	if !strings.Contains(scr, "Campaigns › Spring sale") {
		t.Errorf("the breadcrumb does not name the selected campaign:\n%s", scr)
	}

	s.resize(80, 24)
	scr = s.waitGone("Last send")
	if !strings.Contains(scr, "Spring sale") {
		t.Errorf("back at 80×24 the list is missing:\n%s", scr)
	}
}

func TestHelpShowsKeys(t *testing.T) {
	st := newTestStore(t)
	seedCampaign(t, st, "Spring sale")
	s := startApp(t, st, 80, 24)
	s.waitFor("Spring sale")
	s.press("?")
	scr := s.waitFor("Keys")
	for _, want := range []string{"filter", "duplicate", "delete", "Everywhere"} {
		if !strings.Contains(scr, want) {
			t.Errorf("help lacks %q:\n%s", want, scr)
		}
	}
	s.press("G") // at 80×24 the help scrolls to its last keys
	s.waitFor("quit")
	s.press("esc")
	s.waitGone("Everywhere")
}

func TestReadOnlyCampaignOffersDuplicate(t *testing.T) {
	st := newTestStore(t)
	c := seedCampaign(t, st, "Old news")
	if _, err := st.SetStatus("tester", c.ID, store.StatusSending); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetStatus("tester", c.ID, store.StatusCompleted); err != nil {
		t.Fatal(err)
	}
	s := startApp(t, st, 80, 24)
	s.waitFor("Old news")
	s.press("e")
	s.waitFor("read-only")
	s.waitFor("duplicate it into a new draft")
	s.typeText("xyz") // nothing is typed into a read-only form
	s.press("ctrl+s")
	scr := s.waitFor("can no longer change")
	if strings.Contains(scr, "xyz") {
		t.Errorf("a read-only form took typing:\n%s", scr)
	}
	s.press("c")
	s.waitFor("Duplicated as 'Copy of Old news'")
}

func TestListNavigation(t *testing.T) {
	st := newTestStore(t)
	// More than the first read brings, so the rest arrives in a second one.
	n := firstPage + 10
	for i := 1; i <= n; i++ {
		seedCampaign(t, st, fmt.Sprintf("Campaign %03d", i))
	}
	s := startApp(t, st, 80, 24)
	s.waitFor(fmt.Sprintf("1/%d", n))
	selected := func(name string) {
		t.Helper()
		s.waitUntil(name+" selected", func(scr string) bool { return strings.Contains(lineWith(scr, "▌"), name) })
	}
	selected(fmt.Sprintf("Campaign %03d", n)) // newest first
	s.press("j", "down")
	selected(fmt.Sprintf("Campaign %03d", n-2))
	s.press("k")
	selected(fmt.Sprintf("Campaign %03d", n-1))
	s.press("G")
	selected("Campaign 001")
	s.waitFor(fmt.Sprintf("%d/%d", n, n))
	s.press("g")
	selected(fmt.Sprintf("Campaign %03d", n))
	s.press("pgdown")
	scr := s.waitGone(fmt.Sprintf("Campaign %03d", n))
	if strings.Contains(lineWith(scr, "▌"), fmt.Sprintf("Campaign %03d", n-1)) {
		t.Errorf("pgdown moved one row:\n%s", scr)
	}
	s.press("pgup")
	selected(fmt.Sprintf("Campaign %03d", n))
}

func TestFlashExpires(t *testing.T) {
	st := newTestStore(t)
	seedCampaign(t, st, "Spring sale")
	s := startApp(t, st, 80, 24)
	s.waitFor("Spring sale")
	s.press("c")
	s.waitFor("✓ Duplicated as")
	s.waitGone("✓ Duplicated as") // about three seconds later
	s.waitFor("redis: not connected — dials when a send starts")
}

func TestPasteGoesToTheFocusedField(t *testing.T) {
	st := newTestStore(t)
	s := startApp(t, st, 80, 24)
	s.waitFor("No campaigns yet")
	s.press("n")
	s.waitFor("New campaign")
	s.tm.Send(tea.PasteMsg{Content: "Pasted name"})
	scr := s.waitFor("Pasted name")
	if !strings.Contains(lineWith(scr, "Name"), "Pasted name") {
		t.Errorf("the paste did not land in the name field:\n%s", scr)
	}
	s.press("2") // typed into the name, not a screen switch
	s.waitFor("Pasted name2")
}

func TestPreviewFollowsTheAudience(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, "email,name\nada@example.com,Ada\n", "vip")
	seedContacts(t, st, "email,name\nbob@example.com,Bob\n", "press")
	s := startApp(t, st, 120, 30) // wide: the preview sits beside the form
	s.waitFor("No campaigns yet")
	s.press("n")
	s.waitFor("Preview for Ada")
	s.press("tab", "tab", "tab") // channel, subject, body
	s.typeText("Hi {{.name}}")
	s.waitFor("Hi Ada")
	s.press("tab")
	s.typeText("press")
	s.waitFor("Preview for Bob")
	s.waitFor("Hi Bob")
	s.typeText("x") // a tag nobody has
	s.waitFor("No contact has the tag pressx")
}

// An action left open names the line it started on, from the store's
// position rather than text/template's wording.
func TestEditorNamesWhereAnOpenActionStarted(t *testing.T) {
	fe := store.CheckTemplate("body", "x\n{{ (\n}}")
	if fe == nil {
		t.Fatal("no error")
	}
	if got, want := describeFieldError(fe), "line 3: unclosed left paren in action started on line 2"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
