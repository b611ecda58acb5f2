package sending

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"tui/internal/redistest"
	"tui/internal/testkit"
	"tui/internal/testkit/seed"
	"tui/queue"
	"tui/store"
	"tui/worker"
)

// Two databases pointed at one Redis number their campaigns alike. A send
// of campaign 1 from one refuses to start while the other's campaign 1 is
// under way, and changes nothing; a database whose queue Redis lost while
// the other took the number folds none of the other's events, and its
// cancel stops nothing of the other's send.
func TestTwoDatabasesOnOneRedisKeepTheirSends(t *testing.T) {
	srv := redistest.Start(t)
	rdb := rdbFor(t, srv)
	ctx := context.Background()
	stA, _ := seed.Open(t)
	stB, _ := seed.Open(t)
	svcA := New(stA, newConn(t, srv.URL()))
	svcB := New(stB, newConn(t, srv.URL()))
	const n = 40
	a := startSend(t, stA, svcA, n, store.Campaign{Name: "A", Rate: 5})
	seed.Contacts(t, stB, n, "all")
	b := create(t, stB, store.Campaign{Name: "B", Tags: []string{"all"}})
	if a.ID != b.ID {
		t.Fatalf("campaign IDs %d and %d: the test needs them equal", a.ID, b.ID)
	}

	// B's start is refused while A's send is under way.
	_, err := svcB.Start(ctx, "t", b.ID, 0, nil)
	var foreign *queue.ForeignSendError
	if !errors.As(err, &foreign) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("B's start: %v, want a refusal naming the other database", err)
	}
	idA, _ := stA.Identity()
	if foreign.OwnerName != idA.Name || !strings.Contains(err.Error(), idA.Name) {
		t.Errorf("the refusal names %q, want A's %q: %v", foreign.OwnerName, idA.Name, err)
	}
	if c, _ := stB.Campaign(b.ID); c.Status != store.StatusDraft {
		t.Errorf("B's campaign is %s after the refusal, want draft", c.Status)
	}
	if _, err := stB.SendState(b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("B has a send after the refusal: %v", err)
	}
	if ctl, _ := rdb.HGetAll(ctx, queue.ControlKey(a.ID)).Result(); ctl["db"] != idA.ID || ctl["rate"] != "5" {
		t.Errorf("A's live settings after B's refusal: %v", ctl)
	}

	// Redis loses A's queue (flushed) and B takes the number.
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := svcB.Start(ctx, "t", b.ID, 0, nil); err != nil {
		t.Fatalf("B's start once the number is free: %v", err)
	}
	var mu sync.Mutex
	delivered := map[uint64]int{}
	runWorker(t, srv, channelFunc(func(d worker.Delivery) error {
		mu.Lock()
		delivered[d.Job.ContactID]++
		mu.Unlock()
		return nil
	}))
	testkit.Eventually(t, 30*time.Second, "events of B's send", func() bool { return rdb.XLen(ctx, queue.EventsKey(b.ID)).Val() > 0 })
	before := rdb.XLen(ctx, queue.EventsKey(b.ID)).Val()
	if _, err := svcA.FoldPending(ctx, rdb, a.ID); !errors.As(err, &foreign) {
		t.Fatalf("A's fold of B's events: %v, want a refusal", err)
	}
	if after := rdb.XLen(ctx, queue.EventsKey(b.ID)).Val(); after < before {
		t.Errorf("A's fold trimmed B's events: %d before, %d after", before, after)
	}
	if counts, _ := stA.LedgerCounts(a.ID); counts[store.RecipientSent] != 0 {
		t.Errorf("A's ledger took B's outcomes: %v", counts)
	}
	if _, err := svcA.Resume(ctx, "t", a.ID, nil); !errors.As(err, &foreign) {
		t.Errorf("A's resume: %v, want a refusal", err)
	}
	// A's follow says so of campaign 1, and goes on with A's other sends.
	a2 := create(t, stA, store.Campaign{Name: "A2", Tags: []string{"all"}})
	if _, err := svcA.Start(ctx, "t", a2.ID, 0, nil); err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	followed := make(chan struct{})
	var umu sync.Mutex
	said, completed := "", false
	go func() {
		defer close(followed)
		_ = svcA.Follow(fctx, func(u Update) {
			umu.Lock()
			defer umu.Unlock()
			if u.Campaign.ID == a.ID && u.RedisErr != "" {
				said = u.RedisErr
			}
			if u.Campaign.ID == a2.ID && u.Campaign.Status == store.StatusCompleted {
				completed = true
			}
		})
	}()
	testkit.Eventually(t, 30*time.Second, "A's follow to name the other database and complete A2", func() bool {
		umu.Lock()
		defer umu.Unlock()
		return said != "" && completed
	})
	stop()
	<-followed
	if !strings.Contains(said, "another tui database") {
		t.Errorf("A's pane would say %q of campaign 1", said)
	}
	if after := rdb.XLen(ctx, queue.EventsKey(b.ID)).Val(); after < before {
		t.Errorf("A's follow trimmed B's events: %d before, %d after", before, after)
	}
	// A's cancel is its ledger's alone.
	if c, err := svcA.Cancel(ctx, "t", a.ID); err != nil || c.Status != store.StatusCancelled {
		t.Fatalf("A's cancel: %s %v", c.Status, err)
	}
	if state := rdb.HGet(ctx, queue.ControlKey(b.ID), "state").Val(); state != string(queue.StateSending) {
		t.Errorf("B's send is %q after A's cancel", state)
	}
	foldUntil(t, svcB, rdb, b.ID, func(r store.FoldResult) bool { return r.Campaign.Status == store.StatusCompleted })
	counts, _ := stB.LedgerCounts(b.ID)
	mu.Lock()
	defer mu.Unlock()
	if counts[store.RecipientSent] != n || len(delivered) != n {
		t.Errorf("B: %v in its ledger, %d delivered, want %d sent", counts, len(delivered), n)
	}
}

