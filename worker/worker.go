package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/queue"
)

// ChannelSource hands out the channel for a channel name ("file", "smtp",
// ...). A channel that cannot be built (a missing SMTP_URL) is an error: the
// worker leaves that campaign to other workers and says why.
type ChannelSource interface {
	Get(name string) (Channel, error)
}

// Config tunes a worker. Zero values take the defaults.
type Config struct {
	ID            string        // host-pid by default
	Concurrency   int           // deliveries at once; default 8
	Lease         time.Duration // a job untouched this long is reclaimed by others; default 30 s
	ShutdownGrace time.Duration // how long in-flight deliveries may finish at shutdown; default 10 s
	BatchSize     int           // jobs per read; default 500
	// SettingsEvery is how often the live settings of the active campaigns
	// are read (default 250 ms). An idle worker also waits for the owner's
	// wake, so a send that starts is not kept waiting for that read.
	SettingsEvery time.Duration
	Channels      ChannelSource
	Logger        *slog.Logger
}

func (c *Config) defaults() {
	if c.ID == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "worker"
		}
		c.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.SettingsEvery <= 0 {
		c.SettingsEvery = 250 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Stats are a worker's counters.
type Stats struct {
	Processed int64 // final outcomes committed: sent, failed or skipped
	Delivered int64
	Failed    int64
	Retried   int64
	InFlight  int64
}

// GCPercent is the garbage collector's setting in a headless worker unless
// GOGC says otherwise: twice the default's heap. At 400 a worker's
// heap grew to five times the little it holds, and each page of that growth
// is a fault the first time it is touched, which on a virtual machine costs
// more than the collections saved: in a `send --wait` of 100,000 (ten
// alternating rounds) a worker at 200 used 0.43 CPU-s against 0.48, two
// used 0.60 against 0.68, for a third fewer page faults; draining 100,000
// from a full queue, the two settings were even.
const GCPercent = 200

// Worker consumes jobs from every active campaign and delivers them.
type Worker struct {
	cfg     Config
	rdb     redis.UniversalClient
	log     *slog.Logger
	limiter *limiter

	controls     atomic.Pointer[map[uint64]queue.Control]
	controlReads atomic.Int64 // successful reads of the live settings
	wakeID       string       // the newest wake seen; the fetcher's own

	held     *holdings    // tasks, slots, give-backs, hand-offs
	todo     chan []*task // fetched → deliverers
	outcomes chan *outBuf // deliverers → committer

	stopping   atomic.Bool
	started    time.Time
	hardStop   context.Context // cancelled when the shutdown grace is over
	hardCancel context.CancelFunc

	delivered, failed, retried, processed, inFlight atomic.Int64
	avgDelivery                                     atomic.Int64 // nanoseconds, moving average
	channelAvg                                      sync.Map     // channel name → *atomic.Int64, as avgDelivery

	health health
	gate   deliveryGate
	recent recentOutcomes

	// cannot holds the campaigns whose channel this worker cannot build
	// (uint64 → reason): it stops reading them and gives their jobs back.
	cannot sync.Map

	// parkedCount is the number of campaigns in cannot, so that checking
	// costs an atomic load while there are none; unclear counts the runs
	// of failures that may be this worker's (see parks).
	parkedCount atomic.Int32
	unclear     unclearRuns

	metrics workerMetrics // what /metrics shows (metrics.go)
}

type task struct {
	f         queue.Fetched
	fetchedAt time.Time
	renewedAt atomic.Int64 // unix nanos of the last lease renewal
	state     atomic.Int32 // taskWaiting, taskStarted or taskReleased
	lost      atomic.Bool  // reclaimed by another worker
	duplicate string       // an earlier delivery's final outcome, if any
	reclaimed bool
}

const (
	taskWaiting int32 = iota
	taskStarted
	taskReleased
)

// start claims the task for delivery; false if shutdown gave it back.
func (t *task) start() bool { return t.state.CompareAndSwap(taskWaiting, taskStarted) }

type taskKey struct {
	campaign uint64
	entry    string
}

func (t *task) key() taskKey { return taskKey{t.f.CampaignID, t.f.EntryID} }

type outcome struct {
	t   *task
	out queue.Outcome
	ack bool // false: only the event is recorded
}

// outBuf carries a deliverer's outcomes to the committer, which gives it
// back to outBufs: at full speed fresh slices of outcomes were a good part
// of what the garbage collector had to do.
type outBuf struct{ outs []outcome }

var outBufs = sync.Pool{New: func() any { return &outBuf{outs: make([]outcome, 0, 64)} }}

func getOutBuf() *outBuf { return outBufs.Get().(*outBuf) }

func putOutBuf(b *outBuf) {
	clear(b.outs) // hold on to no task or message
	b.outs = b.outs[:0]
	outBufs.Put(b)
}

// New makes a worker on a connected client.
func New(rdb redis.UniversalClient, cfg Config) *Worker {
	cfg.defaults()
	w := &Worker{cfg: cfg, rdb: rdb, log: cfg.Logger.With("worker", cfg.ID),
		// Four reads ahead: with fewer, the next read waited for a commit
		// to free its slots, and a fast channel idled (0.62 → 0.70 of the
		// ceiling in the benchmark, from 1000 to 2000).
		held: newHoldings(max(cfg.Concurrency*2, 4*cfg.BatchSize)), todo: make(chan []*task, cfg.Concurrency*2),
		outcomes: make(chan *outBuf, cfg.Concurrency*4)}
	w.limiter = newLimiter(rdb)
	w.hardStop, w.hardCancel = context.WithCancel(context.Background())
	empty := map[uint64]queue.Control{}
	w.controls.Store(&empty)
	return w
}

// Stats reads the counters.
func (w *Worker) Stats() Stats {
	return Stats{Processed: w.processed.Load(), Delivered: w.delivered.Load(), Failed: w.failed.Load(),
		Retried: w.retried.Load(), InFlight: w.inFlight.Load()}
}

// Run consumes until ctx is cancelled, then stops fetching at once, lets
// in-flight deliveries finish within the shutdown grace, records what
// finished, gives back what never started, and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	w.started = time.Now()
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "lease", w.cfg.Lease, "procs", runtime.GOMAXPROCS(0))
	// Where the wait for wakes starts, before the first read of the live
	// settings: a send started in between is seen by one or the other.
	_ = call(2*time.Second, func(ctx context.Context) (err error) {
		w.wakeID, err = queue.LastWake(ctx, w.rdb)
		return err
	})
	w.refreshControls()

	heartbeat := newPeriodic(time.Second, w.heartbeat)
	controls := newPeriodic(w.cfg.SettingsEvery, w.refreshControls)
	janitor := newPeriodic(250*time.Millisecond, w.tidy)
	leases := newPeriodic(w.cfg.Lease/3, w.renewLeases)
	reclaimer := newPeriodic(w.cfg.Lease/2, w.reclaim)
	committer := newGroup(1, w.commitLoop)
	deliverers := newGroup(w.cfg.Concurrency, w.deliverChunks)
	fetcher := newGroup(1, func() { w.fetchLoop(ctx) })
	tests := newGroup(1, func() { w.testLoop(ctx) }) // test sends: testsend.go
	// Everything a job passes through is running before the first read.
	for _, start := range []func(){heartbeat.start, controls.start, janitor.start, leases.start, reclaimer.start,
		committer.start, deliverers.start, fetcher.start, tests.start} {
		start()
	}

	<-ctx.Done()
	w.stopping.Store(true)
	w.log.Info("shutting down: no new jobs; finishing deliveries in flight", "grace", w.cfg.ShutdownGrace)
	// No new jobs: not read, not taken over, not handed to the deliverers.
	fetcher.wait()
	tests.wait()
	reclaimer.shutdown()
	w.held.closeHandoffs()
	close(w.todo)
	// Deliveries under way finish within the grace, else are cancelled
	// (their jobs are retried).
	if !deliverers.waitFor(w.cfg.ShutdownGrace) {
		w.log.Warn("shutdown grace over; cancelling deliveries still running (they will be retried)", "in_flight", w.inFlight.Load())
		w.hardCancel()
		deliverers.wait()
	}
	w.hardCancel()
	// Every outcome is recorded; leases were renewed until then.
	close(w.outcomes)
	committer.wait()
	leases.shutdown()
	janitor.shutdown()
	controls.shutdown()
	// What never started goes back at once, for other workers.
	w.releaseUnstarted()
	w.flushGiveBack()
	heartbeat.shutdown()
	_ = call(2*time.Second, func(ctx context.Context) error { return queue.Goodbye(ctx, w.rdb, w.cfg.ID) })
	s := w.Stats()
	w.log.Info("worker stopped", "delivered", s.Delivered, "failed", s.Failed, "retried", s.Retried)
	return nil
}

