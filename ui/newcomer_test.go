package ui

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/internal/redistest"
	"tui/queue"
	"tui/sending"
	"tui/store"
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
	scr := s.waitUntil("the audience of every contact", func(scr string) bool {
		return strings.Contains(lineWith(scr, "Audience"), "4 recipients")
	})
	// The schedule's example is whole at 80 columns, not cut at "e.g. 2026".
	if l := lineWith(scr, "Starts"); !strings.Contains(l, "e.g. 2026-12-24 09:00 Europe/Paris") || !strings.Contains(l, "empty: sends when you press s") {
		t.Fatalf("the Starts field is cut: %q", l)
	}
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
	scr = s.waitUntil("an empty audience that names the tag", func(scr string) bool {
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
// footer, whole, with its cause and what to do, and the screens give it
// their bottom lines; it stays for as long as it takes to read.
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
	for _, want := range []string{"cannot reach Redis at " + url, "connection refused", "REDIS_URL", "! lists recent errors"} {
		if !strings.Contains(f, want) {
			t.Fatalf("the message area lacks %q:\n%s", want, frame(scr))
		}
	}
	for _, l := range strings.Split(scr, "\n") {
		if strings.Contains(l, "cannot reach Redis") && strings.HasSuffix(l, "…") {
			t.Fatalf("the error is cut:\n%s", frame(scr))
		}
	}
	// The footer stays where it was: the short help, then the status bar
	// with the indicator, which no longer gives way to the flash.
	lines := strings.Split(scr, "\n")
	if !strings.Contains(lines[23], "? help") || !strings.Contains(lines[23], "redis: unavailable") || strings.Contains(lines[23], "✗") {
		t.Fatalf("the status bar moved, lost the indicator or repeats the error:\n%s", frame(scr))
	}
	if !strings.Contains(lines[22], "s send") {
		t.Fatalf("the short help moved:\n%s", frame(scr))
	}
	if got := campaignByID(t, st, camp.ID); got.Status != "draft" {
		t.Fatalf("the campaign changed: %+v", got)
	}
}

// An error in the message area stays long enough to be read; a flash the
// status bar shows whole still goes with its timer.
func TestLongErrorStaysToBeRead(t *testing.T) {
	long := "cannot reach Redis at redis://127.0.0.1:1/0: dial tcp 127.0.0.1:1: connect: connection refused (is redis-server running?). Start it (redis-server, or systemctl start redis-server) or point tui at yours with REDIS_URL or --redis"
	if d := readingTime(long); d < 10*time.Second || d > 30*time.Second {
		t.Fatalf("a %d-word error stays %s", len(strings.Fields(long)), d)
	}
	st := newTestStore(t)
	app := NewApp(NewCommon(st, "tester", ctStatus()))
	app.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	app.Update(ErrorMsg{Err: errors.New(long)})
	if scr := flat(ansi.Strip(app.render())); !strings.Contains(scr, "or point tui at yours with REDIS_URL or --redis") {
		t.Fatalf("the error is not whole:\n%s", app.render())
	}
	app.Update(FlashMsg{Text: "Saved"})
	app.Update(flashExpiredMsg{seq: app.flash.seq})
	if scr := ansi.Strip(app.render()); strings.Contains(scr, "Saved") || strings.Contains(scr, "press s again") {
		t.Fatalf("a flash outlived its timer:\n%s", scr)
	}
}

// The campaign's ID is on the list, the detail and the pane; E writes the
// ledger where the person says; the failures view filters with / and
// shows one failure's whole reason, which the row cuts at 80 columns.
func TestIDsExportAndFailuresAt80x24(t *testing.T) {
	srv := redistest.Start(t)
	st := newTestStore(t)
	seedContacts(t, st, sendContactsCSV(6))
	seedSend(t, st, "Old news", 0)
	camp := seedSend(t, st, "Spring sale", 0)
	rec := newRecorder()
	long := "550 5.1.1 <u002@example.com>: Recipient address rejected: User unknown in virtual mailbox table; see https://postmaster.example.com/errors/5.1.1 for what to do next"
	rec.setFail("u002@example.com", long)
	rec.setFail("u004@example.com", "552 5.2.2 mailbox full")
	rig := newSendRig(t, st, srv.URL(), rigOptions{worker: true, rec: rec})
	s := startAppWith(t, rig.common(), 80, 24)
	scr := s.waitFor("Spring sale")
	if !regexp.MustCompile(`ID +NAME`).MatchString(lineWith(scr, "NAME")) ||
		!regexp.MustCompile(fmt.Sprintf(`▌ +%d  Spring sale`, camp.ID)).MatchString(scr) {
		t.Fatalf("the list does not show the IDs:\n%s", frame(scr))
	}
	s.press("E")
	s.waitFor("was never sent, so it has no ledger to export yet")
	s.sendFromList("Spring sale", 6)
	scr = s.waitFor("Completed with 2 failures")
	if !strings.Contains(lineWith(scr, "Spring sale"), fmt.Sprintf("ID %d", camp.ID)) {
		t.Fatalf("the pane's title lacks the ID:\n%s", frame(scr))
	}

	// The export dialog proposes a file named after the campaign; another
	// directory is typed instead.
	dir := t.TempDir()
	s.press("E")
	scr = s.waitFor(fmt.Sprintf("Export the ledger of 'Spring sale' (ID %d)", camp.ID))
	if !strings.Contains(scr, fmt.Sprintf("spring-sale-%d-ledger.csv", camp.ID)) {
		t.Fatalf("the dialog proposes no file name:\n%s", frame(scr))
	}
	for range len(fmt.Sprintf("spring-sale-%d-ledger.csv", camp.ID)) {
		s.press("backspace")
	}
	target := filepath.Join(dir, "ledger.csv")
	s.typeText(target + "\n")
	s.waitFor("Wrote 6 recipients of 'Spring sale'")
	data, err := os.ReadFile(target)
	if err != nil {
		t.Fatalf("the export wrote nothing: %v", err)
	}
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 7 || !strings.HasPrefix(lines[0], "contact_id,address,state") ||
		!strings.Contains(string(data), "u004@example.com,failed,1,552 5.2.2 mailbox full") {
		t.Fatalf("the exported ledger:\n%s", data)
	}

	s.press("f")
	scr = s.waitFor("u004@example.com")
	if l := lineWith(scr, "u002@example.com"); !strings.HasSuffix(l, "…") {
		t.Fatalf("the long reason fits at 80 columns, so this test shows nothing: %q", l)
	}
	s.press("/")
	s.typeText("full")
	scr = s.waitFor("1 of 2 match")
	if strings.Contains(scr, "u002@example.com") || !strings.Contains(scr, "u004@example.com") {
		t.Fatalf("the filter on the reason:\n%s", frame(scr))
	}
	s.press("enter")
	s.waitFor(`filter "full": 1`)
	s.press("esc") // clears the filter, the view stays
	scr = s.waitGone(`filter "full"`)
	if !strings.Contains(scr, "u002@example.com") || !strings.Contains(scr, "Failures of") {
		t.Fatalf("esc did not clear the filter only:\n%s", frame(scr))
	}
	s.press("g", "enter")
	scr = s.waitFor("Reason")
	if !strings.Contains(scr, "https://postmaster.example.com/errors/5.1.1 for what to do next") || !strings.Contains(scr, "in virtual mailbox table") {
		t.Fatalf("the detail does not show the whole reason:\n%s", frame(scr))
	}
	// Nothing from the list behind runs into the box's right edge.
	for _, l := range strings.Split(scr, "\n") {
		for _, edge := range []string{"╮", "╯"} {
			if i := strings.LastIndex(l, edge); i >= 0 && strings.TrimSpace(l[i+len(edge):]) != "" {
				t.Fatalf("text bleeds past the dialog's edge: %q\n%s", l, frame(scr))
			}
		}
	}
	s.press("esc")
	s.waitGone("Last try")
	s.press("esc")
	s.waitFor("Completed with 2 failures")
}

// ? opens the help in the editor wherever ? is not a character (a
// selector, the read-only view); F1 opens it in a text field; the help
// scrolls when it does not fit 80×24.
func TestHelpEverywhereAndScrolling(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, twoContacts)
	s := startApp(t, st, 80, 24)
	s.waitFor("No campaigns yet")

	s.press("?")
	scr := s.waitFor("Keys")
	if !strings.Contains(scr, "↓") || !strings.Contains(scr, "more") {
		t.Fatalf("the help does not say there is more below:\n%s", frame(scr))
	}
	s.press("G")
	scr = s.waitFor("shift+tab")
	if !strings.Contains(scr, "previous screen") || !strings.Contains(scr, "↑") {
		t.Fatalf("scrolled to the end, the help lacks its last keys:\n%s", frame(scr))
	}
	s.press("esc")
	s.waitGone("Keys")

	s.press("n")
	s.waitFor("New campaign")
	s.typeText("Why?") // a text field takes ? as a character
	scr = s.waitFor("Why?")
	if strings.Contains(scr, "Keys") {
		t.Fatalf("? in the name opened the help:\n%s", frame(scr))
	}
	if !strings.Contains(strings.Split(scr, "\n")[23], "f1 help") {
		t.Fatalf("the footer does not say how to get help in a text field:\n%s", frame(scr))
	}
	s.press("f1")
	scr = s.waitFor("Keys")
	if !strings.Contains(flat(scr), "ctrl+s") || !strings.Contains(scr, "New campaign") {
		t.Fatalf("the help does not list the editor's keys:\n%s", frame(scr))
	}
	s.press("esc")
	s.waitGone("Keys")

	s.press("tab") // the channel selector
	s.waitUntil("the channel to have the focus", func(scr string) bool { return strings.Contains(lineWith(scr, "Channel"), "›") })
	s.press("?")
	scr = s.waitFor("Keys")
	if !strings.Contains(flat(scr), "ctrl+s") {
		t.Fatalf("? on the channel selector does not show the editor's keys:\n%s", frame(scr))
	}
	s.press("?") // ? closes it again
	scr = s.waitGone("Keys")
	if !strings.Contains(lineWith(scr, "Channel"), "file") || !strings.Contains(scr, "Why?") {
		t.Fatalf("the editor changed behind the help:\n%s", frame(scr))
	}
}

