package ui

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
	"tui/queue"
	"tui/store"
)

// The preflight's report: the count, an error that names the contact, the
// estimate at the campaign's rate; errors block the send and offer only
// Close and e. Nothing is dialled.
func TestPreflightBlocksOnErrors(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, "email,name,city\nada@example.com,Ada,London\nbob@example.com,Bob,\ncy@example.com,Cy,Rome\n")
	// Dee has no city field at all (Bob's is empty): her message cannot be rendered.
	if _, _, err := st.AddContact("tester", store.Contact{Address: "dee@example.com", Name: "Dee"}); err != nil {
		t.Fatal(err)
	}
	camp := seedSend(t, st, "Spring sale", 10)
	ln := newConnListener(t, false)
	rig := newSendRig(t, st, ln.url(), rigOptions{})
	s := startAppWith(t, rig.common(), 100, 30)
	s.waitFor("Spring sale")
	s.press("s")
	scr := s.waitFor("Cannot send 'Spring sale'")
	for _, want := range []string{
		"Recipients  4",
		"Duration    0s at 10/s",
		"Blocked: 1 of 4 messages cannot be rendered",
		"Messages that cannot be rendered (1)",
		"[ Close ]",
		"e edit the campaign · 2, then e on a contact, adds its fields · esc close",
	} {
		if !strings.Contains(scr, want) {
			t.Errorf("the report lacks %q:\n%s", want, frame(scr))
		}
	}
	if line := lineWith(scr, "dee@example.com"); !strings.Contains(line, `the contact has no field "city"`) {
		t.Errorf("the error does not name the contact and the cause: %q\n%s", line, frame(scr))
	}
	if strings.Contains(scr, "Send  ") || strings.Contains(scr, "y send") {
		t.Errorf("a blocked send offers to send:\n%s", frame(scr))
	}
	s.press("y", "enter") // y is not an answer here; enter closes
	s.waitGone("Cannot send")
	s.press("s")
	s.waitFor("Cannot send 'Spring sale'")
	s.press("e")
	s.waitFor("Edit campaign")
	if n := ln.count.Load(); n != 0 {
		t.Errorf("%d connections during the preflight", n)
	}
	if got := campaignByID(t, st, camp.ID); got.Status != store.StatusDraft || got.Version != camp.Version {
		t.Errorf("the campaign changed: %+v", got)
	}
}

// The confirmation names the campaign and the count, shows the estimate and
// the first message, and has Cancel focused: enter on it changes nothing
// and dials nothing.
func TestPreflightConfirmationCancelFocused(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, sendContactsCSV(12), "spring")
	seedContacts(t, st, "email,name,city\nout@example.com,Out,Oslo\n", "spring", "optout")
	seedContacts(t, st, "email,name,city\nother@example.com,Other,Paris\n")
	if _, err := st.Suppress("tester", "u003@example.com", "bounced"); err != nil {
		t.Fatal(err)
	}
	camp, err := st.CreateCampaign("tester", store.Campaign{Name: "Spring sale", Channel: store.ChannelFile,
		Subject: "Hello {{.name}}", Body: "Hi {{.name}} in {{.city}}.", Tags: []string{"spring"}, ExcludeTags: []string{"optout"}, Rate: 2})
	if err != nil {
		t.Fatal(err)
	}
	ln := newConnListener(t, false)
	rig := newSendRig(t, st, ln.url(), rigOptions{})
	s := startAppWith(t, rig.common(), 100, 30)
	s.waitFor("Spring sale")
	s.press("s")
	// Twelve tagged, minus the excluded and the suppressed one: eleven.
	scr := s.waitFor("Send 'Spring sale' to 11 recipients?")
	for _, want := range []string{"Recipients  11", "Duration    6s at 2/s", "First message, to u000@example.com",
		"Subject  Hello User 0", "Hi User 0 in City 0.", "[ Cancel ]", "y send · n/esc cancel"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the confirmation lacks %q:\n%s", want, frame(scr))
		}
	}
	s.press("enter")
	s.waitGone("Send 'Spring sale'")
	s.press("s")
	s.waitFor("Send 'Spring sale' to 11 recipients?")
	s.press("tab", "shift+tab", "esc") // back to Cancel, then esc
	s.waitGone("Send 'Spring sale'")
	if n := ln.count.Load(); n != 0 {
		t.Errorf("%d connections without a confirmed send", n)
	}
	got := campaignByID(t, st, camp.ID)
	if got.Status != store.StatusDraft || got.Version != camp.Version || got.LastSend != nil {
		t.Errorf("the campaign changed: %+v", got)
	}
	// A send the person confirms is the first to dial.
	s.press("s")
	s.waitFor("Send 'Spring sale' to 11 recipients?")
	s.press("tab", "enter")
	s.waitFor("✗ cannot reach Redis")
	if n := ln.count.Load(); n == 0 {
		t.Error("the confirmed send did not dial")
	}
}

