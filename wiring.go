package main

import (
	"context"
	"log/slog"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"tui/queue"
	"tui/sending"
	"tui/store"
	"tui/ui"
	"tui/worker"
)

// ownerSetup is how one process that owns the database (the app, --ssh,
// serve) differs from the others; everything else they build alike.
type ownerSetup struct {
	// log is where the background work speaks: stderr for a server, a
	// discarding logger under a screen, which the log would write over.
	log *slog.Logger
	// worker runs a worker in this process, started once a send has
	// brought the Redis connection up.
	worker bool
	// workerLog is the in-process worker's log.
	workerLog *slog.Logger
	// reopenOnHUP reopens the worker's outboxes on SIGHUP, for servers
	// (logrotate moves the outbox and sends SIGHUP, which would otherwise
	// end the process); a server without a worker goes on. A terminal app
	// stops on SIGHUP, as on SIGTERM: its terminal went away.
	reopenOnHUP bool
}

// ownerProcess is what a process that owns the database runs, built in
// one order and stopped in the reverse: store → Redis connection → send
// service → hub → metrics → in-process worker, then (Start) the follower,
// the worker and the owner loops under one group.
type ownerProcess struct {
	st    *store.Store
	conn  *queue.Conn
	svc   *sending.Service
	hub   *sending.Hub
	owned *ownedDB
	// lw is the in-process worker, nil without one.
	lw  *ui.LocalWorker
	log *slog.Logger

	closers []func() // Close runs them last first

	cancel    context.CancelFunc
	group     *errgroup.Group
	stopOwner func()
}

// openOwner builds what the owning process runs, starting nothing but the
// metrics listener (a port that cannot be had is an error before anything
// runs). Close releases what it built, whether or not it was started.
func openOwner(e *env, g *globals, wf *workerFlags, set ownerSetup) (_ *ownerProcess, err error) {
	if set.log == nil {
		set.log = slog.New(slog.DiscardHandler)
	}
	o := &ownerProcess{log: set.log}
	defer func() {
		if err != nil {
			o.Close()
		}
	}()
	st, err := openOwnerStore(g)
	if err != nil {
		return nil, err
	}
	o.st = st
	o.closers = append(o.closers, func() { st.Close() }) // closing twice is harmless
	conn, err := queue.NewConn(g.redis)
	if err != nil {
		return nil, &usageError{msg: "--redis/REDIS_URL: " + err.Error()}
	}
	o.conn = conn
	o.closers = append(o.closers, func() { conn.Close() })
	// Every owner renders with the same unsubscribe links: a scheduled
	// send it starts, or a send another process's command asks of it.
	if o.svc, err = newService(e, st, conn); err != nil {
		return nil, err
	}
	o.hub = sending.NewHub(o.svc)
	o.owned = &ownedDB{st: st, svc: o.svc, hub: o.hub}
	wf.current = new(atomic.Pointer[worker.Worker])
	stopMetrics, err := serveOwnerMetrics(e, wf, o.owned, set.log)
	if err != nil {
		return nil, err
	}
	o.closers = append(o.closers, stopMetrics)
	if set.worker {
		o.lw = newLocalWorker(e, conn, wf, set.workerLog, outboxBeside(st.Path()))
	}
	if set.reopenOnHUP {
		o.closers = append(o.closers, reopenOutboxesOnHUP(set.log, set.worker))
	}
	return o, nil
}

// Start runs the follower of sends, the in-process worker and the owner
// loops (the command-line socket, the schedule, the unsubscribes) until
// Stop or ctx's end.
func (o *ownerProcess) Start(ctx context.Context, hooks ownerHooks) {
	ctx, o.cancel = context.WithCancel(ctx)
	o.group = new(errgroup.Group)
	o.group.Go(func() error {
		followSends(ctx, o.hub, func(err error) { o.log.Warn("following sends failed; trying again", "err", err.Error()) })
		return nil
	})
	if o.lw != nil {
		o.group.Go(func() error {
			if err := o.lw.Run(ctx); err != nil {
				o.log.Error("the in-process worker stopped", "err", err.Error())
			}
			return nil
		})
	}
	hooks.log = o.log
	o.stopOwner = startOwnerLoops(ctx, o.owned, hooks)
}

// StopOwnerLoops closes the command-line socket and stops the schedule
// and the unsubscribes; commands under way finish first. The follower and
// the worker go on until Stop.
func (o *ownerProcess) StopOwnerLoops() {
	if o.stopOwner != nil {
		o.stopOwner()
		o.stopOwner = nil
	}
}

// Stop stops what Start started, the owner loops first (no new command or
// scheduled send), then the worker (it finishes its deliveries within its
// grace) and the follower, and waits for them.
func (o *ownerProcess) Stop() {
	if o.group == nil {
		return
	}
	o.StopOwnerLoops()
	o.cancel()
	_ = o.group.Wait()
	o.group = nil
}

// Close stops what runs and releases what openOwner built, last first.
func (o *ownerProcess) Close() {
	o.Stop()
	for i := len(o.closers) - 1; i >= 0; i-- {
		o.closers[i]()
	}
	o.closers = nil
}