// The send's preflight at 80×24 lists its errors by cause, wrapped: the
// field that is missing is not cut away, and a hundred contacts without it
// are one entry.
func TestPreflightErrorsGroupedAndWrapped(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, "email,name,country\nok@example.com,Ok,FR\n")
	var csv strings.Builder
	csv.WriteString("email,name\n")
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&csv, "user%d@example.com,User %d\n", i, i)
	}
	seedContacts(t, st, csv.String())
	if _, err := st.CreateCampaign("tester", store.Campaign{Name: "Spring", Channel: store.ChannelFile,
		Subject: "Hi", Body: "Hello {{.name}} from {{.country}}"}); err != nil {
		t.Fatal(err)
	}
	ln := newConnListener(t, false)
	rig := newSendRig(t, st, ln.url(), rigOptions{})
	s := startAppWith(t, rig.common(), 80, 24)
	s.waitFor("Spring")
	s.press("s")
	scr := s.waitFor("Cannot send 'Spring'")
	f := flat(strings.ReplaceAll(scr, "│", " "))
	for _, want := range []string{`100 contacts have no field "country"`, "user1@example.com, user2@example.com, user3@example.com and 97 more"} {
		if !strings.Contains(f, want) {
			t.Fatalf("the preflight lacks %q:\n%s", want, frame(scr))
		}
	}
	if strings.Contains(scr, "user4@example.com") {
		t.Fatalf("the preflight lists the recipients one by one:\n%s", frame(scr))
	}
}