// A send through the TUI with a real worker and a real Redis: the pane's
// counts reach the total, the rate shows, a failure shows with its reason,
// a worker that stopped heartbeating shows as lost, completion shows and is
// flashed; then the failures view lists who failed, and R queues them again
// after a confirmation that names the count.
func TestSendWatchFailuresRetry(t *testing.T) {
	srv := redistest.Start(t)
	st := newTestStore(t)
	seedContacts(t, st, sendContactsCSV(60))
	camp := seedSend(t, st, "Spring sale", 15) // about four seconds: the pane sees it going
	rec := newRecorder()
	rec.setFail("u007@example.com", "550 5.1.1 mailbox unavailable")
	// A worker on another host that stopped heartbeating half a minute ago.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ghost := queue.WorkerInfo{ID: "ghost-7", Host: "elsewhere", LastSeen: time.Now().Add(-30 * time.Second), Processed: 12}
	if err := queue.Heartbeat(context.Background(), rdb, ghost); err != nil {
		t.Fatal(err)
	}
	rig := newSendRig(t, st, srv.URL(), rigOptions{worker: true, rec: rec})
	s := startAppWith(t, rig.common(), 120, 40)
	s.waitFor("Spring sale")
	s.sendFromList("Spring sale", 60)

	s.waitFor("Spring sale  sending")
	s.waitUntil("a non-zero rate", func(scr string) bool {
		return regexp.MustCompile(`Rate [1-9][0-9.]*/s`).MatchString(scr)
	})
	scr := s.waitFor("Workers (1 alive, 1 lost)")
	if line := lineWith(scr, "ghost-7"); !strings.Contains(line, "elsewhere") || !strings.Contains(line, "lost (") {
		t.Errorf("the lost worker's line: %q", line)
	}
	if line := lineWith(scr, "test-worker"); strings.Contains(line, "lost") {
		t.Errorf("the live worker shows as lost: %q", line)
	}

	scr = s.waitFor("Completed with 1 failure")
	for _, want := range []string{"60/60 done (100%)", "Sent 59", "Failed 1", "Latest failures (1)"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the completed pane lacks %q:\n%s", want, frame(scr))
		}
	}
	if line := lineWith(scr, "u007@example.com"); !strings.Contains(line, "550 5.1.1 mailbox unavailable") || !strings.Contains(line, "1 try") {
		t.Errorf("the failure's line: %q", line)
	}
	s.waitFor("✗ 'Spring sale' completed with 1 failure: 59 sent")

	s.press("f")
	scr = s.waitFor("Failures of 'Spring sale'  1 failed recipient")
	if line := lineWith(scr, "u007@example.com"); !regexp.MustCompile(`u007@example.com +1 +550 5.1.1 mailbox unavailable`).MatchString(line) {
		t.Errorf("the failures view's line: %q", line)
	}
	s.press("R")
	s.waitFor("Retry 1 failed recipient of 'Spring sale'?")
	s.press("enter") // Cancel has the focus
	s.waitGone("Retry 1 failed")
	if ss, _ := st.SendState(camp.ID); ss.Round != 1 {
		t.Fatalf("cancelling the retry started round %d", ss.Round)
	}
	rec.setFail("u007@example.com", "")
	// The retry's delivery waits until the screen has said it was queued:
	// one recipient is delivered within moments, and the completion's
	// message would take the place of that one.
	release := rec.holdAddr("u007@example.com")
	defer release()
	s.press("R")
	s.waitFor("Retry 1 failed recipient of 'Spring sale'?")
	s.press("y")
	s.waitFor("Queued again 1 recipient of 'Spring sale' (round 2)")
	release()
	s.waitFor("✓ Completed: 60 sent")
	s.press("esc")
	scr = s.waitFor("LAST SEND")
	if !regexp.MustCompile(`▌ +\d+  Spring sale +completed +60 +60 sent`).MatchString(scr) {
		t.Errorf("the list row does not follow the send:\n%s", frame(scr))
	}
	if line := lineWith(scr, "✓ Spring sale"); !strings.Contains(line, "100%  60/60 · 60 sent") {
		t.Errorf("the strip does not show the send that just finished: %q\n%s", line, frame(scr))
	}
	if total, distinct := rec.count(); total != 60 || distinct != 60 {
		t.Errorf("delivered %d times to %d addresses, want 60 to 60", total, distinct)
	}
}

