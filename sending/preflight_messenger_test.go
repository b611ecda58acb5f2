package sending

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"tui/internal/testkit/seed"
	"tui/store"
)

// importFans imports a CSV of Messenger contacts (and others) tagged fans.
func importFans(t *testing.T, st *store.Store, csv string) {
	t.Helper()
	rep, err := st.ImportCSV(context.Background(), strings.NewReader(csv), store.ImportOptions{Tags: []string{"fans"}})
	if err != nil || rep.Invalid > 0 {
		t.Fatalf("import: %+v %v", rep, err)
	}
}

func preflight(t *testing.T, st *store.Store, c store.Campaign) *Preflight {
	t.Helper()
	c.Channel, c.Tags = store.ChannelMessenger, []string{"fans"}
	if c.Body == "" {
		c.Body = "Hi {{.name}}, your order has shipped."
	}
	c = create(t, st, c)
	p, err := New(st, newConn(t, "redis://127.0.0.1:1/0")).Preflight(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A messenger campaign goes to page-scoped IDs and phone numbers with their
// country code; the preflight names how many others it leaves out and why.
func TestPreflightLeavesOutWhomTheChannelCannotReach(t *testing.T) {
	st, _ := seed.Open(t)
	importFans(t, st, "name,email,phone,psid\n"+
		"Ada,ada@example.com,,\nBob,,555-0100,\nCat,,+14155550123,\nDan,,,1254477777772919\n")
	p := preflight(t, st, store.Campaign{Name: "Shipping"})
	if !p.OK() || p.Recipients != 2 {
		t.Fatalf("recipients %d, ok %v: %s", p.Recipients, p.OK(), p.Problem())
	}
	want := "1 contact has an email address, and Messenger reaches only page-scoped IDs (psid) and phone numbers; " +
		"1 contact has a phone number without its country code, and Messenger needs one (+14155550123)"
	if got := p.LeftOutText(); got != want {
		t.Fatalf("left out:\n got %s\nwant %s", got, want)
	}
	if s := p.Summary(); !strings.Contains(s, "Left out: "+want) || !strings.Contains(s, "Messaging type: UPDATE") {
		t.Fatalf("summary:\n%s", s)
	}
	// On smtp only Ada is left: the others are counted out.
	c := create(t, st, store.Campaign{Name: "Mail", Channel: store.ChannelSMTP, From: "news@example.com", Tags: []string{"fans"}, Body: "Hi {{.name}}"})
	p, err := New(st, newConn(t, "redis://127.0.0.1:1/0")).Preflight(context.Background(), c.ID)
	if err != nil || p.Recipients != 1 || len(p.LeftOut) != 2 || p.LeftOut[0].Count != 2 || p.LeftOut[1].Count != 1 {
		t.Fatalf("smtp: %+v %v", p, err)
	}
	// Nobody reachable: the preflight says so, and why.
	st2, _ := seed.Open(t)
	importFans(t, st2, "email\nzed@example.com\n")
	p = preflight(t, st2, store.Campaign{Name: "Nobody"})
	if p.OK() || !strings.Contains(p.Problem(), "nobody in the audience can be reached on the messenger channel (1 contact has an email address") {
		t.Fatalf("problem %q", p.Problem())
	}
}

// A text over the Send API's limit blocks the send, naming the contact.
func TestPreflightChecksMessengersTextLimit(t *testing.T) {
	st, _ := seed.Open(t)
	// "News", a blank line and 1,995 characters: 2,001, one over.
	importFans(t, st, "psid,name,note\n1254477777772919,Ada,short\n26203292189261166,Bob,"+strings.Repeat("é", 1995)+"\n")
	p := preflight(t, st, store.Campaign{Name: "Long", Subject: "News", Body: "{{.note}}"})
	if p.OK() || p.ErrorCount != 1 || p.TooLong != 1 {
		t.Fatalf("errors %d, too long %d: %s", p.ErrorCount, p.TooLong, p.Problem())
	}
	if !strings.Contains(p.Problem(), "1 of 2 messages are longer than the 2000 characters Messenger takes") {
		t.Fatalf("problem %q", p.Problem())
	}
	if e := p.Errors[0]; e.Address != "psid:26203292189261166" || !strings.Contains(e.Err.Error(), "the message is 2001 characters; Messenger takes at most 2000") {
		t.Fatalf("error %v", e)
	}
}

// The window: recipients whose last_interaction_at is older than 24 hours
// block a send without a message tag, with a sentence that says so; with
// MESSAGE_TAG and a tag they go, and the preflight notes how many are
// outside; HUMAN_AGENT reaches 7 days back.
func TestPreflightChecksTheMessagingWindow(t *testing.T) {
	st, _ := seed.Open(t)
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339) }
	importFans(t, st, "psid,name,last_interaction_at\n"+
		"1000000000001,In,"+at(2*time.Hour)+"\n"+
		"1000000000002,Out,"+at(30*time.Hour)+"\n"+
		"1000000000003,Old,"+fmt.Sprint(now.Add(-10*24*time.Hour).Unix())+"\n"+
		"1000000000004,Unknown,\n")
	p := preflight(t, st, store.Campaign{Name: "Update"})
	if p.OK() || p.OutsideWindow != 2 || p.WindowUnknown != 1 || p.ErrorCount != 2 {
		t.Fatalf("outside %d unknown %d errors %d", p.OutsideWindow, p.WindowUnknown, p.ErrorCount)
	}
	want := "2 of 4 recipients last wrote to the Page more than 24 hours ago (last_interaction_at), outside Messenger's standard messaging window: the campaign needs a message tag"
	if !strings.Contains(p.Problem(), want) {
		t.Fatalf("problem:\n%s\nwant %s", p.Problem(), want)
	}
	if e := p.Errors[0]; e.Address != "psid:1000000000002" || !strings.Contains(e.Err.Error(), "outside the 24-hour window: last wrote to the Page 30 hours ago (") {
		t.Fatalf("first error %v", e)
	}
	p = preflight(t, st, store.Campaign{Name: "Tagged", MessagingType: store.MessagingMessageTag, MessageTag: store.TagPostPurchaseUpdate})
	if !p.OK() || p.OutsideWindow != 2 || !strings.Contains(p.WindowNote(), "2 recipients are outside the 24-hour window; the POST_PURCHASE_UPDATE tag reaches them") {
		t.Fatalf("tagged: ok %v, %q, %q", p.OK(), p.Problem(), p.WindowNote())
	}
	p = preflight(t, st, store.Campaign{Name: "Agent", MessagingType: store.MessagingMessageTag, MessageTag: store.TagHumanAgent})
	if p.OK() || p.OutsideWindow != 1 || !strings.Contains(p.Problem(), "1 of 4 recipients last wrote to the Page more than 7 days ago") {
		t.Fatalf("human agent: %d outside, %q", p.OutsideWindow, p.Problem())
	}
	p = preflight(t, st, store.Campaign{Name: "Response", MessagingType: store.MessagingResponse, ExcludeTags: nil})
	if p.OK() || !strings.Contains(p.WindowNote(), "1 recipient has no last_interaction_at") {
		t.Fatalf("response: %q", p.WindowNote())
	}
}