// A contact added by hand has no fields, so a template that needs one
// cannot render for it; e edits the contact: the fields the other contacts
// have are offered, and its address and tags change too.
func TestEditAContactsFieldsAddressAndTags(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, "email,name,country\nada@example.com,Ada,FR\n", "news")
	if _, _, err := st.AddContact("tester", store.Contact{Address: "bob@example.com", Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	camp, err := st.CreateCampaign("tester", store.Campaign{Name: "Hello", Channel: store.ChannelFile, Subject: "Hi", Body: "From {{.country}}"})
	if err != nil {
		t.Fatal(err)
	}
	s := startApp(t, st, 80, 24)
	s.press("2")
	s.waitFor("bob@example.com")
	s.press("j", "enter")
	s.waitFor("Contact bob@example.com")
	s.waitFor("e edits the contact")
	s.press("e")
	scr := s.waitFor("Edit contact bob@example.com")
	if !strings.Contains(scr, "country") || !strings.Contains(scr, "New field") {
		t.Fatalf("the form does not offer the field other contacts have:\n%s", frame(scr))
	}
	// Address: replace it; Tags: add vip; country: DE.
	for range len("bob@example.com") {
		s.press("backspace")
	}
	s.typeText("robert@example.com")
	s.press("tab", "tab") // name, tags
	s.typeText("vip")
	s.press("tab") // country
	s.waitUntil("the country field to have the focus", func(scr string) bool { return strings.Contains(lineWith(scr, "country"), "›") })
	s.typeText("DE")
	s.press("ctrl+s")
	scr = s.waitFor("Saved robert@example.com")
	if !strings.Contains(scr, "country") || !strings.Contains(scr, "DE") {
		t.Fatalf("the details do not show the new field:\n%s", frame(scr))
	}
	c, err := st.ContactByAddress("robert@example.com")
	if err != nil {
		t.Fatalf("the new address is not stored: %v", err)
	}
	if c.Fields["country"] != "DE" || strings.Join(c.Tags, ",") != "vip" || c.Name != "Bob" {
		t.Fatalf("stored contact %+v", c)
	}
	if _, err := st.ContactByAddress("bob@example.com"); err == nil {
		t.Fatal("the old address still finds the contact")
	}
	// The campaign renders for everyone now.
	n := 0
	_ = st.ForEachRecipient(&camp, func(ct store.Contact) bool {
		if _, ok := ct.Fields["country"]; ok {
			n++
		}
		return true
	})
	if n != 2 {
		t.Fatalf("%d of 2 recipients have the field", n)
	}
}

// The cancel dialog follows the send while the name is typed, and when the
// send ends first it says so instead of cancelling; a cancel that arrives
// after the end says plainly that nothing was cancelled.
func TestCancelDialogFollowsTheSend(t *testing.T) {
	srv := redistest.Start(t)
	st := newTestStore(t)
	seedContacts(t, st, sendContactsCSV(6))
	camp := seedSend(t, st, "Cancel me", 0)
	rec := holdingRecorder()
	rig := newSendRig(t, st, srv.URL(), rigOptions{worker: true, rec: rec})
	s := startAppWith(t, rig.common(), 80, 24)
	s.waitFor("Cancel me")
	s.sendFromList("Cancel me", 6)
	s.waitFor("Cancel me  sending")
	s.press("x")
	s.waitFor("Nobody has been sent to yet")
	s.typeText("Cancel")
	rec.release()
	scr := s.waitFor("The send ended while you typed")
	if f := flat(strings.ReplaceAll(scr, "│", " ")); !strings.Contains(f, "it is completed (6 of 6 sent)") || !strings.Contains(f, "nothing left to cancel") {
		t.Fatalf("the dialog does not say the send ended:\n%s", frame(scr))
	}
	s.press("enter")
	scr = s.waitGone("The send ended while you typed")
	if strings.Contains(scr, "cannot become") || strings.Contains(scr, "✗") {
		t.Fatalf("closing the dialog reported an error:\n%s", frame(scr))
	}
	if got := campaignByID(t, st, camp.ID); got.Status != store.StatusCompleted {
		t.Fatalf("the campaign is %s", got.Status)
	}

	// A cancel the store refuses because the send completed meanwhile.
	news := controlNews(sendControlMsg{action: actionCancel, c: store.Campaign{Name: "Cancel me"},
		send: &store.SendState{Total: 6, Counts: map[store.RecipientState]int{store.RecipientSent: 6}},
		err:  &store.TransitionError{Name: "Cancel me", From: store.StatusCompleted, To: store.StatusCancelled}})()
	f, ok := news.(FlashMsg)
	if !ok || f.Err || !strings.Contains(f.Text, "'Cancel me' had completed before the cancel arrived: nothing was cancelled; 6 of 6 sent") {
		t.Fatalf("the late cancel says %#v", news)
	}
}

// The end of a send is flashed with the words of the counts beside it:
// skipped recipients are not called failures.
func TestEndNewsNamesSkippedAsSkipped(t *testing.T) {
	l := &sendLive{c: store.Campaign{Name: "Spring", Status: store.StatusCompleted},
		send: store.SendState{Total: 296, Counts: map[store.RecipientState]int{store.RecipientSent: 286, store.RecipientSkipped: 10}}}
	if got := endNews(l).Text; got != "'Spring' completed with 10 skipped: 286 sent; f in its send pane lists them" {
		t.Fatalf("end news: %q", got)
	}
	l.send.Counts[store.RecipientFailed] = 2
	if got := endNews(l).Text; !strings.Contains(got, "completed with 2 failures and 10 skipped") {
		t.Fatalf("end news: %q", got)
	}
}

// While sending, r stays in the footer (it re-queues from the ledger), and
// a send whose recipients wait while the live workers idle suggests it.
func TestPaneSuggestsRequeueWhenTheQueueIsGone(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := newTestStore(t)
	c := NewCommon(st, "tester", queue.Status{State: queue.Connected, URL: "redis://127.0.0.1:6379/0"})
	c.Now = func() time.Time { return now }
	board := newSendBoard()
	camp := store.Campaign{ID: 7, Name: "Spring sale", Status: store.StatusSending}
	send := store.SendState{CampaignID: 7, Round: 1, Total: 296, Enqueued: true, StartedAt: now.Add(-5 * time.Minute),
		Counts: map[store.RecipientState]int{store.RecipientSent: 100, store.RecipientQueued: 196}}
	worker := queue.WorkerInfo{ID: "w1", Host: "h", LastSeen: now, Jobs: queue.JobFormat}
	for i := 120; i >= 0; i -= 10 {
		board.apply(sending.Update{Campaign: camp, Send: send, Workers: []queue.WorkerInfo{worker}, At: now.Add(-time.Duration(i) * time.Second)})
	}
	app := NewApp(c)
	app.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	p := newProgressPane(c, board, camp, 0)
	app.campaigns.push(app.campaigns.paneLayer(p))
	p.setSize(80, 21)
	scr := ansi.Strip(app.render())
	if !strings.Contains(flat(scr), "196 recipients wait, yet the workers are idle") || !strings.Contains(flat(scr), "r queues them again from the ledger") {
		t.Fatalf("the pane does not suggest r:\n%s", scr)
	}
	if !strings.Contains(lineWith(scr, "p pause"), "r re-queue") {
		t.Fatalf("the footer hides r while sending:\n%s", scr)
	}
	// Moving again, the suggestion goes.
	send.Counts = map[store.RecipientState]int{store.RecipientSent: 150, store.RecipientQueued: 146}
	worker.InFlight = 8
	board.apply(sending.Update{Campaign: camp, Send: send, Workers: []queue.WorkerInfo{worker}, At: now})
	if scr := ansi.Strip(app.render()); strings.Contains(scr, "workers are idle") {
		t.Fatalf("a moving send is called idle:\n%s", scr)
	}
}

// A fresh app started within a minute of a cancel dials Redis to fold the
// send's last deliveries; the indicator says so at 80 columns.
func TestIndicatorSaysWhyRedisIsDialledAfterACancel(t *testing.T) {
	srv := redistest.Start(t)
	st := newTestStore(t)
	seedContacts(t, st, sendContactsCSV(4))
	camp := seedSend(t, st, "Cancel me", 0)
	rig := newSendRig(t, st, srv.URL(), rigOptions{})
	if _, err := rig.svc.Start(t.Context(), "tester", camp.ID, camp.Version, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.svc.Cancel(t.Context(), "tester", camp.ID); err != nil {
		t.Fatal(err)
	}
	fresh := newSendRig(t, st, srv.URL(), rigOptions{})
	s := startAppWith(t, fresh.common(), 80, 24)
	scr := s.waitUntil("the indicator to say why Redis is dialled", func(scr string) bool {
		return regexp.MustCompile(`redis: connected( \([^)]*\))? for 'Cancel me', cancelled \d+s ago`).MatchString(strings.Split(scr, "\n")[23])
	})
	if !strings.Contains(scr, "? help") {
		t.Fatalf("the status bar lost its end:\n%s", frame(scr))
	}
}

// The import form's file field completes with tab like a shell: several
// matches complete to what they share and are listed, one completes whole.
func TestImportPathCompletesWithTab(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"contacts-spring.csv", "contacts-summer.csv", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("email\nada@example.com\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st := newTestStore(t)
	s := startApp(t, st, 80, 24)
	s.press("2")
	s.waitFor("No contacts yet")
	s.press("i")
	s.waitFor("Import contacts from a CSV file")
	s.typeText(dir + "/con")
	s.press("tab")
	scr := s.waitFor("2 matches: contacts-spring.csv  contacts-summer.csv")
	if !strings.Contains(scr, "contacts-s") {
		t.Fatalf("tab did not complete what the matches share:\n%s", frame(scr))
	}
	s.typeText("p")
	s.press("tab")
	s.waitFor("contacts-spring.csv")
	s.press("enter", "enter")
	scr = s.waitFor("Imported contacts-spring.csv")
	if !strings.Contains(scr, "1 created") {
		t.Fatalf("the completed path was not imported:\n%s", frame(scr))
	}
}

// A contact with many fields is edited on the smallest screen: the form
// scrolls, so the field being typed in is always in view.
func TestContactFormScrollsAt60x15(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, "email,name,a,b,c,d,e,f,g,h\nada@example.com,Ada,1,2,3,4,5,6,7,8\n")
	s := startApp(t, st, 60, 15)
	s.press("2")
	s.waitFor("ada@example.com")
	s.press("e")
	s.waitFor("Edit contact ada@example.com")
	scr := s.waitFor("↓ more fields")
	for range 11 { // Name, Tags, a … h, New field
		s.press("tab")
	}
	scr = s.waitUntil("the last field in view", func(scr string) bool { return strings.Contains(lineWith(scr, "New field"), "›") })
	if !strings.Contains(scr, "↑ more fields") {
		t.Fatalf("the form does not say fields are above:\n%s", frame(scr))
	}
	s.typeText("zone=eu")
	s.press("ctrl+s")
	s.waitFor("Saved ada@example.com")
	c, err := st.ContactByAddress("ada@example.com")
	if err != nil || c.Fields["zone"] != "eu" || c.Fields["h"] != "8" {
		t.Fatalf("stored %+v, %v", c, err)
	}
}
