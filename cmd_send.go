package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/term"

	"tui/internal/termsafe"
	"tui/queue"
	"tui/sending"
	"tui/store"
)

// sendService opens the database and prepares — without dialling — the
// Redis connection.
func sendService(e *env, g *globals) (*sending.Service, func(), error) {
	if e.owned != nil {
		if err := validateRedisURL(g.redis); err != nil {
			return nil, nil, err
		}
		return e.owned.svc, func() {}, nil // the owner's, with its Redis connection
	}
	st, err := openStore(e, g)
	if err != nil {
		return nil, nil, err
	}
	conn, err := queue.NewConn(g.redis)
	if err != nil {
		st.Close()
		return nil, nil, &usageError{msg: "--redis/REDIS_URL: " + err.Error()}
	}
	svc, err := newService(e, st, conn)
	if err != nil {
		conn.Close()
		st.Close()
		return nil, nil, err
	}
	return svc, func() { conn.Close(); st.Close() }, nil
}

// foldWhileQueueing folds the workers' outcomes into the ledger while this
// process queues a send: workers deliver from the first chunk on, and a
// large send's queueing lasts nearly as long as its delivery, so without it
// their events would wait in Redis (its memory growing) until the queueing
// ended and --wait would finish seconds after the last delivery. An owner
// serving this command already follows every send. Only a fresh start
// uses it: a resume may queue a lost send again, which the follower would
// try too. The returned func stops it and waits for the fold under way.
func foldWhileQueueing(e *env, svc *sending.Service) func() {
	if e.owned != nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Follow(ctx, func(sending.Update) {})
	}()
	return func() { cancel(); <-done }
}

// progressPrinter reports enqueue progress on stderr when it is a terminal.
func progressPrinter(e *env, name string) (func(sending.Progress), func()) {
	f, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	last := time.Time{}
	return func(p sending.Progress) {
			if time.Since(last) < 100*time.Millisecond {
				return
			}
			last = time.Now()
			fmt.Fprintf(e.stderr, "\rQueueing %s… %d/%d", name, p.Enqueued, p.Total)
		}, func() {
			fmt.Fprint(e.stderr, "\r\033[K")
		}
}

// The garbage collector's settings in the process of `tui campaign send`,
// unless GOGC or GOMEMLIMIT say otherwise: it collects a quarter as often
// (a fifth less CPU for the send of 100,000, measured), within a soft
// limit that keeps a send of millions as small as before.
const (
	SendGCPercent   = 400
	SendMemoryLimit = 128 << 20
)

// tuneGCForSend applies the send's garbage collector settings, in a
// process of its own only: an owner running the command for another
// process keeps its own.
func tuneGCForSend(e *env) {
	if e.owned != nil || e.getenv("GOGC") != "" || e.getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(SendGCPercent)
	debug.SetMemoryLimit(SendMemoryLimit)
}

func campaignSend(e *env, g *globals, args []string) error {
	var wait *bool
	svc, c, closeAll, err := oneCampaign(e, g, "send", args, func(fs flagSet) {
		wait = fs.Bool("wait", false, "print progress until done")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	id := c.ID
	if c.Status == store.StatusSending {
		// A start that was interrupted resumes; one that finished is left alone.
		if err := resume(e, svc, c); err != nil || !*wait {
			return err
		}
		return waitForSend(e, svc, c)
	}
	tuneGCForSend(e)
	if err := svc.CatchUpUnsubscribes(e.ctx); err != nil {
		fmt.Fprintf(e.stderr, "tui: warning: the unsubscribes waiting in Redis could not be read yet (they are folded before the ledger is written): %v\n", err)
	}
	p, err := svc.Preflight(e.ctx, id)
	if err != nil {
		if e.ctx.Err() != nil {
			return errors.New("interrupted during the preflight: nothing was changed and nothing was queued")
		}
		return err
	}
	fmt.Fprint(e.stderr, termsafe.Text(p.Summary()))
	if !p.OK() {
		return fmt.Errorf("not sent: %s", p.Problem())
	}
	progress, done := progressPrinter(e, c.Name)
	stopFold := foldWhileQueueing(e, svc)
	res, err := svc.Start(e.ctx, e.actor(), id, p.Campaign.Version, progress)
	stopFold()
	done()
	if err != nil {
		return err
	}
	reportQueued(e, svc, res)
	if *wait {
		return waitForSend(e, svc, res.Campaign)
	}
	return nil
}

func reportQueued(e *env, svc *sending.Service, res sending.Result) {
	fmt.Fprintf(e.stderr, "Queued %d recipients of %q in Redis at %s", res.Added+res.Already, res.Campaign.Name, svc.Conn.URL())
	if res.Failed > 0 {
		fmt.Fprintf(e.stderr, "; %d failed before queueing (see `tui campaign show %d`)", res.Failed, res.Campaign.ID)
	}
	fmt.Fprintln(e.stderr, ".")
}

func campaignResume(e *env, g *globals, args []string) error {
	svc, c, closeAll, err := oneCampaign(e, g, "resume", args, nil)
	if err != nil {
		return err
	}
	defer closeAll()
	return resume(e, svc, c)
}

func resume(e *env, svc *sending.Service, c store.Campaign) error {
	progress, done := progressPrinter(e, c.Name)
	res, err := svc.Resume(e.ctx, e.actor(), c.ID, progress)
	done()
	if errors.Is(err, sending.ErrNothingToResume) {
		fmt.Fprintf(e.stderr, "Campaign %q is already sending: all %d recipients are queued.\n", c.Name, res.Total)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Resumed %q: %d more queued (%d were already).\n", c.Name, res.Added, res.Already)
	reportQueued(e, svc, res)
	return nil
}
