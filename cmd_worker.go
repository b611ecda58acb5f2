package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"

	"tui/internal/termsafe"
	"tui/queue"
	"tui/store"
	"tui/worker"
)

// workerFlags are the flags of a worker, headless or in-process.
type workerFlags struct {
	concurrency int
	outbox      string
	grace       time.Duration
	lease       time.Duration
	logFormat   string
	metrics     string // serve /metrics, /healthz and /readyz here
	listen      string // serve one-click unsubscribe links here (--headless-worker)
	// current is the worker running in this process, for the metrics.
	current *atomic.Pointer[worker.Worker]
}

func (w *workerFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&w.concurrency, "concurrency", 8, "deliveries at once")
	fs.StringVar(&w.outbox, "outbox", "", "the file channel's outbox (env TUI_OUTBOX)")
	fs.DurationVar(&w.grace, "shutdown-grace", 10*time.Second, "how long in-flight deliveries may finish on SIGINT/SIGTERM")
	fs.DurationVar(&w.lease, "lease", 30*time.Second, "a job untouched this long is taken over by other workers")
	fs.StringVar(&w.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&w.metrics, "metrics", "", "serve Prometheus /metrics, /healthz and /readyz on this address")
	fs.StringVar(&w.listen, "listen", "", "serve one-click unsubscribe links on this address (needs TUI_UNSUBSCRIBE_SECRET)")
}

func (w *workerFlags) validate() error {
	switch {
	case w.concurrency < 1 || w.concurrency > 10_000:
		return usagef("--concurrency must be between 1 and 10000")
	case w.grace <= 0:
		return usagef("--shutdown-grace must be positive, e.g. 10s")
	case w.lease < time.Second:
		return usagef("--lease must be at least 1s")
	case w.logFormat != "text" && w.logFormat != "json":
		return usagef("--log-format must be text or json")
	}
	return nil
}

func (w *workerFlags) logger(out io.Writer) *slog.Logger {
	// User names, campaign names and providers' errors go into the log,
	// which is often read on a terminal.
	opts := &slog.HandlerOptions{ReplaceAttr: termsafe.LogAttr}
	if w.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(out, opts))
	}
	return slog.New(slog.NewTextHandler(out, opts))
}

// config builds a worker's settings. File jobs go to --outbox, else
// TUI_OUTBOX, else defaultOutbox (none when empty).
func (w *workerFlags) config(e *env, log *slog.Logger, defaultOutbox string) worker.Config {
	outbox := w.outbox
	if outbox == "" {
		outbox = e.getenv("TUI_OUTBOX")
	}
	return worker.Config{Concurrency: w.concurrency, ShutdownGrace: w.grace, Lease: w.lease, Logger: log,
		Channels: worker.NewChannels(e.getenv, outbox).WithDefaultOutbox(defaultOutbox)}
}

// OutboxName is the file channel's outbox beside the database (--worker,
// --ssh --worker) or in the data directory (--headless-worker) when
// neither --outbox nor TUI_OUTBOX names one.
const OutboxName = "outbox.jsonl"

// outboxBeside is the in-process worker's default outbox, beside the
// database at dbPath.
func outboxBeside(dbPath string) string { return filepath.Join(filepath.Dir(dbPath), OutboxName) }

// dataDirOutbox is the headless worker's default outbox, or "" when there
// is no data directory.
func dataDirOutbox() string {
	p, err := store.DefaultPath()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(p), OutboxName)
}

// WorkerGCPercent is the garbage collector's setting in a headless worker
// unless GOGC says otherwise (see worker.GCPercent).
const WorkerGCPercent = worker.GCPercent

// workerProcs is how many CPUs a headless worker runs Go code on, of the n
// it may use, unless GOMAXPROCS says otherwise: half, and at least one. A
// worker's work is a pipeline — one reader of the queue, deliverers that
// mostly wait on the network, one committer — and it nearly always shares
// its machine with Redis, the owner or other workers. Every P more than
// that adds wake-ups of idle threads and a collector running on every
// core, and buys nothing: on two cores shared with Redis, one worker
// drained 100,000 jobs at 189,000–203,000/s on one P, against
// 175,000–181,000/s on two, for a fifth less CPU.
func workerProcs(n int) int { return max(1, n/2) }

// tuneWorkerRuntime applies the headless worker's runtime settings, each
// unless its environment variable is set.
func tuneWorkerRuntime(e *env) {
	// A worker holds little (a few thousand jobs at most): collecting half
	// as often as the default costs little memory.
	if e.getenv("GOGC") == "" {
		debug.SetGCPercent(WorkerGCPercent)
	}
	if e.getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(workerProcs(runtime.GOMAXPROCS(0)))
	}
}

// runHeadlessWorker is `tui --headless-worker`: no UI, no database, logs on
// stderr; it waits for Redis when Redis is not there yet, and stops cleanly
// on SIGINT or SIGTERM.
func runHeadlessWorker(e *env, g *globals, wf *workerFlags) error {
	if err := wf.validate(); err != nil {
		return err
	}
	tuneWorkerRuntime(e)
	log := wf.logger(e.stderr)
	conn, err := queue.NewConn(g.redis)
	if err != nil {
		return &usageError{msg: "--redis/REDIS_URL: " + err.Error()}
	}
	defer conn.Close()
	cfg := wf.config(e, log, dataDirOutbox())
	channels := cfg.Channels.(*worker.Channels)
	defer channels.Close()
	var current atomic.Pointer[worker.Worker]
	stopMetrics, err := serveWorkerMetrics(e, wf, conn, &current, channels, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	if wf.listen != "" {
		lctx, stop := context.WithCancel(e.ctx)
		wait, err := startUnsubscribeListener(lctx, e, wf.listen, conn, log)
		if err != nil {
			stop()
			return err
		}
		defer func() { stop(); wait() }()
	}
	defer reopenOutboxesOnHUP(log, true)()
	log.Info("connecting to redis", "url", conn.URL())
	var rdbErr error
	for attempt := 1; ; attempt++ {
		rdb, err := conn.Client(e.ctx)
		if err == nil {
			if p := channels.OutboxPath(); p != "" {
				log.Info("file-channel jobs append to the outbox", "path", p)
			}
			w := worker.New(rdb, cfg)
			current.Store(w)
			return w.Run(e.ctx)
		}
		if e.ctx.Err() != nil {
			return nil
		}
		if rdbErr == nil || rdbErr.Error() != err.Error() {
			log.Warn("redis unavailable; retrying with backoff", "err", err.Error())
			rdbErr = err
		}
		select {
		case <-time.After(queue.Backoff(attempt)):
		case <-e.ctx.Done():
			return nil
		}
	}
}

// reopenOutboxesOnHUP makes SIGHUP reopen the file channel's outbox, as
// daemons reopen their logs after logrotate moved them (the outbox follows
// a move within a second anyway); a server without a worker notes it and
// goes on, as it does when the terminal it was started from closes. It
// returns the function that stops it. The interactive app does not use it:
// there, SIGHUP means the terminal went away, and the app stops
// (runInteractive).
func reopenOutboxesOnHUP(log *slog.Logger, outboxes bool) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				if !outboxes {
					log.Info("SIGHUP: no worker runs here, so there is no outbox to reopen; going on")
					continue
				}
				worker.ReopenOutboxes()
				log.Info("SIGHUP: the outbox is reopened before the next delivery")
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