// Two sends at once each get a line above the list and open with w; pause,
// resume and cancel from the pane act on that send only; cancelling asks
// for the name, and a wrong name does nothing.
func TestPauseResumeCancelFromThePane(t *testing.T) {
	srv := redistest.Start(t)
	st := newTestStore(t)
	seedContacts(t, st, sendContactsCSV(60))
	// A minute each: both are still sending when the test is done with
	// them, however slowly a loaded machine runs it.
	other := seedSend(t, st, "Autumn", 1)
	camp := seedSend(t, st, "Spring sale", 1)
	rig := newSendRig(t, st, srv.URL(), rigOptions{worker: true})
	s := startAppWith(t, rig.common(), 120, 40)
	s.waitFor("Spring sale")
	s.sendFromList("Spring sale", 60) // the newest is selected first
	s.waitFor("Spring sale  sending") // the pane; the breadcrumb gives way to the flash
	s.press("esc", "j")
	s.waitUntil("Autumn selected", func(scr string) bool { return regexp.MustCompile(`▌ +\d+  Autumn`).MatchString(scr) })
	s.sendFromList("Autumn", 60)
	s.waitFor("Autumn  sending")
	s.press("esc")
	s.waitUntil("a line for each send", func(scr string) bool {
		return strings.Contains(lineWith(scr, "▶ Spring sale"), "/60") && strings.Contains(lineWith(scr, "▶ Autumn"), "/60")
	})
	s.press("k", "w")
	s.waitFor("Spring sale  sending")
	s.waitFor("Workers (1 alive)")
	s.press("p")
	// The banner names who paused it: another session, or the command
	// line, would read the same.
	s.waitUntil("the banner of a pause by tester", func(scr string) bool {
		return regexp.MustCompile(`Paused by tester at \d\d:\d\d:\d\d: no new deliveries start — r resumes`).MatchString(scr)
	})
	s.waitFor("✓ Paused 'Spring sale'")
	waitStored(t, st, camp.ID, "paused", func(c store.Campaign, _ store.SendState) bool { return c.Status == store.StatusPaused })
	s.press("r")
	s.waitFor("✓ Resumed 'Spring sale'")
	s.waitGone("Paused by")
	waitStored(t, st, camp.ID, "sending again", func(c store.Campaign, _ store.SendState) bool { return c.Status == store.StatusSending })

	s.press("x")
	s.waitFor("Cancel the send of 'Spring sale'?")
	s.typeText("spring sale") // the wrong case is the wrong name
	s.press("enter")
	s.waitFor("That is not the name.")
	if c := campaignByID(t, st, camp.ID); c.Status != store.StatusSending {
		t.Fatalf("a wrong name changed the campaign: %s", c.Status)
	}
	s.press("esc")
	s.waitGone("Cancel the send of")
	if c := campaignByID(t, st, camp.ID); c.Status != store.StatusSending {
		t.Fatalf("esc changed the campaign: %s", c.Status)
	}
	s.press("x")
	s.waitFor("Type the campaign's name to confirm")
	s.typeText("q Spring sale") // q is typing here, not quitting
	s.waitFor("> q Spring sale")
	for range "q " {
		s.press("home", "delete")
	}
	s.press("enter")
	scr := s.waitFor("Cancelled by tester at ")
	waitStored(t, st, camp.ID, "cancelled", func(c store.Campaign, ss store.SendState) bool {
		return c.Status == store.StatusCancelled && ss.Counts[store.RecipientCancelled] > 0
	})
	if !strings.Contains(scr, "cancelled") {
		t.Errorf("the pane does not show the cancelled status:\n%s", frame(scr))
	}
	if c := campaignByID(t, st, other.ID); c.Status != store.StatusSending {
		t.Errorf("the other send is %s, want sending", c.Status)
	}
}