func TestParseInteractionTime(t *testing.T) {
	want := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	for _, s := range []string{"2025-03-01T09:30:00Z", "2025-03-01T10:30:00+01:00", "2025-03-01 09:30", "2025-03-01T09:30:00", "1740821400", "1740821400000"} {
		if got, err := ParseInteractionTime(s); err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	if _, err := ParseInteractionTime("yesterday"); err == nil || !strings.Contains(err.Error(), `last_interaction_at "yesterday" is not a time`) {
		t.Errorf("yesterday: %v", err)
	}
}

// A last_interaction_at that is not a time blocks the send, counted in
// words that fit the count.
func TestPreflightNamesBadInteractionTimes(t *testing.T) {
	st, _ := seed.Open(t)
	importFans(t, st, "psid,name,last_interaction_at\n1000000000001,Ada,yesterday\n1000000000002,Bob,2025-03-01 09:30\n")
	p := preflight(t, st, store.Campaign{Name: "Update"})
	want := "1 recipient has a last_interaction_at that is not a time (use 2025-03-01T09:30:00Z, 2025-03-01 09:30 or Unix seconds)"
	if p.OK() || p.BadWindow != 1 || !strings.Contains(p.Problem(), want) {
		t.Fatalf("bad window %d: %q", p.BadWindow, p.Problem())
	}
}
