package ui

import (
	"strings"
	"testing"
)

func TestSuppressionAddAndRemoveWithConfirmation(t *testing.T) {
	st := newTestStore(t)
	s := startApp(t, st, 80, 24)
	s.press("3")
	s.waitFor("Addresses here never receive anything, whatever campaign includes them")

	// An invalid address is an inline error and nothing is saved.
	before := ctSnapshot(t, st)
	s.press("a")
	s.waitFor("Suppress an address")
	s.typeText("gone@nowhere\n")
	s.waitFor("is not a valid email address: the domain has no dot")
	s.typeText("q") // q typed into a form is text
	s.press("esc")
	s.waitFor("Discard this address?") // what was typed is not lost to one key
	s.press("y")
	s.waitFor("never receive anything")
	if after := ctSnapshot(t, st); after != before {
		t.Errorf("an invalid address changed the store:\nbefore %s\nafter  %s", before, after)
	}

	s.press("a")
	s.waitFor("Suppress an address")
	s.typeText("Gone@Example.com\nhard bounce\n")
	// The form shows the reason while typing and the flash names the
	// address: wait for the list's row, with its reason and author.
	s.waitUntil("the new row with its reason and author", func(scr string) bool {
		row := lineWith(scr, "gone@example.com")
		return strings.Contains(row, "hard bounce") && strings.Contains(row, "tester")
	})
	s.waitFor("3 Suppression (1)")
	sups, err := st.Suppressions()
	if err != nil {
		t.Fatal(err)
	}
	if len(sups) != 1 || sups[0].Address != "gone@example.com" || sups[0].Reason != "hard bounce" {
		t.Fatalf("suppression list = %+v", sups)
	}

	// d asks first, naming the address; n cancels and keeps it.
	s.press("d")
	scr := s.waitFor("Remove gone@example.com from the suppression list?")
	if !strings.Contains(scr, "hard bounce") {
		t.Errorf("the confirmation does not say why it was suppressed:\n%s", frame(scr))
	}
	s.press("n")
	s.waitGone("Remove gone@example.com")
	if sups, _ := st.Suppressions(); len(sups) != 1 {
		t.Fatalf("cancel removed the address: %+v", sups)
	}
	// Cancel has the focus: tab moves to Remove, enter presses it.
	s.press("d")
	s.waitFor("Remove gone@example.com from the suppression list?")
	s.press("tab", "enter")
	s.waitFor("✓ Unsuppressed")
	s.waitFor("never receive anything")
	if sups, _ := st.Suppressions(); len(sups) != 0 {
		t.Fatalf("the address is still suppressed: %+v", sups)
	}
}

func TestSuppressionFilter(t *testing.T) {
	st := newTestStore(t)
	for addr, reason := range map[string]string{
		"a@example.com": "unsubscribed", "b@example.com": "hard bounce", "c@example.com": "complained",
	} {
		if _, err := st.Suppress("alice", addr, reason); err != nil {
			t.Fatal(err)
		}
	}
	s := startApp(t, st, 80, 24)
	s.press("3")
	s.waitFor("Suppression list · 3 addresses")
	s.press("/")
	s.typeText("bounce")
	scr := s.waitFor("1 of 3 addresses · /bounce")
	if strings.Contains(scr, "a@example.com") || !strings.Contains(scr, "b@example.com") {
		t.Errorf("/bounce shows the wrong rows:\n%s", frame(scr))
	}
	s.press("enter")
	s.press("esc")
	s.waitFor("Suppression list · 3 addresses")
	s.waitFor("a@example.com")

	s.press("/")
	s.typeText("zzz")
	s.waitFor("No address matches /zzz — esc clears the filter")
	s.press("esc")
	s.waitFor("c@example.com")
}
