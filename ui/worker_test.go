package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/queue"

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
	// No other worker exists: the question does not promise that sending
	// goes on.
	scr := s.waitFor("Quit? This process's worker stops")
	for _, want := range []string{"5 deliveries in flight", "[ Cancel ]", "No other worker is running", "headless-worker"} {
		if !strings.Contains(flat(scr), want) {
			t.Errorf("the question lacks %q:\n%s", want, frame(scr))
		}
	}
	if strings.Contains(scr, "Sending continues") {
		t.Errorf("the question claims other workers:\n%s", frame(scr))
	}
	s.press("enter") // Cancel
	s.waitGone("Quit? This process's worker stops")
	s.waitFor("worker: 8 slots, 5 in flight") // still running

	// A headless worker on another host comes up: now sending goes on.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	other := queue.WorkerInfo{ID: "far-1", Host: "elsewhere", PID: 1, Concurrency: 4, Started: time.Now(), LastSeen: time.Now()}
	if err := queue.Heartbeat(context.Background(), rdb, other); err != nil {
		t.Fatal(err)
	}
	s.waitUntil("the app to know the other worker", func(string) bool {
		s.press("q")
		scr := s.waitUntil("a quit question", func(scr string) bool { return strings.Contains(scr, "Quit?") })
		if strings.Contains(scr, "Sending continues on 1 other worker. Quit?") {
			return true
		}
		s.press("esc")
		s.waitGone("Quit?")
		return false
	})
	scr = s.screen()
	if !strings.Contains(flat(scr), "the other workers deliver the rest") {
		t.Errorf("the question does not say who delivers the rest:\n%s", frame(scr))
	}
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