// control returns a campaign's live settings.
func (w *Worker) control(id uint64) (queue.Control, bool) {
	c, ok := (*w.controls.Load())[id]
	return c, ok
}

// bitmapMarks reports whether a campaign's marks go to the bitmap: its
// owner reads and clears them there (queue.Control.BitmapMarks).
func (w *Worker) bitmapMarks(id uint64) bool {
	c, ok := w.control(id)
	return ok && c.BitmapMarks
}

// refreshControls reads the live settings of every active campaign.
func (w *Worker) refreshControls() {
	var m map[uint64]queue.Control
	err := call(2*time.Second, func(ctx context.Context) (err error) {
		m, err = queue.ActiveCampaigns(ctx, w.rdb)
		return err
	})
	if err != nil {
		w.fail(err)
		return
	}
	w.health.ok(w.log)
	w.controlReads.Add(1)
	defer w.gate.controls(false)
	// Before the campaign's new jobs are read: the outcomes a lost queue
	// took with it are recorded again.
	if seen, lost := w.recent.epochChanged(m); len(seen) > 0 {
		w.takeInEpochs(m, seen, lost)
	}
	// Stored before it is logged: once the log says "campaign paused", no
	// delivery of the campaign starts.
	old := *w.controls.Swap(&m)
	for id, c := range m {
		if o, ok := old[id]; !ok || o.State != c.State {
			w.log.Info("campaign "+string(c.State), "campaign", id, "rate", c.Rate)
		}
	}
}

