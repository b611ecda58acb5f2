package ui

import (
	"strings"
	"testing"
	"time"

	"tui/internal/graphtest"
	"tui/internal/redistest"
	"tui/store"
	"tui/worker"
)

// The contacts screen shows each address's kind; the detail says which
// channels reach it.
func TestContactsShowTheAddressKind(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, "name,email,phone,psid\nAda,ada@example.com,,\nBob,,+14155550123,\nCat,,,1254477777772919\n")
	s := startApp(t, st, 100, 24)
	s.press("2")
	scr := s.waitFor("1254477777772919")
	for addr, kind := range map[string]string{"ada@example.com": "email", "+14155550123": "phone", "1254477777772919": "psid"} {
		if line := lineWith(scr, addr); !strings.Contains(line, " "+kind+" ") {
			t.Errorf("the row of %s does not say %s: %q\n%s", addr, kind, line, frame(scr))
		}
	}
	if !strings.Contains(scr, "KIND") {
		t.Errorf("no KIND column:\n%s", frame(scr))
	}
	s.press("G", "enter")
	scr = s.waitFor("Contact 1254477777772919")
	if !strings.Contains(scr, "psid, a Messenger page-scoped ID") {
		t.Errorf("the detail does not say what the address is:\n%s", frame(scr))
	}
}

// The editor sets a messenger campaign's messaging type and tag; the tag
// is there only with MESSAGE_TAG, and the detail pane shows both.
func TestEditorSetsMessagingTypeAndTag(t *testing.T) {
	st := newTestStore(t)
	s := startApp(t, st, 100, 30)
	s.waitFor("No campaigns yet")
	s.press("n")
	s.waitFor("New campaign")
	s.typeText("Shipping")
	s.press("tab", "m") // channel: messenger
	scr := s.waitFor("Msg type")
	if strings.Contains(scr, "CONFIRMED_EVENT_UPDATE") {
		t.Errorf("a tag is offered with UPDATE:\n%s", frame(scr))
	}
	s.press("tab", "tab", "m") // past the API URL; messaging type: MESSAGE_TAG
	s.waitFor("ACCOUNT_UPDATE")
	s.press("tab", "p") // tag: POST_PURCHASE_UPDATE
	s.waitFor("POST_PURCHASE_UPDATE")
	s.press("tab", "tab") // subject, body
	s.typeText("Your order {{.name}} has shipped.")
	s.press("ctrl+s")
	s.waitFor("draft      messenger")
	s.press("enter")
	scr = s.waitFor("MESSAGE_TAG  tag POST_PURCHASE_UPDATE")
	cs, err := st.Campaigns()
	if err != nil || len(cs) != 1 {
		t.Fatalf("%v %v", cs, err)
	}
	if c := cs[0]; c.MessagingType != store.MessagingMessageTag || c.MessageTag != store.TagPostPurchaseUpdate {
		t.Fatalf("stored %q %q\n%s", c.MessagingType, c.MessageTag, frame(scr))
	}
	// Back to UPDATE: the tag goes with it.
	s.press("esc", "e")
	s.waitFor("Edit campaign")
	s.press("tab", "tab", "tab", "u", "ctrl+s")
	s.waitFor("draft      messenger")
	s.press("enter")
	s.waitFor("UPDATE  within 24 hours")
	if c, _ := st.Campaign(cs[0].ID); c.MessagingType != store.MessagingUpdate || c.MessageTag != "" {
		t.Fatalf("after UPDATE: %q %q", c.MessagingType, c.MessageTag)
	}
}

