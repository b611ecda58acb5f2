package sending

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
	"tui/internal/testkit/seed"
	"tui/queue"
	"tui/store"
	"tui/worker"
)

// channelFunc delivers through a function.
type channelFunc func(d worker.Delivery) error

func (f channelFunc) Get(string) (worker.Channel, error)                 { return f, nil }
func (f channelFunc) Deliver(_ context.Context, d worker.Delivery) error { return f(d) }
func (f channelFunc) Close() error                                       { return nil }

func runWorker(t *testing.T, srv *redistest.Server, ch worker.ChannelSource) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	cfg := worker.Config{Channels: ch, Concurrency: 8, ID: fmt.Sprintf("w-%d", time.Now().UnixNano())}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	w := worker.New(rdb, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; rdb.Close() })
}

func ledgerDump(t *testing.T, st *store.Store, id uint64) string {
	t.Helper()
	out := ""
	err := st.ForEachLedger(id, func(e store.LedgerEntry) error {
		out += fmt.Sprintf("%d %s %d %q\n", e.ContactID, e.State, e.Attempts, e.LastError)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func startSend(t *testing.T, st *store.Store, svc *Service, n int, c store.Campaign) store.Campaign {
	t.Helper()
	seed.Contacts(t, st, n, "all")
	c.Tags = []string{"all"}
	c = create(t, st, c)
	if _, err := svc.Start(context.Background(), "t", c.ID, 0, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func foldUntil(t *testing.T, svc *Service, rdb redis.UniversalClient, id uint64, done func(store.FoldResult) bool) store.FoldResult {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := svc.FoldPending(context.Background(), rdb, id)
		if err != nil {
			t.Fatal(err)
		}
		if done(res) {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("fold never got there: %+v", res.Send.Counts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFoldCompletesWithExactCountsAndReplayChangesNothing(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	svc := New(st, newConn(t, srv.URL()))
	const n = 2000
	c := startSend(t, st, svc, n, store.Campaign{Name: "Fold"})
	runWorker(t, srv, channelFunc(func(d worker.Delivery) error {
		if d.Job.ContactID%100 == 0 {
			return worker.Permanent("550 no such user %s", d.Job.To)
		}
		return nil
	}))
	rdb := rdbFor(t, srv)
	res := foldUntil(t, svc, rdb, c.ID, func(r store.FoldResult) bool {
		return r.Completed || r.Campaign.Status == store.StatusCompleted
	})
	if got := res.Send.Counts; got[store.RecipientSent] != n-n/100 || got[store.RecipientFailed] != n/100 || res.Send.Remaining() != 0 {
		t.Fatalf("counts %v", got)
	}
	final, _ := st.Campaign(c.ID)
	if final.Status != store.StatusCompleted || final.LastSend.Sent != n-n/100 || final.LastSend.Failed != n/100 || final.LastSend.FinishedAt == nil {
		t.Fatalf("campaign %+v %+v", final, final.LastSend)
	}
	if l, _ := rdb.XLen(context.Background(), queue.EventsKey(c.ID)).Result(); l != 0 {
		t.Errorf("%d folded events left in Redis", l)
	}
	if active, _ := rdb.SIsMember(context.Background(), queue.ActiveKey(), c.ID).Result(); active {
		t.Error("a completed campaign is still active")
	}
	// Every failure carries the provider's reason.
	_ = st.ForEachLedger(c.ID, func(e store.LedgerEntry) error {
		if e.State == store.RecipientFailed && e.LastError != "550 no such user "+e.Address {
			t.Errorf("failure without its reason: %+v", e)
		}
		return nil
	})
}

func TestReplayingEventsTwiceYieldsTheSameLedger(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	svc := New(st, newConn(t, srv.URL()))
	const n = 500
	c := startSend(t, st, svc, n, store.Campaign{Name: "Replay"})
	rdb := rdbFor(t, srv)
	ctx := context.Background()
	attempts := map[uint64]int{}
	var mu sync.Mutex
	runWorker(t, srv, channelFunc(func(d worker.Delivery) error {
		mu.Lock()
		attempts[d.Job.ContactID]++
		a := attempts[d.Job.ContactID]
		mu.Unlock()
		if d.Job.ContactID%7 == 0 && a < 2 {
			return &worker.DeliveryError{Transient: true, Reason: "421 later", RetryAfter: 10 * time.Millisecond}
		}
		if d.Job.ContactID%11 == 0 {
			return worker.Permanent("550 gone")
		}
		return nil
	}))
	// Wait for every outcome to be in the events stream, unfolded.
	deadline := time.Now().Add(60 * time.Second)
	for {
		marks, _ := queue.AllMarks(ctx, rdb, c.ID)
		if len(marks) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d outcomes", len(marks))
		}
		time.Sleep(20 * time.Millisecond)
	}
	events, err := rdb.XRange(ctx, queue.EventsKey(c.ID), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.FoldPending(ctx, rdb, c.ID); err != nil {
		t.Fatal(err)
	}
	once := ledgerDump(t, st, c.ID)
	countsOnce, _ := st.LedgerCounts(c.ID)
	// The same events again, as if a crash had lost the cursor.
	for _, e := range events {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: queue.EventsKey(c.ID), Values: e.Values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.FoldPending(ctx, rdb, c.ID); err != nil {
		t.Fatal(err)
	}
	if twice := ledgerDump(t, st, c.ID); twice != once {
		t.Fatalf("a replay changed the ledger")
	}
	countsTwice, _ := st.LedgerCounts(c.ID)
	if fmt.Sprint(countsOnce) != fmt.Sprint(countsTwice) {
		t.Fatalf("counts %v then %v", countsOnce, countsTwice)
	}
	if countsOnce[store.RecipientSent]+countsOnce[store.RecipientFailed] != n {
		t.Fatalf("counts %v", countsOnce)
	}
}

func TestOutOfOrderEventsResolveToTheFinalState(t *testing.T) {
	st, _ := seed.Open(t)
	seed.Contacts(t, st, 3, "all")
	c := create(t, st, store.Campaign{Name: "Order", Tags: []string{"all"}})
	if _, _, err := st.StartSend("t", c.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkEnqueued(c.ID, 1); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	ev := func(contact uint64, s store.RecipientState, attempt int, reason string) store.RecipientEvent {
		return store.RecipientEvent{ContactID: contact, Round: 1, State: s, Attempt: attempt, Reason: reason, At: at}
	}
	// 1: delivered on the third attempt, its earlier retries arrive late.
	// 2: failed for good, a stale retry arrives after.
	// 3: a duplicate delivery after a failure report: sent wins.
	batches := [][]store.RecipientEvent{
		{ev(1, store.RecipientSent, 3, ""), ev(2, store.RecipientFailed, 5, "550 gone")},
		{ev(1, store.RecipientRetrying, 1, "421"), ev(1, store.RecipientRetrying, 2, "421"), ev(2, store.RecipientRetrying, 4, "421")},
		{ev(3, store.RecipientFailed, 1, "timeout"), ev(3, store.RecipientSent, 2, "")},
	}
	for i, b := range batches {
		if _, err := st.ApplyEvents(c.ID, fmt.Sprintf("1-%d", i+1), b); err != nil {
			t.Fatal(err)
		}
	}
	want := "1 sent 3 \"\"\n2 failed 5 \"550 gone\"\n3 sent 2 \"\"\n"
	if got := ledgerDump(t, st, c.ID); got != want {
		t.Fatalf("ledger:\n%s\nwant:\n%s", got, want)
	}
	got, _ := st.Campaign(c.ID)
	if got.Status != store.StatusCompleted {
		t.Fatalf("status %s", got.Status)
	}
}

func TestCancelAndRetryFailed(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	svc := New(st, newConn(t, srv.URL()))
	const n = 300
	c := startSend(t, st, svc, n, store.Campaign{Name: "Retry"})
	var mu sync.Mutex
	failing := true
	delivered := map[uint64]int{}
	runWorker(t, srv, channelFunc(func(d worker.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		if failing && d.Job.ContactID%3 == 0 {
			return worker.Permanent("550 mailbox full")
		}
		delivered[d.Job.ContactID]++
		return nil
	}))
	rdb := rdbFor(t, srv)
	foldUntil(t, svc, rdb, c.ID, func(r store.FoldResult) bool { return r.Campaign.Status == store.StatusCompleted })
	mu.Lock()
	failing = false
	mu.Unlock()
	res, err := svc.RetryFailed(context.Background(), "t", c.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != n/3 || res.Round != 2 {
		t.Fatalf("retry result %+v", res)
	}
	foldUntil(t, svc, rdb, c.ID, func(r store.FoldResult) bool { return r.Campaign.Status == store.StatusCompleted })
	mu.Lock()
	if len(delivered) != n {
		t.Fatalf("%d delivered after the retry, want %d", len(delivered), n)
	}
	for id, k := range delivered {
		if k != 1 {
			t.Fatalf("contact %d delivered %d times", id, k)
		}
	}
	mu.Unlock()
	counts, _ := st.LedgerCounts(c.ID)
	if counts[store.RecipientSent] != n {
		t.Fatalf("counts %v", counts)
	}

	// Cancel: a slow send, cancelled part way.
	c2 := create(t, st, store.Campaign{Name: "Cancel", Tags: []string{"all"}, Rate: 50})
	if _, err := svc.Start(context.Background(), "t", c2.ID, 0, nil); err != nil {
		t.Fatal(err)
	}
	foldUntil(t, svc, rdb, c2.ID, func(r store.FoldResult) bool { return r.Send.Counts[store.RecipientSent] >= 20 })
	if _, err := svc.Cancel(context.Background(), "t", c2.ID); err != nil {
		t.Fatal(err)
	}
	after, _ := st.Campaign(c2.ID)
	cc, _ := st.LedgerCounts(c2.ID)
	if after.Status != store.StatusCancelled || cc[store.RecipientCancelled] == 0 || cc[store.RecipientQueued] != 0 ||
		cc[store.RecipientSent]+cc[store.RecipientCancelled]+cc[store.RecipientFailed] != n {
		t.Fatalf("after cancel: %s %v", after.Status, cc)
	}
}

func TestResumeRequeuesWhatARedisWithoutPersistenceLost(t *testing.T) {
	srv := redistest.Start(t) // no appendonly: a restart loses everything
	st, _ := seed.Open(t)
	svc := New(st, newConn(t, srv.URL()))
	const n = 400
	c := startSend(t, st, svc, n, store.Campaign{Name: "Lost", Rate: 200})
	var mu sync.Mutex
	delivered := map[uint64]bool{}
	runWorker(t, srv, channelFunc(func(d worker.Delivery) error {
		mu.Lock()
		delivered[d.Job.ContactID] = true
		mu.Unlock()
		return nil
	}))
	rdb := rdbFor(t, srv)
	foldUntil(t, svc, rdb, c.ID, func(r store.FoldResult) bool { return r.Send.Counts[store.RecipientSent] >= 100 })
	srv.Restart()
	// The pane shows the send stalled; resume finds the queue gone and
	// queues again everyone not yet delivered.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := svc.Resume(context.Background(), "t", c.ID, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("resume after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the connection is coming back
	}
	foldUntil(t, svc, rdb, c.ID, func(r store.FoldResult) bool { return r.Campaign.Status == store.StatusCompleted })
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != n {
		t.Fatalf("%d of %d recipients delivered", len(delivered), n)
	}
	if counts, _ := st.LedgerCounts(c.ID); counts[store.RecipientSent] != n {
		t.Fatalf("counts %v", counts)
	}
}

// retry-failed while the send is still under way, after workers have put
// due retries back into the stream: the new round queues exactly the failed
// recipients, and everyone is delivered once.
func TestRetryFailedWhileRetriesAreUnderWay(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	svc := New(st, newConn(t, srv.URL()))
	const n = 40
	const slow = 3 // contact whose first try asks for a long wait: the send stays open
	c := startSend(t, st, svc, n, store.Campaign{Name: "Busy", MaxAttempts: 2})
	var mu sync.Mutex
	failing := true
	delivered := map[uint64]int{}
	retried := 0 // deliveries on a second try, put back into the stream by a worker
	runWorker(t, srv, channelFunc(func(d worker.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		id := d.Job.ContactID
		switch {
		case failing && id%4 == 0:
			return worker.Permanent("550 mailbox full")
		case id == slow && d.Attempt == 1:
			return &worker.DeliveryError{Transient: true, Reason: "451 come back later", RetryAfter: 4 * time.Second}
		case id%4 == 1 && d.Attempt == 1:
			return worker.Transient("451 greylisted")
		}
		if d.Attempt > 1 {
			retried++
		}
		delivered[id]++
		return nil
	}))
	rdb := rdbFor(t, srv)
	foldUntil(t, svc, rdb, c.ID, func(r store.FoldResult) bool {
		mu.Lock()
		defer mu.Unlock()
		return r.Send.Counts[store.RecipientFailed] == n/4 && retried >= n/4
	})
	mu.Lock()
	failing = false
	mu.Unlock()
	if cur, _ := st.Campaign(c.ID); cur.Status != store.StatusSending {
		t.Fatalf("the send ended before the retry: %s", cur.Status)
	}
	res, err := svc.RetryFailed(context.Background(), "t", c.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != n/4 || res.Round != 2 {
		t.Fatalf("retry result %+v, want %d added in round 2", res, n/4)
	}
	foldUntil(t, svc, rdb, c.ID, func(r store.FoldResult) bool { return r.Campaign.Status == store.StatusCompleted })
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != n {
		t.Fatalf("%d delivered, want %d", len(delivered), n)
	}
	for id, k := range delivered {
		if k != 1 {
			t.Fatalf("contact %d delivered %d times", id, k)
		}
	}
	if counts, _ := st.LedgerCounts(c.ID); counts[store.RecipientSent] != n {
		t.Fatalf("counts %v", counts)
	}
}

// An enqueue that finished but could not tell Redis so (the flag that holds
// back put-backs stayed set) is cleared by resume, so retries flow again.
func TestResumeClearsAStuckEnqueueFlag(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	svc := New(st, newConn(t, srv.URL()))
	c := startSend(t, st, svc, 10, store.Campaign{Name: "Stuck"})
	rdb := rdbFor(t, srv)
	ctx := context.Background()
	if v, _ := rdb.HGet(ctx, queue.ControlKey(c.ID), "enqueuing").Result(); v != "0" {
		t.Fatalf("after a finished enqueue the flag is %q, want 0", v)
	}
	if err := queue.SetEnqueuing(ctx, rdb, c.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Resume(ctx, "t", c.ID, nil); !errors.Is(err, ErrNothingToResume) {
		t.Fatalf("resume: %v, want ErrNothingToResume", err)
	}
	if v, _ := rdb.HGet(ctx, queue.ControlKey(c.ID), "enqueuing").Result(); v != "0" {
		t.Fatalf("resume left the flag at %q", v)
	}
}

// A small send's events can all be folded while it is still being queued
// (campaign send folds as it queues): the fold after the queueing, with no
// events left, completes it, and must drop its queue from Redis as the
// fold of its last events would. Left active, every worker would read the
// finished send for ever.
func TestASendCompletedWithoutEventsLeavesRedis(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	svc := New(st, newConn(t, srv.URL()))
	rdb := rdbFor(t, srv)
	ctx := context.Background()
	seed.Contacts(t, st, 3, "all")
	c := create(t, st, store.Campaign{Name: "Small", Tags: []string{"all"}})
	runWorker(t, srv, channelFunc(func(worker.Delivery) error { return nil }))

	// While Start queues: the worker delivers all three, and their events
	// are folded before the ledger says everyone is queued.
	var foldErr error
	folded := false
	progress := func(p Progress) {
		if folded || p.Enqueued < 3 {
			return
		}
		folded = true
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			res, err := svc.FoldPending(ctx, rdb, c.ID)
			if err != nil {
				foldErr = err
				return
			}
			if res.Send.Counts[store.RecipientSent] == 3 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		foldErr = errors.New("the three deliveries were not folded while queueing")
	}
	if _, err := svc.Start(ctx, "t", c.ID, 0, progress); err != nil {
		t.Fatal(err)
	}
	if !folded || foldErr != nil {
		t.Fatalf("folded while queueing: %v, %v", folded, foldErr)
	}
	if cur, _ := st.Campaign(c.ID); cur.Status != store.StatusSending {
		t.Fatalf("after Start the send is %s, want sending until the next fold", cur.Status)
	}

	res, err := svc.FoldPending(ctx, rdb, c.ID)
	if err != nil || !res.Completed {
		t.Fatalf("the fold with no events left: %+v, %v; want it to complete the send", res.Send.Counts, err)
	}
	if active, err := rdb.SIsMember(ctx, queue.ActiveKey(), c.ID).Result(); err != nil || active {
		t.Fatalf("the completed send is still among the active ones (%v)", err)
	}
	if n, err := rdb.Exists(ctx, queue.ControlKey(c.ID), queue.JobsKey(c.ID), queue.MarksKey(c.ID), queue.DoneKey(c.ID)).Result(); err != nil || n != 0 {
		t.Fatalf("%d of its control, jobs and marks keys are left in Redis (%v)", n, err)
	}
}
