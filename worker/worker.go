package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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

// Worker consumes jobs from every active campaign and delivers them.
type Worker struct {
	cfg     Config
	rdb     redis.UniversalClient
	log     *slog.Logger
	limiter *limiter

	controls atomic.Pointer[map[uint64]queue.Control]

	mu    sync.Mutex
	tasks map[taskKey]*task // from fetch to commit

	slots    chan struct{} // bounds fetched + in-flight jobs
	released chan struct{} // a token after slots are given back
	todo     chan []*task
	outcomes chan *outBuf

	stopping   atomic.Bool
	started    time.Time
	hardStop   context.Context // cancelled when the shutdown grace is over
	hardCancel context.CancelFunc

	delivered, failed, retried, processed, inFlight atomic.Int64
	avgDelivery                                     atomic.Int64 // nanoseconds, moving average
	channelAvg                                      sync.Map     // channel name → *atomic.Int64, as avgDelivery

	handoffMu     sync.Mutex
	handoff       sync.WaitGroup // reclaimed jobs on their way to the deliverers
	handoffClosed bool           // shutdown: no more hand-offs

	health health
	gate   deliveryGate
	recent recentOutcomes

	// cannot holds the campaigns whose channel this worker cannot build
	// (uint64 → reason): it stops reading them and gives their jobs back.
	cannot   sync.Map
	giveMu   sync.Mutex
	giveBack map[uint64][]string // entry IDs to give back at the next tick
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
	w := &Worker{cfg: cfg, rdb: rdb, log: cfg.Logger.With("worker", cfg.ID), tasks: map[taskKey]*task{}, giveBack: map[uint64][]string{},
		// Four reads ahead: with fewer, the next read waited for a commit
		// to free its slots, and a fast channel idled (0.62 → 0.70 of the
		// ceiling in the benchmark, from 1000 to 2000).
		slots: make(chan struct{}, max(cfg.Concurrency*2, 4*cfg.BatchSize)), todo: make(chan []*task, cfg.Concurrency*2),
		outcomes: make(chan *outBuf, cfg.Concurrency*4), released: make(chan struct{}, 1)}
	w.limiter = newLimiter(rdb)
	w.hardStop, w.hardCancel = context.WithCancel(context.Background())
	empty := map[uint64]queue.Control{}
	w.controls.Store(&empty)
	return w
}

// ID is the worker's identity.
func (w *Worker) ID() string { return w.cfg.ID }

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
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "lease", w.cfg.Lease)
	w.refreshControls(context.Background())

	var deliverers, fetcher, committer, keeper sync.WaitGroup
	for i := 0; i < w.cfg.Concurrency; i++ {
		deliverers.Add(1)
		go func() {
			defer deliverers.Done()
			w.deliverChunks()
		}()
	}
	committer.Add(1)
	go func() {
		defer committer.Done()
		w.commitLoop()
	}()
	keeperStop := make(chan struct{})
	keeper.Add(1)
	go func() {
		defer keeper.Done()
		w.housekeeping(keeperStop)
	}()
	fetcher.Add(1)
	go func() {
		defer fetcher.Done()
		w.fetchLoop(ctx)
	}()

	<-ctx.Done()
	w.stopping.Store(true)
	w.log.Info("shutting down: no new jobs; finishing deliveries in flight", "grace", w.cfg.ShutdownGrace)
	fetcher.Wait()
	w.handoffMu.Lock()
	w.handoffClosed = true
	w.handoffMu.Unlock()
	w.handoff.Wait()
	close(w.todo)
	finished := make(chan struct{})
	go func() { deliverers.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(w.cfg.ShutdownGrace):
		w.log.Warn("shutdown grace over; cancelling deliveries still running (they will be retried)", "in_flight", w.inFlight.Load())
		w.hardCancel()
		<-finished
	}
	w.hardCancel()
	close(w.outcomes)
	committer.Wait()
	close(keeperStop) // leases were renewed until every delivery ended
	keeper.Wait()
	w.releaseUnstarted()
	w.flushGiveBack()
	gctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = queue.Goodbye(gctx, w.rdb, w.cfg.ID)
	cancel()
	s := w.Stats()
	w.log.Info("worker stopped", "delivered", s.Delivered, "failed", s.Failed, "retried", s.Retried)
	return nil
}

// control returns a campaign's live settings.
func (w *Worker) control(id uint64) (queue.Control, bool) {
	c, ok := (*w.controls.Load())[id]
	return c, ok
}

func (w *Worker) refreshControls(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	m, err := queue.ActiveCampaigns(cctx, w.rdb)
	if err != nil {
		w.fail(err)
		return
	}
	w.health.ok(w.log)
	defer w.gate.controls(false)
	// Before the campaign's new jobs are read: the outcomes a lost queue
	// took with it are recorded again.
	if lost := w.recent.epochChanged(m); lost != nil {
		w.recordAgain(lost)
	}
	old := *w.controls.Load()
	for id, c := range m {
		if o, ok := old[id]; !ok || o.State != c.State {
			w.log.Info("campaign "+string(c.State), "campaign", id, "rate", c.Rate)
		}
	}
	w.controls.Store(&m)
}

// fail notes Redis trouble: logged once, and deliveries wait until the
// live settings have been read again.
func (w *Worker) fail(err error) int {
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
