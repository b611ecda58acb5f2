package ui

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"

	"tui/queue"
)

// The in-process worker of `tui --worker`. It belongs to the process, not
// to a session: main starts its Run for the program's lifetime, and every
// session reads its state to show it and to ask before quitting.
//
// It must not dial Redis at start either: it waits until the connection is
// up because a person started a send (or a send already in the database is
// being followed), and only then builds the worker on the live client.

// WorkerProcess is a worker built on the live connection. main wires
// worker.New into it, so that ui does not depend on the worker package.
type WorkerProcess struct {
	// Run delivers until ctx ends, then lets deliveries in flight finish
	// within the worker's shutdown grace and returns.
	Run func(ctx context.Context) error
	// InFlight and Processed read the worker's counters.
	InFlight  func() int64
	Processed func() int64
}

// WorkerPhase is where the in-process worker is in its life.
type WorkerPhase int

// The phases of the in-process worker.
const (
	WorkerWaiting  WorkerPhase = iota // Redis not connected yet: nothing built, nothing dialled
	WorkerRunning                     // delivering
	WorkerDraining                    // stopping: deliveries in flight finish
	WorkerStopped                     // Run returned
	WorkerFailed                      // could not be built; Err says why
)

// WorkerSnapshot is the in-process worker's state at one moment.
type WorkerSnapshot struct {
	Phase     WorkerPhase
	Slots     int
	InFlight  int64
	Processed int64
	Err       string
}

// LocalWorker runs a WorkerProcess inside the TUI process.
type LocalWorker struct {
	conn  *queue.Conn
	slots int
	grace time.Duration
	build func(ctx context.Context) (WorkerProcess, error)

	started   atomic.Bool
	drainOnce sync.Once
	drain     chan struct{} // closed by Drain
	done      chan struct{} // closed when Run returns

	mu    sync.Mutex
	proc  *WorkerProcess
	phase WorkerPhase
	err   string
}

// NewLocalWorker prepares the in-process worker: slots is its concurrency
// and grace its shutdown grace, both for display; build makes the worker
// once the connection is up (it may call conn.Client: by then that no
// longer dials).
func NewLocalWorker(conn *queue.Conn, slots int, grace time.Duration, build func(ctx context.Context) (WorkerProcess, error)) *LocalWorker {
	return &LocalWorker{conn: conn, slots: slots, grace: grace, build: build,
		drain: make(chan struct{}), done: make(chan struct{})}
}

// Grace is how long deliveries in flight may take to finish at shutdown.
func (w *LocalWorker) Grace() time.Duration { return w.grace }

// Run waits for the connection to come up, then runs the worker until ctx
// ends or Drain is called, and returns once the worker has drained.
func (w *LocalWorker) Run(ctx context.Context) error {
	w.started.Store(true)
	defer close(w.done)
	ch, unsubscribe := w.conn.Subscribe()
	connected := false
	for !connected {
		select {
		case <-ctx.Done():
			unsubscribe()
			w.setPhase(WorkerStopped, "")
			return nil
		case <-w.drain:
			unsubscribe()
			w.setPhase(WorkerStopped, "")
			return nil
		case s := <-ch:
			// Reconnecting follows Connected only: a client exists, and
			// a state read late must not keep the worker waiting.
			connected = s.State == queue.Connected || s.State == queue.Reconnecting
		}
	}
	unsubscribe()
	proc, err := w.build(ctx)
	if err != nil {
		w.setPhase(WorkerFailed, err.Error())
		return fmt.Errorf("start the in-process worker: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-w.drain:
			cancel()
		case <-wctx.Done():
		}
	}()
	w.mu.Lock()
	w.proc, w.phase = &proc, WorkerRunning
	w.mu.Unlock()
	err = proc.Run(wctx)
	w.setPhase(WorkerStopped, "")
	return err
}

func (w *LocalWorker) setPhase(p WorkerPhase, err string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.phase, w.err = p, err
}

// Drain stops the worker and waits until deliveries in flight have
// finished (at most the worker's grace) and Run has returned. Without a
// running Run it returns at once.
func (w *LocalWorker) Drain() {
	w.drainOnce.Do(func() {
		w.mu.Lock()
		if w.phase == WorkerRunning {
			w.phase = WorkerDraining
		}
		w.mu.Unlock()
		close(w.drain)
	})
	if w.started.Load() {
		<-w.done
	}
}

// Snapshot reads the worker's state; it is cheap (counters in memory).
func (w *LocalWorker) Snapshot() WorkerSnapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := WorkerSnapshot{Phase: w.phase, Slots: w.slots, Err: w.err}
	if w.proc != nil {
		s.InFlight, s.Processed = w.proc.InFlight(), w.proc.Processed()
	}
	return s
}

// workerTexts is the status bar's worker segment, most detailed first.
func workerTexts(s WorkerSnapshot) []string {
	switch s.Phase {
	case WorkerWaiting:
		return []string{fmt.Sprintf("worker: %d slots, starts with a send", s.Slots), "worker: waiting"}
	case WorkerRunning:
		return []string{fmt.Sprintf("worker: %d slots, %d in flight", s.Slots, s.InFlight), fmt.Sprintf("worker: %d/%d", s.InFlight, s.Slots)}
	case WorkerDraining:
		return []string{fmt.Sprintf("worker: stopping, %d in flight", s.InFlight), "worker: stopping"}
	case WorkerFailed:
		return []string{"worker: failed (see !)", "worker: failed"}
	}
	return []string{"worker: stopped"}
}

// workerTickEvery is how often the status bar's worker figures refresh.
const workerTickEvery = time.Second

type (
	workerTickMsg    struct{ snap WorkerSnapshot }
	workerDrainedMsg struct{}
	// quitDrainMsg is the yes of the quit question: stop the worker, then quit.
	quitDrainMsg struct{}
)

// tickWorker reads the worker's figures after a while.
func tickWorker(w *LocalWorker) tea.Cmd {
	return tea.Tick(workerTickEvery, func(time.Time) tea.Msg { return workerTickMsg{snap: w.Snapshot()} })
}

// drainWorker stops the worker in a command: it may take the whole grace.
func drainWorker(w *LocalWorker) tea.Cmd {
	return func() tea.Msg {
		w.Drain()
		return workerDrainedMsg{}
	}
}
