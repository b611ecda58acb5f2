package ui

import (
	"strings"
	"testing"

	"tui/internal/redistest"
	"tui/store"
)

// With --worker, quitting while the in-process worker delivers asks first,
// with Cancel focused; yes lets the deliveries in flight finish, then quits.
func TestWorkerQuitAsksAndDrains(t *testing.T) {
	srv := redistest.Start(t)
	st := newTestStore(t)
	seedContacts(t, st, sendContactsCSV(5))
	camp := seedSend(t, st, "Spring sale", 0)
	rec := holdingRecorder() // every delivery waits until released
	rig := newSendRig(t, st, srv.URL(), rigOptions{worker: true, rec: rec, grace: waitDeadline})
	s := startAppWith(t, rig.common(), 140, 30)
	s.waitFor("worker: 8 slots, starts with a send")
	s.waitFor("Spring sale")
	s.sendFromList("Spring sale", 5)
	s.waitFor("worker: 8 slots, 5 in flight")

	s.press("q")
	scr := s.waitFor("Sending continues on headless workers. Quit?")
	for _, want := range []string{"5 deliveries in flight", "[ Cancel ]", "headless-worker"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the question lacks %q:\n%s", want, frame(scr))
		}
	}
	s.press("enter") // Cancel
	s.waitGone("Sending continues on headless workers")
	s.waitFor("worker: 8 slots, 5 in flight") // still running

	s.press("q")
	s.waitFor("Sending continues on headless workers. Quit?")
	s.press("y")
	s.waitFor("Stopping the in-process worker: finishing 5 deliveries…")
	s.press("q", "esc") // nothing interrupts the drain but ctrl+c
	rec.release()
	s.finished()
	if snap := rig.lw.Snapshot(); snap.Phase != WorkerStopped {
		t.Errorf("the worker is %v after quitting, want stopped", snap.Phase)
	}
	if total, _ := rec.count(); total != 5 {
		t.Errorf("%d deliveries finished while draining, want 5", total)
	}
	// What finished was committed: the ledger learns it from Redis.
	waitStored(t, st, camp.ID, "the drained deliveries folded", func(c store.Campaign, ss store.SendState) bool {
		if ss.Counts[store.RecipientSent] == 5 {
			return true
		}
		_, _ = rig.svc.FoldAll(t.Context()) // the hub may have stopped with the session
		return false
	})
}

// A worker that has delivered nothing yet (Redis never dialled) does not
// hold up quitting.
func TestWorkerIdleQuitsAtOnce(t *testing.T) {
	st := newTestStore(t)
	ln := newConnListener(t, false)
	rig := newSendRig(t, st, ln.url(), rigOptions{worker: true})
	s := startAppWith(t, rig.common(), 120, 24)
	s.waitFor("worker: 8 slots, starts with a send")
	s.press("q")
	s.finished()
	if n := ln.count.Load(); n != 0 {
		t.Errorf("%d connections from a session that never sent", n)
	}
}
