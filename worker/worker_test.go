package worker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"tui/internal/redistest"
	"tui/internal/testkit"
	"tui/queue"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a channel that records deliveries; behave, when set, decides
// the outcome of each attempt.
type recorder struct {
	mu     sync.Mutex
	byKey  map[string]int
	times  []time.Time
	behave func(d Delivery) error
	block  chan struct{} // when set, deliveries wait on it
}

func newRecorder() *recorder { return &recorder{byKey: map[string]int{}} }

func (r *recorder) Get(string) (Channel, error) { return r, nil }
func (r *recorder) Close() error                { return nil }

func (r *recorder) Deliver(ctx context.Context, d Delivery) error {
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if r.behave != nil {
		if err := r.behave(d); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.byKey[d.Job.Key()]++
	r.times = append(r.times, time.Now())
	r.mu.Unlock()
	return nil
}

func (r *recorder) count() (total, distinct, maxPerKey int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.byKey {
		total += n
		if n > maxPerKey {
			maxPerKey = n
		}
	}
	return total, len(r.byKey), maxPerKey
}

type fixture struct {
	t   *testing.T
	srv *redistest.Server
	rdb *redis.Client
}

func newFixture(t *testing.T, opts ...redistest.Option) *fixture {
	t.Helper()
	srv := redistest.Start(t, opts...)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	return &fixture{t: t, srv: srv, rdb: rdb}
}

// enqueue puts n jobs of a campaign in the queue and activates it.
func (f *fixture) enqueue(campaign uint64, n int, ctl queue.Control) {
	f.t.Helper()
	ctx := context.Background()
	if ctl.State == "" {
		ctl.State = queue.StateSending
	}
	if err := queue.SetControl(ctx, f.rdb, campaign, ctl); err != nil {
		f.t.Fatal(err)
	}
	if err := queue.Activate(ctx, f.rdb, campaign); err != nil {
		f.t.Fatal(err)
	}
	for off := 1; off <= n; off += 1000 {
		var jobs []queue.Job
		for i := off; i < off+1000 && i <= n; i++ {
			jobs = append(jobs, queue.Job{CampaignID: campaign, ContactID: uint64(i), Round: 1,
				To: fmt.Sprintf("c%d@example.com", i), Channel: "test", Subject: "s", Body: "b"})
		}
		if _, _, err := queue.EnqueueBatch(ctx, f.rdb, jobs); err != nil {
			f.t.Fatal(err)
		}
	}
}

// startWorker runs a worker until the test ends or stop is called.
func (f *fixture) startWorker(id string, ch ChannelSource, cfg Config) (w *Worker, stop func()) {
	f.t.Helper()
	cfg.ID, cfg.Channels = id, ch
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	w = New(f.rdb, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			f.t.Errorf("worker %s: %v", id, err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	f.t.Cleanup(stop)
	return w, stop
}

// finals counts the final outcomes recorded in the campaign's events.
func (f *fixture) events(campaign uint64) map[queue.EventType]int {
	f.t.Helper()
	counts := map[queue.EventType]int{}
	msgs, err := f.rdb.XRange(context.Background(), queue.EventsKey(campaign), "-", "+").Result()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, m := range msgs {
		b, err := queue.ParseEventBatch(m.Values)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, e := range b.Events {
			counts[e.Type]++
		}
	}
	return counts
}

func TestThreeWorkersDeliverEveryRecipientOnce(t *testing.T) {
	f := newFixture(t)
	const n = 10_000
	f.enqueue(1, n, queue.Control{})
	rec := newRecorder()
	for i := 0; i < 3; i++ {
		f.startWorker(fmt.Sprintf("w%d", i), rec, Config{Concurrency: 8})
	}
	testkit.Eventually(t, 60*time.Second, "every delivery", func() bool { total, _, _ := rec.count(); return total >= n })
	testkit.Eventually(t, 10*time.Second, "every event", func() bool { return f.events(1)[queue.EventDelivered] == n })
	total, distinct, most := rec.count()
	if total != n || distinct != n || most != 1 {
		t.Fatalf("deliveries %d, distinct %d, most per key %d; want %d once each", total, distinct, most, n)
	}
	// Acknowledged jobs leave the stream at the workers' next trim.
	testkit.Eventually(t, 5*time.Second, "an empty job stream", func() bool {
		l, _ := f.rdb.XLen(context.Background(), queue.JobsKey(1)).Result()
		return l == 0
	})
	if marks, _ := queue.AllMarks(context.Background(), f.rdb, 1); len(marks) != n {
		t.Errorf("%d idempotency marks, want %d", len(marks), n)
	}
}

// TestTrimKeepsUnacknowledgedJobs: trimming removes only what the group has
// read and acknowledged, never a pending or unread job.
func TestTrimKeepsUnacknowledgedJobs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.enqueue(3, 10, queue.Control{})
	key := queue.JobsKey(3)
	trim := func() int64 {
		t.Helper()
		n, err := queue.TrimAcked(ctx, f.rdb, 3)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := trim(); n != 0 { // no group yet
		t.Fatalf("trimmed %d before anything was read", n)
	}
	if live, err := queue.EnsureGroup(ctx, f.rdb, 3); err != nil || !live {
		t.Fatalf("group of a sending campaign: %v, %v", live, err)
	}
	got, err := queue.ReadJobs(ctx, f.rdb, "c", []uint64{3}, 6, time.Millisecond)
	if err != nil || len(got) != 6 {
		t.Fatalf("read %d jobs, err %v", len(got), err)
	}
	ack := func(ids ...string) {
		t.Helper()
		if err := f.rdb.XAck(ctx, key, queue.Group, ids...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// 1-1 still pending holds everything behind it.
	ack(got[1].EntryID, got[2].EntryID)
	if n := trim(); n != 0 {
		t.Fatalf("trimmed %d behind a pending job", n)
	}
	// Pending from 1-4 on: 1-1 to 1-3 go.
	ack(got[0].EntryID)
	if n := trim(); n != 3 {
		t.Fatalf("trimmed %d, want 3", n)
	}
	// Nothing pending: what was read goes, the unread 1-7 to 1-10 stay.
	ack(got[3].EntryID, got[4].EntryID, got[5].EntryID)
	if n := trim(); n != 3 {
		t.Fatalf("trimmed %d, want 3", n)
	}
	entries, err := f.rdb.XRange(ctx, key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 || entries[0].ID != "1-7" {
		t.Fatalf("left %d entries starting at %v; want the 4 unread from 1-7", len(entries), entries)
	}
	rest, err := queue.ReadJobs(ctx, f.rdb, "c", []uint64{3}, 10, time.Millisecond)
	if err != nil || len(rest) != 4 {
		t.Fatalf("read %d of the unread jobs after the trim, err %v", len(rest), err)
	}
}

func TestTransientFailuresRetryThenFail(t *testing.T) {
	f := newFixture(t)
	f.enqueue(2, 3, queue.Control{MaxAttempts: 3})
	rec := newRecorder()
	var mu sync.Mutex
	attempts := map[string][]int{}
	rec.behave = func(d Delivery) error {
		mu.Lock()
		attempts[d.Job.Key()] = append(attempts[d.Job.Key()], d.Attempt)
		mu.Unlock()
		switch d.Job.ContactID {
		case 1:
			return &DeliveryError{Transient: true, Reason: "421 try later", RetryAfter: 20 * time.Millisecond}
		case 2:
			return Permanent("550 no such mailbox")
		}
		return nil
	}
	f.startWorker("w", rec, Config{})
	testkit.Eventually(t, 20*time.Second, "the outcomes", func() bool {
		ev := f.events(2)
		return ev[queue.EventFailed] == 2 && ev[queue.EventDelivered] == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if got := attempts["2:1"]; fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("the always-failing recipient was tried %v, want [1 2 3]", got)
	}
	if got := attempts["2:2"]; fmt.Sprint(got) != "[1]" {
		t.Errorf("the permanent failure was tried %v, want once", got)
	}
	if ev := f.events(2); ev[queue.EventRetry] != 2 {
		t.Errorf("retry events %d, want 2", ev[queue.EventRetry])
	}
	marks, _ := queue.AllMarks(context.Background(), f.rdb, 2)
	if marks[1] != "failed" || marks[2] != "failed" || marks[3] != "sent" {
		t.Errorf("marks %v", marks)
	}
}

func TestPauseStopsEveryWorkerAndResumeSendsNobodyTwice(t *testing.T) {
	f := newFixture(t)
	const n = 2000
	f.enqueue(3, n, queue.Control{Rate: 500})
	rec := newRecorder()
	for i := 0; i < 3; i++ {
		f.startWorker(fmt.Sprintf("w%d", i), rec, Config{Concurrency: 4})
	}
	testkit.Eventually(t, 30*time.Second, "40% delivered", func() bool { total, _, _ := rec.count(); return total >= n*4/10 })
	ctx := context.Background()
	if err := queue.SetState(ctx, f.rdb, 3, queue.StatePaused); err != nil {
		t.Fatal(err)
	}
	pausedAt := time.Now()
	// Within a second every worker has stopped starting deliveries.
	time.Sleep(time.Second)
	before, _, _ := rec.count()
	rec.mu.Lock()
	var late int
	for _, at := range rec.times {
		if at.After(pausedAt.Add(time.Second)) {
			late++
		}
	}
	rec.mu.Unlock()
	if late > 0 {
		t.Errorf("%d deliveries started more than a second after the pause", late)
	}
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if now, _, _ := rec.count(); now != before {
			t.Fatalf("deliveries went on while paused: %d → %d", before, now)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := queue.SetState(ctx, f.rdb, 3, queue.StateSending); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "all delivered", func() bool { total, _, _ := rec.count(); return total >= n })
	total, distinct, most := rec.count()
	if total != n || distinct != n || most != 1 {
		t.Fatalf("after resume: %d deliveries, %d distinct, max %d per key", total, distinct, most)
	}
}

// A cancel stops deliveries: once the worker has let go of what it held,
// every job it read is accounted for as delivered or skipped, deliveries
// no longer grow, and the rest of the stream was never read.
func TestCancelSkipsTheRest(t *testing.T) {
	f := newFixture(t)
	const n = 500
	f.enqueue(4, n, queue.Control{Rate: 200})
	rec := newRecorder()
	w, _ := f.startWorker("w", rec, Config{Concurrency: 4})
	testkit.Eventually(t, 20*time.Second, "some delivered", func() bool { total, _, _ := rec.count(); return total >= 50 })
	if err := queue.SetState(context.Background(), f.rdb, 4, queue.StateCancelled); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the worker to let go of every job", func() bool {
		return w.held.held() == 0 && w.Stats().InFlight == 0
	})
	delivered, _, _ := rec.count()
	read := func() int64 {
		groups, err := f.rdb.XInfoGroups(context.Background(), queue.JobsKey(4)).Result()
		if err != nil || len(groups) != 1 {
			t.Fatalf("groups %v %v", groups, err)
		}
		return groups[0].EntriesRead
	}
	entriesRead := read()
	ev := f.events(4)
	if ev[queue.EventDelivered] != delivered {
		t.Errorf("delivered events %d, deliveries %d", ev[queue.EventDelivered], delivered)
	}
	if int64(ev[queue.EventDelivered]+ev[queue.EventSkipped]) != entriesRead {
		t.Errorf("%d jobs read, %d delivered and %d skipped: every job read must be one or the other", entriesRead, ev[queue.EventDelivered], ev[queue.EventSkipped])
	}
	if delivered >= n || ev[queue.EventSkipped] == 0 {
		t.Errorf("%d of %d delivered, %d skipped: the cancel changed nothing", delivered, n, ev[queue.EventSkipped])
	}
	// Two more reads of the live settings later, nothing more was read or
	// delivered.
	refreshed := w.controlReads.Load()
	testkit.Eventually(t, 10*time.Second, "two more reads of the settings", func() bool { return w.controlReads.Load() >= refreshed+2 })
	if now, _, _ := rec.count(); now != delivered || read() != entriesRead {
		t.Errorf("after the cancel, deliveries went from %d to %d and jobs read from %d to %d", delivered, now, entriesRead, read())
	}
}

func TestRateHoldsAcrossWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("takes several seconds")
	}
	f := newFixture(t)
	const rate = 200
	f.enqueue(5, 1200, queue.Control{Rate: rate})
	rec := newRecorder()
	for i := 0; i < 3; i++ {
		f.startWorker(fmt.Sprintf("w%d", i), rec, Config{Concurrency: 16})
	}
	testkit.Eventually(t, 30*time.Second, "all delivered", func() bool { total, _, _ := rec.count(); return total >= 1200 })
	rec.mu.Lock()
	times := append([]time.Time(nil), rec.times...)
	rec.mu.Unlock()
	// Slide a one-second window over every delivery.
	worst, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= time.Second {
			j++
		}
		if n := i - j + 1; n > worst {
			worst = n
		}
	}
	if worst > rate+rate/20 {
		t.Fatalf("a one-second window held %d deliveries at rate %d", worst, rate)
	}
	if worst < rate*8/10 {
		t.Errorf("the busiest second held only %d at rate %d: the limiter is too slow", worst, rate)
	}
	// Past the first second's burst, the deliveries keep the rate asked:
	// never above it by more than 3 %, and below it by no more than three
	// workers under -race can lag beside two busy processes on two cores
	// (0.94–0.96 seen). The grants themselves are exact: see
	// queue.TestTakeTokensGrantsTheRateAskedExactly.
	span := times[len(times)-1].Sub(times[rate])
	got := float64(len(times)-1-rate) / span.Seconds()
	t.Logf("busiest second %d, then %.1f/s at rate %d", worst, got, rate)
	if got < rate*0.90 || got > rate*1.03 {
		t.Errorf("%.1f deliveries a second after the first second, asked %d", got, rate)
	}
}

func TestShutdownFinishesInFlightAndGivesBackTheRest(t *testing.T) {
	f := newFixture(t)
	f.enqueue(6, 100, queue.Control{})
	rec := newRecorder()
	rec.block = make(chan struct{})
	w, stop := f.startWorker("w", rec, Config{Concurrency: 4, ShutdownGrace: 5 * time.Second})
	testkit.Eventually(t, 10*time.Second, "deliveries in flight", func() bool { return w.Stats().InFlight == 4 })
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	// Shutdown waits for the deliveries in flight…
	testkit.Eventually(t, 5*time.Second, "shutdown to begin", func() bool { return w.stopping.Load() })
	close(rec.block)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop within its grace")
	}
	total, _, _ := rec.count()
	if total != 4 {
		t.Fatalf("delivered %d at shutdown, want the 4 in flight", total)
	}
	// …and the rest is back in the queue for another worker, at once.
	rec2 := newRecorder()
	f.startWorker("w2", rec2, Config{})
	testkit.Eventually(t, 10*time.Second, "the rest delivered", func() bool { n, _, _ := rec2.count(); return n == 96 })
	for k := range rec.byKey {
		if rec2.byKey[k] != 0 {
			t.Errorf("%s delivered twice", k)
		}
	}
}

func TestReclaimsTheJobsOfAWorkerThatDied(t *testing.T) {
	f := newFixture(t)
	f.enqueue(7, 20, queue.Control{})
	ctx := context.Background()
	// A consumer that fetched everything and then vanished.
	if live, err := queue.EnsureGroup(ctx, f.rdb, 7); err != nil || !live {
		t.Fatalf("group of a sending campaign: %v, %v", live, err)
	}
	got, err := queue.ReadJobs(ctx, f.rdb, "dead", []uint64{7}, 100, 10*time.Millisecond)
	if err != nil || len(got) != 20 {
		t.Fatalf("read %d %v", len(got), err)
	}
	rec := newRecorder()
	f.startWorker("alive", rec, Config{Lease: 600 * time.Millisecond})
	testkit.Eventually(t, 15*time.Second, "the dead worker's jobs delivered", func() bool { n, _, _ := rec.count(); return n == 20 })
	if ev := f.events(7); ev[queue.EventReclaimed] != 20 || ev[queue.EventDelivered] != 20 {
		t.Errorf("events %v", ev)
	}
}

func TestSurvivesARedisRestart(t *testing.T) {
	f := newFixture(t, "appendonly yes", "appendfsync always")
	const n = 1000
	f.enqueue(8, n, queue.Control{Rate: 400})
	rec := newRecorder()
	for i := 0; i < 2; i++ {
		f.startWorker(fmt.Sprintf("w%d", i), rec, Config{Concurrency: 4})
	}
	testkit.Eventually(t, 20*time.Second, "some delivered", func() bool { total, _, _ := rec.count(); return total >= 200 })
	f.srv.Restart()
	testkit.Eventually(t, 60*time.Second, "all delivered after the restart", func() bool {
		_, distinct, _ := rec.count()
		return distinct == n
	})
	testkit.Eventually(t, 10*time.Second, "the queue drained", func() bool {
		l, _ := f.rdb.XLen(context.Background(), queue.JobsKey(8)).Result()
		p, _ := f.rdb.XPending(context.Background(), queue.JobsKey(8), queue.Group).Result()
		return l == 0 && (p == nil || p.Count == 0)
	})
}

// TestChunkSizeFollowsTheSlowestChannel: fast deliveries go to a deliverer
// in big chunks; a channel not timed yet, or a slow one in the batch,
// spreads the batch over every deliverer.
func TestChunkSizeFollowsTheSlowestChannel(t *testing.T) {
	w := New(nil, Config{Concurrency: 32})
	batch := func(channels ...string) []*task {
		var ts []*task
		for i := 0; i < 500; i++ {
			ts = append(ts, &task{f: queue.Fetched{Job: queue.Job{Channel: channels[i%len(channels)]}}})
		}
		return ts
	}
	if got := w.chunkSize(batch("file")); got != 16 {
		t.Fatalf("untimed channel: chunks of %d, want 16 (500 over 32 deliverers)", got)
	}
	w.noteDeliveryTime("file", 2*time.Microsecond)
	if got := w.chunkSize(batch("file")); got != 128 {
		t.Fatalf("file channel at 2µs: chunks of %d, want 128", got)
	}
	if got := w.chunkSize(batch("file", "smtp")); got != 16 {
		t.Fatalf("with an untimed smtp: chunks of %d, want 16", got)
	}
	w.noteDeliveryTime("smtp", 80*time.Millisecond)
	if got := w.chunkSize(batch("file", "smtp")); got != 16 {
		t.Fatalf("with a slow smtp: chunks of %d, want 16", got)
	}
	if got := w.chunkSize(batch("file")); got != 128 {
		t.Fatalf("file alone after smtp: chunks of %d, want 128", got)
	}
}

// TestSlowDeliveryRecordedBeforeTheNext: a delivery's outcome reaches Redis
// while the same deliverer is still busy with the next job (a crash then
// repeats only that one).
func TestSlowDeliveryRecordedBeforeTheNext(t *testing.T) {
	f := newFixture(t)
	f.enqueue(4, 2, queue.Control{})
	rec := newRecorder()
	rec.block = make(chan struct{})
	f.startWorker("w", rec, Config{Concurrency: 1})
	t.Cleanup(func() { close(rec.block) }) // runs before the worker's stop
	rec.block <- struct{}{}                // the first delivery ends; the second waits
	testkit.Eventually(t, 5*time.Second, "the first outcome recorded", func() bool {
		return f.events(4)[queue.EventDelivered] == 1
	})
	if total, _, _ := rec.count(); total != 1 {
		t.Fatalf("%d deliveries done, want 1 (the second still waiting)", total)
	}
}

// What workers put back into a job stream (due retries, jobs given back at
// shutdown) stays within the stream's round, so the next round's jobs still
// go in; and while an enqueue is under way nothing is put back, so that a
// resumed enqueue starts where it stopped: given-back jobs are only marked
// idle, for any worker's next reclaim.
func TestPutBackStaysInTheRoundAndWaitsForTheEnqueue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const id = 4
	f.enqueue(id, 5, queue.Control{})
	if live, err := queue.EnsureGroup(ctx, f.rdb, id); err != nil || !live {
		t.Fatalf("group of a sending campaign: %v, %v", live, err)
	}
	got, err := queue.ReadJobs(ctx, f.rdb, "a", []uint64{id}, 2, time.Millisecond)
	if err != nil || len(got) != 2 {
		t.Fatalf("read %d jobs, err %v", len(got), err)
	}
	last := func() string {
		t.Helper()
		info, err := f.rdb.XInfoStream(ctx, queue.JobsKey(id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return info.LastGeneratedID
	}

	// An enqueue under way: a due retry waits, a given-back job stays put.
	if err := queue.SetEnqueuing(ctx, f.rdb, id, true); err != nil {
		t.Fatal(err)
	}
	retry := queue.Outcome{EntryID: got[0].EntryID, Job: got[0].Job, RetryAt: time.Now().Add(-time.Second),
		Event: queue.Event{Contact: got[0].Job.ContactID, Round: 1, Type: queue.EventRetry, Attempt: 1}}
	retry.Job.Attempt = 2
	if err := queue.Commit(ctx, f.rdb, "a", id, []queue.Outcome{retry}, true); err != nil {
		t.Fatal(err)
	}
	if n, err := queue.PromoteDue(ctx, f.rdb, id, time.Now(), 10); err != nil || n != 0 {
		t.Fatalf("promoted %d (%v) during an enqueue, want 0", n, err)
	}
	if n, err := queue.Release(ctx, f.rdb, "a", id, []string{got[1].EntryID}); err != nil || n != 1 {
		t.Fatalf("released %d (%v), want 1", n, err)
	}
	if l := last(); l != "1-5" {
		t.Fatalf("the stream moved to %s during an enqueue; a resume would start after it", l)
	}
	if after, err := queue.LastEnqueued(ctx, f.rdb, id, 1); err != nil || after != 5 {
		t.Fatalf("LastEnqueued = %d, %v; want 5", after, err)
	}
	reclaimed, err := queue.Reclaim(ctx, f.rdb, "b", id, 30*time.Second, 10)
	if err != nil || len(reclaimed) != 1 || reclaimed[0].EntryID != got[1].EntryID {
		t.Fatalf("the given-back job is not reclaimable at once: %+v, %v", reclaimed, err)
	}

	// Enqueue done: the retry and a given-back job come back in round 1.
	if err := queue.SetEnqueuing(ctx, f.rdb, id, false); err != nil {
		t.Fatal(err)
	}
	if n, err := queue.PromoteDue(ctx, f.rdb, id, time.Now(), 10); err != nil || n != 1 {
		t.Fatalf("promoted %d (%v), want 1", n, err)
	}
	if n, err := queue.Release(ctx, f.rdb, "b", id, []string{got[1].EntryID}); err != nil || n != 1 {
		t.Fatalf("released %d (%v), want 1", n, err)
	}
	if l := last(); l != "1-7" {
		t.Fatalf("put-back entries end at %s, want 1-7 (round 1)", l)
	}
	// Round 2 still goes in after them.
	added, skipped, err := queue.EnqueueBatch(ctx, f.rdb, []queue.Job{{CampaignID: id, ContactID: 1, Round: 2, To: "c1@example.com", Channel: "test", Body: "b"}})
	if err != nil || added != 1 || skipped != 0 {
		t.Fatalf("round 2: added %d, skipped %d, %v", added, skipped, err)
	}
}

// cannotBuild is a worker environment that lacks every channel's settings.
type cannotBuild struct{}

func (cannotBuild) Get(name string) (Channel, error) {
	return nil, &DeliveryError{Reason: "the " + name + " channel needs SMTP_URL in the worker's environment"}
}

// A worker that cannot build a campaign's channel fails nobody: it gives
// the jobs back, stops reading the campaign, and says why in its heartbeat;
// a worker that can delivers every recipient once.
func TestAWorkerThatCannotDeliverLeavesTheJobsToOthers(t *testing.T) {
	f := newFixture(t)
	const n = 2_000
	f.enqueue(5, n, queue.Control{})
	bad, _ := f.startWorker("bad", cannotBuild{}, Config{Concurrency: 4})
	testkit.Eventually(t, 10*time.Second, "the heartbeat to say why", func() bool {
		ws, _ := queue.Workers(context.Background(), f.rdb)
		reason, none := queue.NoneCanDeliver(ws, 5, time.Now())
		return none && strings.Contains(reason, "needs SMTP_URL")
	})
	if got := f.events(5); got[queue.EventFailed] != 0 || got[queue.EventDelivered] != 0 {
		t.Fatalf("events %v before any capable worker, want none", got)
	}
	rec := newRecorder()
	f.startWorker("good", rec, Config{Concurrency: 8})
	testkit.Eventually(t, 60*time.Second, "every delivery", func() bool { total, _, _ := rec.count(); return total >= n })
	testkit.Eventually(t, 10*time.Second, "every event", func() bool { return f.events(5)[queue.EventDelivered] == n })
	total, distinct, most := rec.count()
	if total != n || distinct != n || most != 1 {
		t.Fatalf("deliveries %d, distinct %d, most per key %d; want %d once each", total, distinct, most, n)
	}
	if got := f.events(5)[queue.EventFailed]; got != 0 || bad.Stats().Failed != 0 {
		t.Fatalf("%d failures recorded (%d by the worker that cannot deliver), want none", got, bad.Stats().Failed)
	}
	testkit.Eventually(t, 10*time.Second, "the capable worker's heartbeat to count", func() bool {
		ws, _ := queue.Workers(context.Background(), f.rdb)
		_, none := queue.NoneCanDeliver(ws, 5, time.Now())
		return len(ws) == 2 && !none
	})
}

// A rate-limited send records each outcome before the next job waits for
// its token, even on a channel that delivers in microseconds.
func TestRateLimitedDeliveryRecordedBeforeTheNextToken(t *testing.T) {
	f := newFixture(t)
	rec := newRecorder()
	f.startWorker("w", rec, Config{Concurrency: 1})
	// Unlimited first, so the worker knows the channel is fast.
	f.enqueue(6, 50, queue.Control{})
	testkit.Eventually(t, 10*time.Second, "the unlimited send", func() bool { return f.events(6)[queue.EventDelivered] == 50 })
	// One a second: two tokens at once (the burst), the third a second on.
	f.enqueue(7, 3, queue.Control{Rate: 1})
	testkit.Eventually(t, 10*time.Second, "two outcomes recorded while the third job waits for its token", func() bool {
		return f.events(7)[queue.EventDelivered] == 2
	})
	testkit.Eventually(t, 10*time.Second, "the third", func() bool { return f.events(7)[queue.EventDelivered] == 3 })
}

// slowRecorder is a recorder whose deliveries take a little while, so that
// a worker holds jobs of every campaign when one is paused.
type slowRecorder struct{ *recorder }

func (s slowRecorder) Get(string) (Channel, error) { return s, nil }
func (s slowRecorder) Deliver(ctx context.Context, d Delivery) error {
	time.Sleep(2 * time.Millisecond)
	return s.recorder.Deliver(ctx, d)
}

// Pausing one send does not stall another on the same worker: the paused
// send's fetched jobs go back to its stream instead of holding deliverers,
// and on resume every recipient is delivered once.
func TestPausingOneSendLeavesTheOtherRunning(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = 400
	f.enqueue(8, n, queue.Control{})
	f.enqueue(9, n, queue.Control{})
	rec := newRecorder()
	f.startWorker("w", slowRecorder{rec}, Config{Concurrency: 4})
	testkit.Eventually(t, 10*time.Second, "both sends under way", func() bool {
		e8, e9 := f.events(8)[queue.EventDelivered], f.events(9)[queue.EventDelivered]
		return e8 > 0 && e9 > 0
	})
	if err := queue.SetState(ctx, f.rdb, 8, queue.StatePaused); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the other send to finish while the first is paused", func() bool {
		return f.events(9)[queue.EventDelivered] == n
	})
	paused := f.events(8)[queue.EventDelivered]
	if paused >= n {
		t.Fatalf("the paused send finished anyway (%d)", paused)
	}
	if err := queue.SetState(ctx, f.rdb, 8, queue.StateSending); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the resumed send to finish", func() bool { return f.events(8)[queue.EventDelivered] == n })
	total, distinct, most := rec.count()
	if total != 2*n || distinct != 2*n || most != 1 {
		t.Fatalf("deliveries %d, distinct %d, most per key %d; want %d once each", total, distinct, most, 2*n)
	}
}