// fail notes Redis trouble: logged once, and deliveries wait until the
// live settings have been read again.
func (w *Worker) fail(err error) int {
	w.metrics.noteRedisError(err)
	w.gate.controls(true)
	return w.health.fail(w.log, err)
}

// health logs Redis trouble once when it starts and once when it ends, and
// keeps what Redis refused (as opposed to not answering) for the heartbeat:
// an OOM or a READONLY does not pass by waiting, and people must see it.
type health struct {
	mu       sync.Mutex
	down     bool
	since    time.Time
	attempts int
	refusal  string // Explain of the last refusal while down; "" when unreachable
}

func (h *health) fail(log *slog.Logger, err error) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	refusal := ""
	if !queue.IsUnreachable(err) && !errors.Is(err, queue.ErrNotReplicated) {
		refusal = queue.Explain(err)
	}
	switch {
	case !h.down && refusal != "":
		log.Error("redis refuses what this worker needs; retrying with backoff", "err", refusal)
	case !h.down:
		log.Warn("redis unavailable; retrying with backoff", "err", queue.Explain(err))
	case refusal != "" && refusal != h.refusal:
		log.Error("redis refuses what this worker needs", "err", refusal)
	}
	if !h.down {
		h.down, h.since = true, time.Now()
	}
	h.refusal = refusal
	return h.attempts
}

func (h *health) ok(log *slog.Logger) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		log.Info("redis reachable again", "after", time.Since(h.since).Round(time.Millisecond))
	}
	h.down, h.attempts, h.refusal = false, 0, ""
}

func (h *health) isDown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down
}

// lastRefusal is what Redis refuses now, or "".
func (h *health) lastRefusal() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refusal
}

var errStopping = errors.New("worker stopping")
