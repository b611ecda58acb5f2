package worker

import (
	"testing"
	"time"
)

func TestThrottleBacksOffAndRecovers(t *testing.T) {
	l := newLimiter(nil)
	l.throttled(1, 200*time.Millisecond)
	c := l.get(1)
	if c.factor != 0.5 || time.Until(c.holdUntil) < 150*time.Millisecond {
		t.Fatalf("after a 429: factor %v, hold %v", c.factor, time.Until(c.holdUntil))
	}
	l.throttled(1, 0) // a second one within the second does not halve again
	if c.factor != 0.5 {
		t.Fatalf("factor %v after two throttles in a second", c.factor)
	}
	c.lastSlow = time.Now().Add(-2 * time.Second)
	l.throttled(1, 0)
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
		l.throttled(1, 0)
	}
	if c.factor < 0.05 {
		t.Fatalf("factor %v fell below the floor", c.factor)
	}
}