// An idle worker learns of a send from the owner's wake, not from its next
// read of the live settings: with those reads an hour apart, a send that
// starts after the worker, and one resumed after a pause, are delivered.
func TestIdleWorkerWakesWhenASendStartsOrResumes(t *testing.T) {
	t.Run("start", func(t *testing.T) {
		f := newFixture(t)
		rec := newRecorder()
		w, _ := f.startWorker("w", rec, Config{SettingsEvery: time.Hour})
		testkit.Eventually(t, 10*time.Second, "the worker's first read of the settings", func() bool { return w.controlReads.Load() >= 1 })
		f.enqueue(1, 20, queue.Control{})
		testkit.Eventually(t, 20*time.Second, "20 delivered after the wake", func() bool { total, _, _ := rec.count(); return total == 20 })
	})
	t.Run("resume", func(t *testing.T) {
		f := newFixture(t)
		f.enqueue(2, 10, queue.Control{State: queue.StatePaused})
		rec := newRecorder()
		w, _ := f.startWorker("w", rec, Config{SettingsEvery: time.Hour})
		testkit.Eventually(t, 10*time.Second, "the worker's first read of the settings", func() bool { return w.controlReads.Load() >= 1 })
		if err := queue.SetState(context.Background(), f.rdb, 2, queue.StateSending); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 20*time.Second, "10 delivered after the resume", func() bool { total, _, _ := rec.count(); return total == 10 })
	})
}

