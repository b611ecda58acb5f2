package ui

import (
	"strings"
	"testing"
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