// A send the ledger completed while Redis could not take the drop stays
// active there, and workers read it for ever: the follow's sweep drops it,
// also while nothing else is followed, and leaves alone another database's
// send and this one's live sends.
func TestASendOverInTheLedgerLeavesRedisAtTheSweep(t *testing.T) {
	srv := redistest.Start(t)
	rdb := rdbFor(t, srv)
	ctx := context.Background()
	st, _ := seed.Open(t)
	svc := New(st, newConn(t, srv.URL()))
	c := startSend(t, st, svc, 30, store.Campaign{Name: "Done"})
	runWorker(t, srv, channelFunc(func(worker.Delivery) error { return nil }))
	foldUntil(t, svc, rdb, c.ID, func(r store.FoldResult) bool { return r.Campaign.Status == store.StatusCompleted })
	ident, _ := st.Identity()
	// The drop at the end that Redis missed: the send as its start left it.
	stale := func() {
		t.Helper()
		if err := queue.SetControl(ctx, rdb, c.ID, queue.Control{State: queue.StateSending, Owner: ident.ID, OwnerName: ident.Name, Round: 1}); err != nil {
			t.Fatal(err)
		}
		if err := queue.Activate(ctx, rdb, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	isActive := func(id uint64) bool { return rdb.SIsMember(ctx, queue.ActiveKey(), id).Val() }

	// Nothing followed: the idle follow sweeps on the connection the send made.
	stale()
	defer func(every time.Duration) { sweepEvery = every }(sweepEvery)
	sweepEvery = 50 * time.Millisecond
	fctx, stop := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() { defer close(followed); _ = svc.Follow(fctx, func(Update) {}) }()
	testkit.Eventually(t, 30*time.Second, "the idle follow to drop the ended send", func() bool {
		return !isActive(c.ID) && rdb.Exists(ctx, queue.ControlKey(c.ID)).Val() == 0
	})
	stop()
	<-followed

	// Beside a live send of this database and another database's send.
	stale()
	live := create(t, st, store.Campaign{Name: "Live", Tags: []string{"all"}, Rate: 1})
	if _, err := svc.Start(ctx, "t", live.ID, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := queue.SetControl(ctx, rdb, 77, queue.Control{State: queue.StateSending, Owner: "other", OwnerName: "h:/other.db", Round: 1}); err != nil {
		t.Fatal(err)
	}
	if err := queue.Activate(ctx, rdb, 77); err != nil {
		t.Fatal(err)
	}
	sending, err := st.FollowedCampaigns(FollowCancelledFor)
	if err != nil {
		t.Fatal(err)
	}
	svc.sweepActive(ctx, rdb, sending)
	if isActive(c.ID) {
		t.Error("the completed send is still active")
	}
	for _, id := range []uint64{live.ID, 77} {
		if !isActive(id) {
			t.Errorf("campaign %d was dropped by the sweep", id)
		}
	}
}