// A worker stopped (SIGSTOP, a frozen VM) past its lease finds its own
// jobs idle on waking. Its reclaimer takes them again, for nobody else
// did; they are the tasks it holds and will deliver, and must not become
// second tasks delivering the same jobs again.
func TestAWorkerDoesNotReclaimWhatItHolds(t *testing.T) {
	f := newFixture(t)
	f.enqueue(7, 5, queue.Control{})
	ctx := context.Background()
	lease := 300 * time.Millisecond
	w := New(f.rdb, Config{ID: "w1", Lease: lease, Concurrency: 4})
	w.controls.Store(&map[uint64]queue.Control{7: {State: queue.StateSending}})
	if live, err := queue.EnsureGroup(ctx, f.rdb, 7); err != nil || !live {
		t.Fatalf("group of a sending campaign: %v, %v", live, err)
	}
	got, err := queue.ReadJobs(ctx, f.rdb, "w1", []uint64{7}, 10, 10*time.Millisecond)
	if err != nil || len(got) != 5 {
		t.Fatalf("read %d %v", len(got), err)
	}
	w.held.acquire(ctx, len(got))
	w.register(got, false)
	testkit.Eventually(t, 10*time.Second, "the held jobs idle past the lease", func() bool {
		p, err := f.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: queue.JobsKey(7), Group: queue.Group, Start: "-", End: "+", Count: 10}).Result()
		if err != nil || len(p) != 5 {
			return false
		}
		for _, e := range p {
			if e.Idle <= lease {
				return false
			}
		}
		return true
	})
	w.reclaim()
	if n := len(w.held.byCampaign()[7]); n != 5 {
		t.Errorf("holds %d tasks after the reclaim, want its 5", n)
	}
	if ev := f.events(7); ev[queue.EventReclaimed] != 0 {
		t.Errorf("it recorded %d of its own jobs as reclaimed", ev[queue.EventReclaimed])
	}
}