// The send dialog names who the channel leaves out, and blocks a send
// without a message tag to people outside the 24-hour window with the
// sentence that says so.
func TestSendDialogNamesTheWindowAndWhoIsLeftOut(t *testing.T) {
	st := newTestStore(t)
	old := time.Now().Add(-3 * 24 * time.Hour).UTC().Format(time.RFC3339)
	seedContacts(t, st, "name,email,psid,last_interaction_at\n"+
		"Ada,ada@example.com,,\nBob,,1254477777772919,"+old+"\nCat,,26203292189261166,"+time.Now().UTC().Format(time.RFC3339)+"\n")
	c, err := st.CreateCampaign("tester", store.Campaign{Name: "Card expiry", Channel: store.ChannelMessenger, Body: "Hi {{.name}}, your card expires soon."})
	if err != nil {
		t.Fatal(err)
	}
	ln := newConnListener(t, false)
	rig := newSendRig(t, st, ln.url(), rigOptions{})
	s := startAppWith(t, rig.common(), 100, 34)
	s.waitFor("Card expiry")
	s.press("s")
	scr := s.waitFor("Cannot send 'Card expiry'")
	for _, want := range []string{
		"Recipients 2",
		"Messaging UPDATE",
		"Left out 1 contact has an email address, and Messenger reaches only page-",
		"Blocked: 1 of 2 recipients last wrote to the Page more than 24 hours ago (last_interaction_at), outside Messenger's standard messaging window: the campaign needs a message tag",
		"Recipients that block the send (1)",
	} {
		if !strings.Contains(unboxed(scr), want) {
			t.Errorf("the dialog lacks %q:\n%s", want, frame(scr))
		}
	}
	if line := lineWith(scr, "psid:1254477777772919"); !strings.Contains(line, "outside the 24-hour window") {
		t.Errorf("the contact outside the window is not named: %q\n%s", line, frame(scr))
	}
	// With a tag the send may go; the dialog says the tag reaches them.
	c.MessagingType, c.MessageTag = store.MessagingMessageTag, store.TagAccountUpdate
	if _, err := st.UpdateCampaign("tester", c); err != nil {
		t.Fatal(err)
	}
	s.press("esc")
	s.waitGone("Cannot send")
	s.press("s")
	scr = s.waitFor("Send 'Card expiry' to 2 recipients?")
	if !strings.Contains(unboxed(scr), "1 recipient is outside the 24-hour window; the ACCOUNT_UPDATE tag reaches them") {
		t.Errorf("the confirmation does not say the tag reaches them:\n%s", frame(scr))
	}
	if n := ln.count.Load(); n != 0 {
		t.Errorf("%d connections during the preflight", n)
	}
}

// unboxed is flat for text inside a dialog's border.
func unboxed(scr string) string { return flat(strings.ReplaceAll(scr, "│", " ")) }

// A revoked page token fails nobody: the in-process worker stops reading
// the send, and the pane says no running worker can deliver it and why,
// while every recipient waits in the queue.
func TestPaneSaysWhyARevokedTokenStopsTheSend(t *testing.T) {
	srv := redistest.Start(t)
	graph := graphtest.Start(t, "EAAGgoodPAGEtoken")
	st := newTestStore(t)
	seedContacts(t, st, "name,psid\nAda,1254477777772919\nBob,26203292189261166\nCat,1254477777772920\n")
	if _, err := st.CreateCampaign("tester", store.Campaign{Name: "Card expiry", Channel: store.ChannelMessenger,
		MessagingType: store.MessagingMessageTag, MessageTag: store.TagAccountUpdate, Body: "Hi {{.name}}"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MESSENGER_PAGE_TOKEN": "EAAGrevokedTOKEN", "MESSENGER_API_BASE": graph.URL}
	rig := newSendRig(t, st, srv.URL(), rigOptions{worker: true, source: worker.NewChannels(func(k string) string { return env[k] }, "")})
	s := startAppWith(t, rig.common(), 120, 40)
	s.waitFor("Card expiry")
	s.sendFromList("Card expiry", 3)
	scr := s.waitUntil("the pane to say why nothing is delivered", func(scr string) bool {
		return strings.Contains(flat(scr), "No running worker can deliver this send: the Page access token (MESSENGER_PAGE_TOKEN) is invalid")
	})
	for _, want := range []string{"restart it (Graph error 190", "Failed 0", "Queued 3"} {
		if !strings.Contains(flat(scr), want) {
			t.Errorf("the pane lacks %q:\n%s", want, frame(scr))
		}
	}
	if n := len(graph.Requests()); n != 0 {
		t.Errorf("%d messages went out with a revoked token", n)
	}
}

// The import form takes the address columns a file names otherwise, with
// their kind.
func TestImportFormReadsPSIDsFromANamedColumn(t *testing.T) {
	st := newTestStore(t)
	path := ctWriteFile(t, "fans.csv", "Name,Messenger ID\nAda,1254477777772919\nBob,26203292189261166\n")
	s := startApp(t, st, 100, 24)
	s.press("2")
	s.waitFor("No contacts yet")
	s.press("i")
	s.waitFor("Import contacts from a CSV file")
	s.typeText(path + "\nfans")
	s.press("tab") // the optional Columns field: enter on Tags would import
	s.typeText("Messenger ID=fax\n")
	s.waitFor("unknown address kind \"fax\"")
	s.press("ctrl+u")
	s.typeText("Messenger ID=psid\n")
	scr := s.waitFor("Imported fans.csv")
	if !strings.Contains(scr, "2 rows read: 2 created") {
		t.Errorf("the report:\n%s", frame(scr))
	}
	c, err := st.ContactByAddress("psid:26203292189261166")
	if err != nil || c.Kind != store.KindPSID || c.Name != "Bob" || !c.HasTag("fans") {
		t.Fatalf("%+v %v", c, err)
	}
}