// R in the pane asks first, naming the count read from the ledger; the
// pane and the failures view read the store, and nothing dials.
func TestRetryFromThePaneAsksWithTheCount(t *testing.T) {
	st := newTestStore(t)
	camp := seedFailedSend(t, st)
	ln := newConnListener(t, false)
	rig := newSendRig(t, st, ln.url(), rigOptions{})
	s := startAppWith(t, rig.common(), 100, 30)
	s.waitFor("Spring sale")
	s.press("w")
	scr := s.waitFor("Completed with 2 failures (1 sent)")
	if line := lineWith(scr, "u001@example.com"); !strings.Contains(line, "5 tries") || !strings.Contains(line, "421 try again later") {
		t.Errorf("the pane's failure line: %q\n%s", line, frame(scr))
	}
	s.press("R")
	s.waitFor("Retry 2 failed recipients of 'Spring sale'?")
	s.press("enter")
	s.waitGone("Retry 2 failed")
	s.waitFor("Failures of 'Spring sale'  2 failed recipients")
	s.press("esc", "esc")
	s.waitFor("LAST SEND")
	if n := ln.count.Load(); n != 0 {
		t.Errorf("%d connections without a retry", n)
	}
	if got, _ := st.SendState(camp.ID); got.Round != 1 {
		t.Errorf("the send moved to round %d", got.Round)
	}
}

// y copies with OSC 52: in the failures view the selected row whole
// (address, tries, the reason the screen may cut), in the list the
// campaign's ID for the command line.
func TestCopyFailureAndCampaignID(t *testing.T) {
	st := newTestStore(t)
	camp := seedFailedSend(t, st)
	s := startApp(t, st, 80, 24)
	s.waitFor("Spring sale")
	s.press("w")
	s.waitFor("Completed with 2 failures")
	s.press("f")
	// The header shows before the ledger is read: wait for the rows.
	scr := s.waitUntil("the failures to be read", func(scr string) bool {
		return strings.Contains(scr, "Failures of 'Spring sale'") && strings.Contains(lineWith(scr, "▌"), "@example.com")
	})
	selected := strings.Fields(strings.TrimPrefix(strings.TrimSpace(lineWith(scr, "▌")), "▌"))
	if len(selected) == 0 || !strings.HasSuffix(selected[0], "@example.com") {
		t.Fatalf("no selected failure:\n%s", frame(scr))
	}
	s.press("y")
	s.waitClipboard(selected[0] + "\t5\t421 try again later")
	s.waitFor("Copied " + selected[0])
	s.press("esc", "esc")
	s.waitFor("LAST SEND")
	s.press("y")
	s.waitClipboard(strconv.FormatUint(camp.ID, 10))
	s.waitFor(fmt.Sprintf("Copied ID %d", camp.ID))
}

