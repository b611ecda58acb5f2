package worker

import (
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tui/queue"
)

// What an operator watches (see README, Metrics): counters the worker's
// paths only add to — a few atomic additions per delivery, no lock — read
// by a collector when /metrics is scraped (Metrics).

// LatencyBuckets are the upper bounds, in seconds, of the delivery-time
// histogram: from a file append (tens of microseconds) to a slow SMTP
// server (tens of seconds).
var LatencyBuckets = []float64{0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// latencyBounds are LatencyBuckets in nanoseconds, for the hot path.
var latencyBounds = func() []int64 {
	b := make([]int64, len(LatencyBuckets))
	for i, s := range LatencyBuckets {
		b[i] = int64(s * float64(time.Second))
	}
	return b
}()

// Outcomes by index in channelMetrics.outcomes and ChannelMetrics.Outcomes.
const (
	outcomeSent = iota
	outcomeFailed
	outcomeRetry
	outcomeSkipped
	numOutcomes
)

// OutcomeNames name the outcomes of ChannelMetrics.Outcomes.
var OutcomeNames = [numOutcomes]string{"sent", "failed", "retry", "skipped"}

type channelMetrics struct {
	outcomes [numOutcomes]atomic.Int64
	buckets  [16 + 1]atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	count    atomic.Uint64
	sumNanos atomic.Int64
}

type workerMetrics struct {
	channels      sync.Map // channel name → *channelMetrics
	rateWaits     atomic.Int64
	rateWaitNanos atomic.Int64
	reclaimed     atomic.Int64
	redeliveries  atomic.Int64
	redisErrors   sync.Map // kind → *atomic.Int64
}

func (m *workerMetrics) channel(name string) *channelMetrics {
	if c, ok := m.channels.Load(name); ok {
		return c.(*channelMetrics)
	}
	c, _ := m.channels.LoadOrStore(name, new(channelMetrics))
	return c.(*channelMetrics)
}

// observeDelivery notes how long one delivery took.
func (m *workerMetrics) observeDelivery(channel string, d time.Duration) {
	m.observeDeliveries(channel, d, 1)
}

// observeDeliveries counts n deliveries that took d each (lines written
// to the outbox at once).
func (m *workerMetrics) observeDeliveries(channel string, d time.Duration, n int) {
	c := m.channel(channel)
	ns := int64(d)
	i := 0
	for i < len(latencyBounds) && ns > latencyBounds[i] {
		i++
	}
	c.buckets[i].Add(uint64(n))
	c.count.Add(uint64(n))
	c.sumNanos.Add(ns * int64(n))
}

// countOutcomes counts a committed batch by channel and outcome; it runs on
// the committer, once a batch, and batches hold one channel nearly always.
func (m *workerMetrics) countOutcomes(batch []outcome) {
	var counts [numOutcomes]int64
	var redelivered int64
	name := ""
	flush := func() {
		if counts == [numOutcomes]int64{} {
			return
		}
		c := m.channel(name)
		for i, n := range counts {
			if n > 0 {
				c.outcomes[i].Add(n)
			}
		}
		counts = [numOutcomes]int64{}
	}
	for i := range batch {
		o := &batch[i]
		if ch := o.t.f.Job.Channel; ch != name {
			flush()
			name = ch
		}
		switch o.out.Event.Type {
		case queue.EventDelivered:
			counts[outcomeSent]++
			if o.out.Job.Redelivery {
				redelivered++
			}
		case queue.EventFailed:
			counts[outcomeFailed]++
		case queue.EventRetry:
			counts[outcomeRetry]++
		case queue.EventSkipped:
			counts[outcomeSkipped]++
		}
	}
	flush()
	if redelivered > 0 {
		m.redeliveries.Add(redelivered)
	}
}

// noteRateWait counts a wait for a rate-limit token that began at since.
func (m *workerMetrics) noteRateWait(since time.Time) {
	m.rateWaits.Add(1)
	m.rateWaitNanos.Add(int64(time.Since(since)))
}

// noteRedisError counts Redis trouble by kind.
func (m *workerMetrics) noteRedisError(err error) {
	kind := RedisErrorKind(err)
	c, ok := m.redisErrors.Load(kind)
	if !ok {
		c, _ = m.redisErrors.LoadOrStore(kind, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
}

// RedisErrorKind names Redis trouble for a metric label: "unreachable"
// (no answer), "not_replicated" (no replica confirmed a write in time),
// "tls", or the refusal's code in lower case ("oom", "readonly",
// "noperm", "crossslot"…), else "other".
func RedisErrorKind(err error) string {
	switch {
	case errors.Is(err, queue.ErrNotReplicated):
		return "not_replicated"
	case queue.IsUnreachable(err):
		return "unreachable"
	case strings.HasPrefix(queue.Explain(err), "TLS:"):
		return "tls"
	}
	msg := strings.TrimPrefix(err.Error(), "redis: ")
	if i := strings.LastIndex(msg, ": "); i >= 0 && !isCode(firstWord(msg)) {
		msg = msg[i+2:] // "commit 3 outcomes of campaign 1: OOM …"
	}
	if w := firstWord(msg); isCode(w) {
		return strings.ToLower(w)
	}
	return "other"
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " :"); i > 0 {
		return s[:i]
	}
	return s
}

func isCode(w string) bool {
	if len(w) < 3 || w == "ERR" {
		return false
	}
	for _, r := range w {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return true
}

// ChannelMetrics are one channel's counts and delivery times.
type ChannelMetrics struct {
	Channel  string
	Outcomes [numOutcomes]int64 // by OutcomeNames
	// Latency: cumulative counts per LatencyBuckets bound, the count and
	// the sum in seconds, as Prometheus histograms want them.
	LatencyBuckets []uint64
	LatencyCount   uint64
	LatencySum     float64
}

// MetricsSnapshot is everything a worker counts, read at once.
type MetricsSnapshot struct {
	ID                   string
	Channels             []ChannelMetrics // by name
	InFlight             int64
	Retried              int64
	RateLimitWaits       int64
	RateLimitWaitSeconds float64
	Reclaimed            int64
	Redeliveries         int64
	RedisErrors          map[string]int64
	// RedisDown is true while Redis is unreachable or refusing this worker.
	RedisDown bool
}

// Metrics reads the worker's counters; it never blocks the worker.
func (w *Worker) Metrics() MetricsSnapshot {
	m := &w.metrics
	s := MetricsSnapshot{ID: w.cfg.ID, InFlight: w.inFlight.Load(), Retried: w.retried.Load(),
		RateLimitWaits: m.rateWaits.Load(), RateLimitWaitSeconds: time.Duration(m.rateWaitNanos.Load()).Seconds(),
		Reclaimed: m.reclaimed.Load(), Redeliveries: m.redeliveries.Load(), RedisErrors: map[string]int64{},
		RedisDown: w.health.isDown()}
	m.channels.Range(func(k, v any) bool {
		c := v.(*channelMetrics)
		cm := ChannelMetrics{Channel: k.(string), LatencyBuckets: make([]uint64, len(LatencyBuckets))}
		for i := range cm.Outcomes {
			cm.Outcomes[i] = c.outcomes[i].Load()
		}
		var cum uint64
		for i := range LatencyBuckets {
			cum += c.buckets[i].Load()
			cm.LatencyBuckets[i] = cum
		}
		// The count is read after the buckets: a delivery observed between
		// the two reads shows in the count and +Inf, never in a bucket
		// beyond the count.
		cm.LatencyCount = max(c.count.Load(), cum)
		cm.LatencySum = time.Duration(c.sumNanos.Load()).Seconds()
		s.Channels = append(s.Channels, cm)
		return true
	})
	sort.Slice(s.Channels, func(i, j int) bool { return s.Channels[i].Channel < s.Channels[j].Channel })
	m.redisErrors.Range(func(k, v any) bool {
		s.RedisErrors[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return s
}