// A renewal of leases names in the log only the jobs another worker took:
// a job whose commit crossed the renewal is pending no more, and is no
// reclaim; a job found taken is told once, not at every renewal.
func TestRenewalWarnsOnlyOfJobsAnotherWorkerTook(t *testing.T) {
	f := newFixture(t)
	f.enqueue(7, 3, queue.Control{})
	ctx := context.Background()
	var log testkit.LockedBuffer
	w := New(f.rdb, Config{ID: "w1", Concurrency: 4, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	w.controls.Store(&map[uint64]queue.Control{7: {State: queue.StateSending}})
	if live, err := queue.EnsureGroup(ctx, f.rdb, 7); err != nil || !live {
		t.Fatalf("group of a sending campaign: %v, %v", live, err)
	}
	got, err := queue.ReadJobs(ctx, f.rdb, "w1", []uint64{7}, 10, 10*time.Millisecond)
	if err != nil || len(got) != 3 {
		t.Fatalf("read %d %v", len(got), err)
	}
	w.held.acquire(ctx, len(got))
	w.register(got, false)

	// The first job's commit crossed the renewal: acknowledged, still held.
	if err := f.rdb.XAck(ctx, queue.JobsKey(7), queue.Group, got[0].EntryID).Err(); err != nil {
		t.Fatal(err)
	}
	w.renewLeases()
	if strings.Contains(log.String(), "reclaimed") {
		t.Fatalf("an acknowledged job was logged as reclaimed:\n%s", log.String())
	}
	// Another worker takes the second.
	if err := f.rdb.Do(ctx, "XCLAIM", queue.JobsKey(7), queue.Group, "w2", 0, got[1].EntryID, "JUSTID").Err(); err != nil {
		t.Fatal(err)
	}
	w.renewLeases()
	w.renewLeases()
	if n := strings.Count(log.String(), "jobs were reclaimed by other workers"); n != 1 || !strings.Contains(log.String(), "jobs=1") {
		t.Fatalf("the reclaim was logged %d times, want once for 1 job:\n%s", n, log.String())
	}
	// Neither the acknowledged job nor the taken one is delivered here.
	for _, tk := range w.held.byCampaign()[7] {
		if lost := tk.lost.Load(); lost != (tk.f.EntryID != got[2].EntryID) {
			t.Errorf("job %s lost %v", tk.f.EntryID, lost)
		}
	}
}

// Jobs given back after their send ended (the worker read "cancelled" or
// found the settings gone) have no stream to go back to: the log says so,
// without the warning that other workers will reclaim them.
func TestGivingBackToAnEndedSendIsNoWarning(t *testing.T) {
	f := newFixture(t)
	f.enqueue(7, 3, queue.Control{})
	ctx := context.Background()
	var log testkit.LockedBuffer
	w := New(f.rdb, Config{ID: "w1", Concurrency: 4, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if live, err := queue.EnsureGroup(ctx, f.rdb, 7); err != nil || !live {
		t.Fatalf("group of a sending campaign: %v, %v", live, err)
	}
	got, err := queue.ReadJobs(ctx, f.rdb, "w1", []uint64{7}, 10, 10*time.Millisecond)
	if err != nil || len(got) != 3 {
		t.Fatalf("read %d %v", len(got), err)
	}
	if err := queue.Deactivate(ctx, f.rdb, 7, false); err != nil {
		t.Fatal(err)
	}
	w.release(map[uint64][]string{7: {got[0].EntryID, got[1].EntryID}})
	if out := log.String(); strings.Contains(out, "WARN") || !strings.Contains(out, "the send's queue is gone") {
		t.Fatalf("the log of a give-back to an ended send:\n%s", out)
	}
}

// A send that ends while a worker still counts it as sending: the
// worker's next read or reclaim finds the stream gone (NOGROUP). It must
// not make the stream again, which would stay in Redis, empty, for good;
// it reads the settings instead, and stops counting the send.
func TestAnEndedSendsStreamIsNotMadeAgain(t *testing.T) {
	f := newFixture(t)
	f.enqueue(7, 5, queue.Control{})
	ctx := context.Background()
	w := New(f.rdb, Config{ID: "w1", Concurrency: 4})
	w.controls.Store(&map[uint64]queue.Control{7: {State: queue.StateSending}})
	if live, err := queue.EnsureGroup(ctx, f.rdb, 7); err != nil || !live {
		t.Fatalf("group of a sending campaign: %v, %v", live, err)
	}
	if err := queue.Deactivate(ctx, f.rdb, 7, true); err != nil {
		t.Fatal(err)
	}
	w.reclaim()
	if n := f.rdb.Exists(ctx, queue.JobsKey(7), queue.ControlKey(7)).Val(); n != 0 {
		t.Fatalf("%d of the ended send's stream and settings are back in Redis", n)
	}
	if ids := w.sendingCampaigns(); len(ids) != 0 {
		t.Fatalf("the worker still counts %v as sending", ids)
	}
}

// At a low rate the deliverers wait for tokens, seconds at a time, with a
// job in hand: a pause or a cancel that comes meanwhile stops them within
// a second too, instead of each delivering its job when its token comes.
func TestPauseAndCancelStopDeliverersWaitingForTokens(t *testing.T) {
	for _, state := range []queue.SendState{queue.StatePaused, queue.StateCancelled} {
		t.Run(string(state), func(t *testing.T) {
			f := newFixture(t)
			rec := newRecorder()
			f.startWorker("w", rec, Config{Concurrency: 8})
			f.enqueue(21, 40, queue.Control{Rate: 4})
			testkit.Eventually(t, 30*time.Second, "deliveries under way", func() bool { total, _, _ := rec.count(); return total >= 3 })
			if err := queue.SetState(context.Background(), f.rdb, 21, state); err != nil {
				t.Fatal(err)
			}
			stoppedAt := time.Now()
			// The workers read the live settings every 250 ms: a second is
			// plenty; two more show whether anyone delivered after it (an
			// absence, so a span watched, not a condition awaited).
			time.Sleep(3 * time.Second)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			late := 0
			for _, at := range rec.times {
				if at.After(stoppedAt.Add(time.Second)) {
					late++
				}
			}
			if late > 0 {
				t.Errorf("%d deliveries more than a second after the send was %s", late, state)
			}
		})
	}
}