// seedFailedSend stores a finished send of 'Spring sale' to three
// contacts: one sent, two failed after 5 tries with "421 try again later".
func seedFailedSend(t *testing.T, st *store.Store) store.Campaign {
	t.Helper()
	return seedFinishedSend(t, st, "Spring sale", 3, "u000@example.com")
}

// seedFinishedSend stores a finished send of name to n contacts: sent to
// the address sentTo (none when empty), the others failed after 5 tries
// with "421 try again later".
func seedFinishedSend(t *testing.T, st *store.Store, name string, n int, sentTo string) store.Campaign {
	t.Helper()
	seedContacts(t, st, sendContactsCSV(n))
	camp := seedSend(t, st, name, 0)
	_, ss, err := st.StartSend("tester", camp.ID, camp.Version)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.MarkEnqueued(camp.ID, ss.Round); err != nil {
		t.Fatal(err)
	}
	var events []store.RecipientEvent
	err = st.ForEachLedger(camp.ID, func(e store.LedgerEntry) error {
		ev := store.RecipientEvent{ContactID: e.ContactID, Round: 1, State: store.RecipientFailed, Attempt: 5, Reason: "421 try again later", At: time.Now()}
		if sentTo != "" && e.Address == sentTo {
			ev.State, ev.Reason, ev.Attempt = store.RecipientSent, "", 1
		}
		events = append(events, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ApplyEvents(camp.ID, "1-1", events); err != nil {
		t.Fatal(err)
	}
	return camp
}

// t in the pane changes a running send's rate: a bad number is refused in
// the dialog with nothing changed; a good one is stored, audited, written
// where the workers read it, and the send speeds up to finish (at the old
// 2/s the 60 recipients would take half a minute).
func TestSetRateFromThePane(t *testing.T) {
	srv := redistest.Start(t)
	st := newTestStore(t)
	seedContacts(t, st, sendContactsCSV(60))
	camp := seedSend(t, st, "Spring sale", 2)
	rig := newSendRig(t, st, srv.URL(), rigOptions{worker: true})
	s := startAppWith(t, rig.common(), 100, 30)
	s.waitFor("Spring sale")
	s.sendFromList("Spring sale", 60)
	s.waitFor("(limit 2/s)")
	s.waitFor("t set rate")

	s.press("t")
	s.waitFor("Rate of 'Spring sale'")
	s.waitFor("> 2")
	s.press("backspace")
	s.typeText("fast")
	s.press("enter")
	s.waitFor(`"fast" is not a rate`)
	if c := campaignByID(t, st, camp.ID); c.Rate != 2 || c.Version != camp.Version+1 {
		t.Fatalf("a refused rate changed the campaign: rate %d version %d", c.Rate, c.Version)
	}
	for range "fast" {
		s.press("backspace")
	}
	s.typeText("600")
	s.press("enter")
	s.waitFor("'Spring sale' now sends at 600/s")
	waitStored(t, st, camp.ID, "the new rate", func(c store.Campaign, _ store.SendState) bool { return c.Rate == 600 })

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	if got, err := rdb.HGet(context.Background(), queue.ControlKey(camp.ID), "rate").Result(); err != nil || got != "600" {
		t.Errorf("the workers read rate %q (%v), want 600", got, err)
	}
	audit, err := st.Audit(5)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range audit {
		if e.Action == "campaign.rate" && e.Actor == "tester" && e.Detail == "2/s → 600/s" {
			found = true
		}
	}
	if !found {
		t.Errorf("the change is not in the audit log: %+v", audit)
	}
	waitStored(t, st, camp.ID, "the send to finish at the new rate", func(c store.Campaign, ss store.SendState) bool {
		return c.Status == store.StatusCompleted && ss.Counts[store.RecipientSent] == 60
	})

	// A finished send has no rate to change.
	s.waitFor("✓ Completed: 60 sent")
	s.press("t")
	s.waitFor("'Spring sale' is completed")
	s.press("!") // the error list holds the whole sentence
	s.waitFor("only a running send's rate changes here")
}

// A cancel from the pane while Redis cannot be reached changes nothing,
// says why, and asks whether to record the cancel in the ledger alone
// (that Redis gone for good, over SSH with no shell to run the command):
// n keeps the send, y cancels it in the ledger and the pane shows it.
func TestPaneOffersTheCancelInTheLedgerWhenRedisIsGone(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, "email,name\nada@example.com,Ada\nbob@example.com,Bob\ncy@example.com,Cy\n")
	camp := seedSend(t, st, "Spring sale", 10)
	if _, _, err := st.StartSend("tester", camp.ID, 0); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("redis://127.0.0.1:%d", redistest.FreePort(t))
	rig := newSendRig(t, st, url, rigOptions{})
	s := startAppWith(t, rig.common(), 100, 30)
	s.waitFor("Spring sale")
	s.press("w")
	s.waitFor("Queued 3")

	cancel := func() {
		t.Helper()
		s.press("x")
		s.waitFor("Type the campaign's name to confirm")
		s.typeText("Spring sale")
		s.press("enter")
		// The question, and the error under it (its own message).
		wants := []string{"Cancel 'Spring sale' in the ledger alone?", "cannot reach Redis at " + url,
			"Workers are not told", "gone for good", "Keep sending"}
		s.waitUntil("the question and the error", func(scr string) bool {
			text := flat(strings.ReplaceAll(scr, "│", " ")) // the box's lines read on, wherever they wrap
			for _, want := range wants {
				if !strings.Contains(text, want) {
					return false
				}
			}
			return true
		})
	}
	cancel()
	s.press("n")
	s.waitGone("in the ledger alone?")
	if c, _ := st.Campaign(camp.ID); c.Status != store.StatusSending {
		t.Fatalf("n changed the send: %s", c.Status)
	}

	cancel()
	s.press("y")
	scr := s.waitFor("Cancelled 3")
	if !strings.Contains(scr, "Queued 0") {
		t.Errorf("the pane after the cancel in the ledger:\n%s", frame(scr))
	}
	c, _ := st.Campaign(camp.ID)
	counts, _ := st.LedgerCounts(camp.ID)
	if c.Status != store.StatusCancelled || counts[store.RecipientCancelled] != 3 {
		t.Fatalf("after y: %s %v", c.Status, counts)
	}
}

// A pause this session did not make — another person's, or the pause of a
// send that fails everyone — is flashed wherever the session is, naming
// who paused it; this session's own pause is not news to it.
func TestAPauseByAnotherIsFlashed(t *testing.T) {
	srv := redistest.Start(t)
	st := newTestStore(t)
	seedContacts(t, st, sendContactsCSV(5))
	seedSend(t, st, "Spring sale", 0)
	rec := holdingRecorder() // deliveries wait: the send stays under way
	rig := newSendRig(t, st, srv.URL(), rigOptions{worker: true, rec: rec})
	defer rec.release()
	s := startAppWith(t, rig.common(), 100, 30)
	s.waitFor("Spring sale")
	s.sendFromList("Spring sale", 5)
	s.waitFor("sending")
	s.press("2") // on another screen
	s.waitFor("Contacts")
	camps, err := st.Campaigns()
	if err != nil || len(camps) != 1 {
		t.Fatal(camps, err)
	}
	if _, err := rig.svc.Pause(context.Background(), "ann@elsewhere", camps[0].ID); err != nil {
		t.Fatal(err)
	}
	s.waitFor("'Spring sale' was paused by ann@elsewhere")
}
