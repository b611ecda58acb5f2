package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/queue"
	"tui/sending"
	"tui/store"
)

// What is open over the campaign list is a stack: E on a send's pane opens
// the export dialog over it; esc closes the dialog alone, and the pane,
// still there, gets the next keys; esc then closes the pane.
func TestEscPopsTheTopLayerOnly(t *testing.T) {
	st := newTestStore(t)
	seedAllFailedSend(t, st, "Spring sale", 3)
	s := startApp(t, st, 80, 24)
	s.waitFor("Spring sale")

	s.press("w")
	scr := s.waitFor("f lists them")
	if !strings.Contains(scr, "Campaigns › Spring sale › Send") {
		t.Fatalf("the pane is not open:\n%s", frame(scr))
	}

	s.press("E")
	scr = s.waitFor("Export the ledger of 'Spring sale'")
	// The pane stays where it was, under the dialog: its title, its place
	// in the status bar; the footer has the dialog's keys.
	if !strings.Contains(lineWith(scr, "ID "), "Spring sale") || !strings.Contains(scr, "Campaigns › Spring sale › Send") {
		t.Fatalf("the pane is not under the export dialog:\n%s", frame(scr))
	}
	if strings.Contains(scr, "f failures") {
		t.Fatalf("the footer shows the pane's keys while the dialog has them:\n%s", frame(scr))
	}

	s.press("esc")
	scr = s.waitGone("Export the ledger")
	if !strings.Contains(scr, "f lists them") || !strings.Contains(scr, "Campaigns › Spring sale › Send") {
		t.Fatalf("esc closed more than the export dialog:\n%s", frame(scr))
	}
	s.press("f") // the pane's key, not the list's filter
	scr = s.waitFor("Failures of 'Spring sale'")
	if strings.Contains(scr, "/ name, channel") {
		t.Fatalf("f reached the list under the pane:\n%s", frame(scr))
	}
	s.press("esc")
	s.waitGone("Failures of 'Spring sale'")
	s.waitFor("f lists them")

	s.press("esc")
	scr = s.waitFor("NAME")
	if strings.Contains(scr, "f lists them") || strings.Contains(scr, "› Send") {
		t.Fatalf("esc did not close the pane:\n%s", frame(scr))
	}
	// The list has the keys again: E there opens the dialog over the list.
	s.press("E")
	s.waitFor("Export the ledger of 'Spring sale'")
	s.press("esc")
	scr = s.waitGone("Export the ledger")
	if !strings.Contains(scr, "NAME") {
		t.Fatalf("esc over the list closed more than the dialog:\n%s", frame(scr))
	}
}

// A send hidden while it queues leaves the screen, not the session: the
// list has the keys again, a second send is refused while it queues, and
// once queued it opens nothing (the flash said it started; w opens it).
func TestHiddenQueueingGoesOnBehindTheList(t *testing.T) {
	st := newTestStore(t)
	camp := seedCampaign(t, st, "Spring sale")
	c := NewCommon(st, "tester", queue.IdleStatus(queue.DefaultURL))
	c.Sends = sending.New(st, nil)
	scr := NewCampaignsScreen(c)
	scr.SetSize(80, 21)
	scr.Init()
	scr.Update(campaignsLoadedMsg{req: scr.loadReq, rows: []campaignRow{newCampaignRow(camp)}})

	f := newSendFlow(c, 1, camp)
	f.stage, f.queued, f.progress = sendQueueing, true, sending.Progress{Total: 10, Enqueued: 4}
	scr.flowRuns = 1
	scr.push(&flowLayer{f})
	if v := ansi.Strip(scr.View()); !strings.Contains(v, "Queueing Spring sale… 4/10") || !scr.Capturing() {
		t.Fatalf("the queueing dialog is not on screen:\n%s", v)
	}

	_, cmd := scr.Update(tea.KeyPressMsg{Code: tea.KeyEscape})
	if msg, ok := cmd().(FlashMsg); !ok || !strings.Contains(msg.Text, "goes on in the background") {
		t.Fatalf("esc says %#v", msg)
	}
	if v := ansi.Strip(scr.View()); strings.Contains(v, "Queueing") || !strings.Contains(v, "NAME") || scr.Capturing() {
		t.Fatalf("the hidden queueing still covers the list:\n%s", v)
	}
	_, cmd = scr.Update(tea.KeyPressMsg{Code: 's', Text: "s"})
	if msg, ok := cmd().(ErrorMsg); !ok || !strings.Contains(msg.Err.Error(), "still queueing 'Spring sale' (4/10)") {
		t.Fatalf("a second send while one queues: %#v", msg)
	}

	scr.Update(sendStartMsg{run: 1, res: sending.Result{Campaign: camp, Total: 10}})
	if scr.sendFlow() != nil || len(scr.stack) != 0 {
		t.Fatalf("the queued send is still kept: %d layers", len(scr.stack))
	}
	if v := ansi.Strip(scr.View()); strings.Contains(v, "› Send") || !strings.Contains(v, "NAME") {
		t.Fatalf("the end of a hidden queueing opened something:\n%s", v)
	}
}

// The delete question names the recipients once they are counted, even
// when the count arrives after the question opened.
func TestDeleteQuestionCountsWhileOpen(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, twoContacts)
	camp := seedCampaign(t, st, "Spring sale")
	scr := NewCampaignsScreen(NewCommon(st, "tester", queue.IdleStatus(queue.DefaultURL)))
	scr.SetSize(80, 21)
	scr.Init()
	scr.Update(campaignsLoadedMsg{req: scr.loadReq, rows: []campaignRow{newCampaignRow(camp)}})

	scr.Update(tea.KeyPressMsg{Code: 'd', Text: "d"})
	if v := ansi.Strip(scr.View()); !strings.Contains(v, "Delete campaign 'Spring sale' (counting recipients…)?") {
		t.Fatalf("the question before the count:\n%s", v)
	}
	scr.Update(audienceSizeMsg{gen: scr.sizeGen, key: store.AudienceKey(&camp), n: 2})
	if v := ansi.Strip(scr.View()); !strings.Contains(v, "Delete campaign 'Spring sale' (2 recipients)?") {
		t.Fatalf("the question after the count:\n%s", v)
	}
	scr.Update(tea.KeyPressMsg{Code: tea.KeyEscape})
	if v := ansi.Strip(scr.View()); strings.Contains(v, "Delete campaign") || scr.Capturing() {
		t.Fatalf("esc left the question open:\n%s", v)
	}
}
