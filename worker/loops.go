package worker

import (
	"context"
	"sync"
	"time"
)

// A worker is a few loops, each with one owner and a way to stop: the
// fetcher, the deliverers and the committer move jobs; the periodic ones
// (live settings, janitor, leases, reclaimer, heartbeat) each run on their
// own goroutine, so that a slow one — a reclaim waiting on Redis — delays
// only itself, never a lease renewal or a heartbeat. Run starts them in a
// stated order and stops them in the reverse of what each depends on.

// periodic runs a duty at once and then every period until shutdown.
type periodic struct {
	every time.Duration
	duty  func()
	stop  chan struct{}
	done  chan struct{}
}

func newPeriodic(every time.Duration, duty func()) *periodic {
	return &periodic{every: every, duty: duty, stop: make(chan struct{}), done: make(chan struct{})}
}

func (p *periodic) start() {
	go func() {
		defer close(p.done)
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			p.duty()
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// shutdown stops the loop and waits for a duty under way to end.
func (p *periodic) shutdown() {
	close(p.stop)
	<-p.done
}

// group is n goroutines running one function to its end (the fetcher, the
// deliverers, the committer: each ends when its input is closed or the
// worker stops).
type group struct {
	n  int
	f  func()
	wg sync.WaitGroup
}

func newGroup(n int, f func()) *group { return &group{n: n, f: f} }

func (g *group) start() {
	g.wg.Add(g.n)
	for i := 0; i < g.n; i++ {
		go func() {
			defer g.wg.Done()
			g.f()
		}()
	}
}

func (g *group) wait() { g.wg.Wait() }

// waitFor waits for the group at most d; false if it had not ended.
func (g *group) waitFor(d time.Duration) bool {
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// call runs f with a context that ends after d. The worker's own Redis
// calls start from the background, not from Run's context: a stop must
// never abandon a call halfway (a read whose jobs Redis already handed
// over, a commit half sent).
func call(d time.Duration, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return f(ctx)
}
