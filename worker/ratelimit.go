package worker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/english"
	"tui/queue"
)

// limiter holds a campaign's rate across all workers with a GCRA limiter in
// Redis. A call per message would cost as much as the delivery, so tokens are
// taken in small batches (rate/40); the burst is one more, which keeps any
// one-second window within rate + rate/40 + 1.
type limiter struct {
	rdb redis.UniversalClient

	mu        sync.Mutex
	campaigns map[uint64]*campaignRate
	// byID is campaigns for the lock-free path: a token taken at full speed
	// is one atomic decrement, not a mutex that every deliverer contends.
	byID sync.Map // uint64 → *campaignRate

	// holdsUntil is the latest holdUntil of any campaign (unix nanos): an
	// unlimited campaign skips the mutex while no provider asked to wait.
	holdsUntil atomic.Int64
}

type campaignRate struct {
	tokens    atomic.Int64
	factor    float64   // < 1 after the provider asked us to slow down
	holdUntil time.Time // no deliveries before this (a Retry-After)
	lastSlow  time.Time
	// why is the channel's answer that last slowed the campaign, and
	// asked the delay it named (0: none), for the heartbeat.
	why   string
	asked time.Duration
	// One deliverer at a time asks Redis for tokens; the others wait for
	// its answer (asking is closed then). Were they all to ask at once,
	// the first would take the burst and the rest, refused, would sleep
	// while it delivered alone.
	asking  chan struct{}
	nextAsk time.Time // refused: nobody asks again before this
}

func newLimiter(rdb redis.UniversalClient) *limiter {
	return &limiter{rdb: rdb, campaigns: map[uint64]*campaignRate{}}
}

func (l *limiter) get(id uint64) *campaignRate {
	c := l.campaigns[id]
	if c == nil {
		c = &campaignRate{factor: 1}
		l.campaigns[id] = c
		l.byID.Store(id, c)
	}
	return c
}

// take waits for one token of the campaign's rate (0: no limit); waited
// says whether it had to wait for Redis or the clock.
func (l *limiter) take(ctx context.Context, id uint64, rate int, stopping *atomic.Bool, now time.Time) (waited bool, err error) {
	if now.UnixNano() >= l.holdsUntil.Load() {
		if rate == 0 {
			return false, nil
		}
		if v, ok := l.byID.Load(id); ok {
			c := v.(*campaignRate)
			if c.tokens.Add(-1) >= 0 {
				return false, nil
			}
			c.tokens.Add(1)
		}
	}
	for ; ; waited = true {
		if stopping.Load() {
			return waited, errStopping
		}
		if waited {
			now = time.Now()
		}
		l.mu.Lock()
		c := l.get(id)
		c.recover()
		wait := c.holdUntil.Sub(now)
		if rate > 0 {
			wait = max(wait, c.nextAsk.Sub(now))
		}
		effective := int(float64(rate) * c.factor)
		if rate > 0 && effective < 1 {
			effective = 1
		}
		if wait <= 0 {
			if rate == 0 || c.tokens.Add(-1) >= 0 {
				l.mu.Unlock()
				return waited, nil
			}
			c.tokens.Add(1)
		}
		if wait <= 0 && c.asking != nil {
			asking := c.asking
			l.mu.Unlock()
			select {
			case <-asking:
			case <-ctx.Done():
				return waited, ctx.Err()
			}
			continue
		}
		var asking chan struct{}
		if wait <= 0 {
			asking = make(chan struct{})
			c.asking = asking
		}
		l.mu.Unlock()
		if wait <= 0 {
			// The burst is one above the batch: a worker that asks a little
			// late still gets a whole batch.
			batch := max(1, effective/40)
			granted, retryAfter, err := queue.TakeTokens(ctx, l.rdb, id, effective, batch+1, batch)
			l.mu.Lock()
			c = l.get(id)
			c.asking = nil
			switch {
			case err != nil:
				c.nextAsk = time.Now().Add(250 * time.Millisecond)
			case granted > 0:
				c.tokens.Add(int64(granted))
			default:
				// Never spin: at least a few milliseconds between asks.
				c.nextAsk = time.Now().Add(max(retryAfter, 5*time.Millisecond))
			}
			l.mu.Unlock()
			close(asking)
			if err != nil && ctx.Err() != nil {
				return waited, ctx.Err()
			}
			continue
		}
		if wait > 250*time.Millisecond {
			wait = 250 * time.Millisecond // look at stopping and new settings often
		}
		if !queue.Sleep(ctx, wait) {
			return waited, ctx.Err()
		}
	}
}

// throttled slows a campaign down after a provider's 421/429: half the rate,
// recovering by a quarter every five quiet seconds; and, when the provider
// named a delay, nothing before it. why is the provider's answer.
func (l *limiter) throttled(id uint64, retryAfter time.Duration, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.get(id)
	now := time.Now()
	c.why, c.asked = why, retryAfter
	if now.Sub(c.lastSlow) > time.Second {
		c.factor = max(c.factor/2, 0.05)
	}
	c.lastSlow = now
	hold := retryAfter
	if hold <= 0 {
		hold = time.Second
	}
	if until := now.Add(hold); until.After(c.holdUntil) {
		c.holdUntil = until
		if u := until.UnixNano(); u > l.holdsUntil.Load() {
			l.holdsUntil.Store(u) // under l.mu: no lost update
		}
	}
}

// slowedLinger is how long after a provider's delay ran out the heartbeat
// still says the campaign was held: a hold of a second would otherwise fall
// between two beats and never be seen.
const slowedLinger = 5 * time.Second

// slowed says, by campaign, why this worker sends it slower than its
// settings ask (rateOf gives a campaign's rate; 0 is no limit), for the
// heartbeat: the provider's answer and what the worker does about it.
func (l *limiter) slowed(now time.Time, rateOf func(uint64) int) map[uint64]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out map[uint64]string
	for id, c := range l.campaigns {
		c.recover()
		rate := rateOf(id)
		slower := rate > 0 && c.factor < 1
		var does []string
		if slower {
			does = append(does, fmt.Sprintf("sends at %s/s of the %s/s asked",
				english.Thousands(max(1, int(float64(rate)*c.factor))), english.Thousands(rate)))
		}
		if now.Before(c.holdUntil.Add(slowedLinger)) {
			wait := "a second"
			if c.asked > 0 {
				wait = "the " + c.asked.Round(time.Second).String() + " asked"
			}
			does = append(does, "waits "+wait+" after each such answer")
		}
		if len(does) == 0 {
			continue
		}
		says := "the channel asked to slow down (" + c.why + "): it " + strings.Join(does, " and ")
		if slower {
			says += ", faster again as such answers stop"
		}
		if out == nil {
			out = map[uint64]string{}
		}
		out[id] = says
	}
	return out
}

func (c *campaignRate) recover() {
	if c.factor < 1 && time.Since(c.lastSlow) > 5*time.Second {
		c.factor = min(1, c.factor*1.25)
		c.lastSlow = time.Now() // the next step after another quiet 5 s
	}
}
