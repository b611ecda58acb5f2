package worker

import (
	"testing"
	"time"
)

func TestThrottleBacksOffAndRecovers(t *testing.T) {
	l := newLimiter(nil)
	l.throttled(1, 200*time.Millisecond, "")
	c := l.get(1)
	if c.factor != 0.5 || time.Until(c.holdUntil) < 150*time.Millisecond {
		t.Fatalf("after a 429: factor %v, hold %v", c.factor, time.Until(c.holdUntil))
	}
	l.throttled(1, 0, "") // a second one within the second does not halve again
	if c.factor != 0.5 {
		t.Fatalf("factor %v after two throttles in a second", c.factor)
	}
	c.lastSlow = time.Now().Add(-2 * time.Second)
	l.throttled(1, 0, "")
	if c.factor != 0.25 {
		t.Fatalf("factor %v after a later throttle", c.factor)
	}
	// Five quiet seconds give a quarter back, step by step, up to full speed.
	for i := 0; i < 20 && c.factor < 1; i++ {
		c.lastSlow = time.Now().Add(-6 * time.Second)
		c.recover()
	}
	if c.factor != 1 {
		t.Fatalf("factor %v did not recover", c.factor)
	}
	for i := 0; i < 20; i++ {
		c.lastSlow = time.Now().Add(-2 * time.Second)
		l.throttled(1, 0, "")
	}
	if c.factor < 0.05 {
		t.Fatalf("factor %v fell below the floor", c.factor)
	}
}

// What the heartbeat says of a slowed campaign: at a rate, how fast it goes
// now; without one, the wait the channel asked for; nothing once the
// campaign is back to full speed and the wait is long over.
func TestSlowedSaysWhyAndWhatTheWorkerDoes(t *testing.T) {
	l := newLimiter(nil)
	rates := map[uint64]int{1: 100, 2: 0}
	rateOf := func(id uint64) int { return rates[id] }
	if got := l.slowed(time.Now(), rateOf); got != nil {
		t.Fatalf("nothing slowed yet: %v", got)
	}
	l.throttled(1, 0, "webhook answered HTTP 429 Too Many Requests")
	l.throttled(2, 2*time.Second, "webhook answered HTTP 503 Service Unavailable: busy")
	got := l.slowed(time.Now(), rateOf)
	if want := "the channel asked to slow down (webhook answered HTTP 429 Too Many Requests): it sends at 50/s of the 100/s asked " +
		"and waits a second after each such answer, faster again as such answers stop"; got[1] != want {
		t.Errorf("rated campaign:\n got %q\nwant %q", got[1], want)
	}
	if want := "the channel asked to slow down (webhook answered HTTP 503 Service Unavailable: busy): it waits the 2s asked after each such answer"; got[2] != want {
		t.Errorf("unlimited campaign:\n got %q\nwant %q", got[2], want)
	}
	// Long after: the unlimited one's wait is over, the rated one is back
	// to full speed.
	later := time.Now().Add(time.Minute)
	c := l.get(1)
	for i := 0; i < 20 && c.factor < 1; i++ {
		c.lastSlow = time.Now().Add(-6 * time.Second)
		c.recover()
	}
	if got := l.slowed(later, rateOf); got != nil {
		t.Errorf("a minute later, nothing is slowed: %v", got)
	}
}
