// Package metrics exposes what an operator watches, in Prometheus's text
// format: a worker's deliveries, delivery times, retries, waits and Redis
// errors; the queues' depth and age; and, in the process that owns the
// database, the ledger's counts and how far the fold lags. Everything is
// read when /metrics is scraped, from counters the parts already keep:
// nothing here sits on a delivery's path.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"tui/queue"
	"tui/store"
	"tui/worker"
)

// NewRegistry is a process's registry: the Go runtime's and the process's
// metrics, and tui_build_info.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tui_build_info", Help: "Always 1; the version label is tui's.",
		ConstLabels: prometheus.Labels{"version": version}})
	info.Set(1)
	reg.MustRegister(info)
	return reg
}

// Handler serves /metrics, /healthz (the process is alive) and /readyz
// (ready reports whether it can do its work, and the lines that say why).
func Handler(reg *prometheus.Registry, ready func(ctx context.Context) (bool, []string)) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		ok, lines := ready(ctx)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		status := "ready"
		if !ok {
			status = "not ready"
		}
		fmt.Fprintf(w, "%s\n%s\n", status, strings.Join(lines, "\n"))
	})
	return mux
}

var (
	descDeliveries = prometheus.NewDesc("tui_worker_deliveries_total",
		"Deliveries recorded by this worker, by channel and outcome (sent, failed, retry, skipped).", []string{"channel", "outcome"}, nil)
	descLatency = prometheus.NewDesc("tui_worker_delivery_duration_seconds",
		"How long a delivery took on its channel (the provider's answer included), by channel.", []string{"channel"}, nil)
	descRetries   = prometheus.NewDesc("tui_worker_retries_total", "Deliveries that failed for a passing reason and were queued to try again.", nil, nil)
	descInFlight  = prometheus.NewDesc("tui_worker_in_flight", "Deliveries under way now.", nil, nil)
	descRateWaits = prometheus.NewDesc("tui_worker_rate_limit_waits_total",
		"Deliveries that waited for the campaign's rate limit (across workers) before they started.", nil, nil)
	descRateWaitSeconds = prometheus.NewDesc("tui_worker_rate_limit_wait_seconds_total", "Time deliveries spent waiting for the rate limit.", nil, nil)
	descReclaimed       = prometheus.NewDesc("tui_worker_reclaimed_jobs_total",
		"Jobs this worker took over from workers that stopped answering past their lease.", nil, nil)
	descRedeliveries = prometheus.NewDesc("tui_worker_redeliveries_total",
		"Deliveries marked as possible second copies (taken over, or queued again after Redis lost a send).", nil, nil)
	descRedisErrors = prometheus.NewDesc("tui_worker_redis_errors_total",
		"Redis trouble met by this worker, by kind: unreachable, not_replicated, tls, or the refusal's code (oom, readonly, noperm…).", []string{"kind"}, nil)
	descRedisUp = prometheus.NewDesc("tui_worker_redis_up", "1 while this worker's Redis calls succeed, 0 while Redis is away or refusing.", nil, nil)
)

// WorkerCollector reports a worker's counters; snapshot returns false while
// there is no worker (yet).
type WorkerCollector struct {
	Snapshot func() (worker.MetricsSnapshot, bool)
}

func (c *WorkerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDeliveries, descLatency, descRetries, descInFlight, descRateWaits,
		descRateWaitSeconds, descReclaimed, descRedeliveries, descRedisErrors, descRedisUp} {
		ch <- d
	}
}

func (c *WorkerCollector) Collect(ch chan<- prometheus.Metric) {
	s, ok := c.Snapshot()
	if !ok {
		return
	}
	for _, cm := range s.Channels {
		for i, n := range cm.Outcomes {
			ch <- prometheus.MustNewConstMetric(descDeliveries, prometheus.CounterValue, float64(n), cm.Channel, worker.OutcomeNames[i])
		}
		buckets := make(map[float64]uint64, len(worker.LatencyBuckets))
		for i, b := range worker.LatencyBuckets {
			buckets[b] = cm.LatencyBuckets[i]
		}
		ch <- prometheus.MustNewConstHistogram(descLatency, cm.LatencyCount, cm.LatencySum, buckets, cm.Channel)
	}
	ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(s.Retried))
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(s.InFlight))
	ch <- prometheus.MustNewConstMetric(descRateWaits, prometheus.CounterValue, float64(s.RateLimitWaits))
	ch <- prometheus.MustNewConstMetric(descRateWaitSeconds, prometheus.CounterValue, s.RateLimitWaitSeconds)
	ch <- prometheus.MustNewConstMetric(descReclaimed, prometheus.CounterValue, float64(s.Reclaimed))
	ch <- prometheus.MustNewConstMetric(descRedeliveries, prometheus.CounterValue, float64(s.Redeliveries))
	for kind, n := range s.RedisErrors {
		ch <- prometheus.MustNewConstMetric(descRedisErrors, prometheus.CounterValue, float64(n), kind)
	}
	up := 1.0
	if s.RedisDown {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(descRedisUp, prometheus.GaugeValue, up)
}

var (
	descDepth = prometheus.NewDesc("tui_queue_depth",
		"Jobs of a campaign's send not done yet: waiting to be read, read and not yet recorded, and retries waiting for their time.", []string{"campaign"}, nil)
	descOldest = prometheus.NewDesc("tui_queue_oldest_job_age_seconds",
		"How long the oldest job still waiting has waited: since its send was queued for a job not yet read, since its retry came due for a retry (0 when none waits).", []string{"campaign"}, nil)
)

// QueueCollector reports the depth and age of the queues of the campaigns
// Campaigns names, read from Redis at scrape time. Client returns nil when
// there is no connection to read with (the owner before any send): then
// nothing is reported, and nothing is dialled.
type QueueCollector struct {
	Client    func() redis.UniversalClient
	Campaigns func(ctx context.Context, rdb redis.UniversalClient) ([]uint64, error)
}

func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descDepth; ch <- descOldest }

func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	rdb := c.Client()
	if rdb == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ids, err := c.Campaigns(ctx, rdb)
	if err != nil {
		return
	}
	now := time.Now()
	for _, id := range ids {
		q, err := queue.ReadBacklog(ctx, rdb, id, now)
		if err != nil {
			continue
		}
		label := strconv.FormatUint(id, 10)
		ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(q.Depth), label)
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, q.OldestAge.Seconds(), label)
	}
}

var (
	descRecipients = prometheus.NewDesc("tui_campaign_recipients",
		"The ledger's recipients of a send under way (sending, paused, or cancelled a moment ago), by state: the numbers `campaign status` shows.", []string{"campaign", "state"}, nil)
	descFoldLag = prometheus.NewDesc("tui_fold_lag_seconds",
		"Age of the oldest outcome workers recorded in Redis that the owner has not folded into the ledger yet (0 when it is caught up).", []string{"campaign"}, nil)
	descCampaigns = prometheus.NewDesc("tui_campaigns", "Campaigns by status.", []string{"status"}, nil)
	descNextStart = prometheus.NewDesc("tui_schedule_next_start_seconds",
		"Seconds until the next scheduled campaign starts (negative: overdue, no owner started it); absent when none is scheduled.", nil, nil)
	descScheduleFailed = prometheus.NewDesc("tui_schedule_failed_campaigns",
		"Scheduled campaigns whose start failed at their time and that wait for a person.", nil, nil)
)

// OwnerCollector reports what the process that owns the database knows:
// campaigns by status, the ledger of each send under way, the schedule,
// and — when the Redis connection is up — how far the fold lags.
type OwnerCollector struct {
	Store  *store.Store
	Client func() redis.UniversalClient // nil result: not connected
	// Followed are the sends under way (store.FollowedCampaigns).
	Followed func() ([]store.Campaign, error)
}

func (c *OwnerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecipients, descFoldLag, descCampaigns, descNextStart, descScheduleFailed} {
		ch <- d
	}
}

func (c *OwnerCollector) Collect(ch chan<- prometheus.Metric) {
	if all, err := c.Store.Campaigns(); err == nil {
		counts := map[store.Status]int{}
		for _, s := range store.Statuses {
			counts[s] = 0
		}
		for i := range all {
			counts[all[i].Status]++
		}
		for s, n := range counts {
			ch <- prometheus.MustNewConstMetric(descCampaigns, prometheus.GaugeValue, float64(n), string(s))
		}
	}
	if sched, err := c.Store.ScheduledCampaigns(); err == nil {
		failed := 0
		var next *time.Time
		for i := range sched {
			s := sched[i].Schedule
			if s.Error != "" {
				failed++
				continue
			}
			if next == nil || s.At.Before(*next) {
				next = &s.At
			}
		}
		ch <- prometheus.MustNewConstMetric(descScheduleFailed, prometheus.GaugeValue, float64(failed))
		if next != nil {
			ch <- prometheus.MustNewConstMetric(descNextStart, prometheus.GaugeValue, time.Until(*next).Seconds())
		}
	}
	followed, err := c.Followed()
	if err != nil {
		return
	}
	rdb := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, camp := range followed {
		st, err := c.Store.SendState(camp.ID)
		if err != nil {
			continue
		}
		label := strconv.FormatUint(camp.ID, 10)
		for _, s := range []store.RecipientState{store.RecipientQueued, store.RecipientRetrying, store.RecipientSent,
			store.RecipientFailed, store.RecipientSkipped, store.RecipientCancelled} {
			ch <- prometheus.MustNewConstMetric(descRecipients, prometheus.GaugeValue, float64(st.Counts[s]), label, string(s))
		}
		if rdb == nil {
			continue
		}
		lag := 0.0
		if msgs, err := queue.EventsAfter(ctx, rdb, camp.ID, st.EventCursor, 1); err == nil && len(msgs) == 1 {
			if ms, err := strconv.ParseInt(strings.SplitN(msgs[0].ID, "-", 2)[0], 10, 64); err == nil {
				lag = max(0, time.Since(time.UnixMilli(ms)).Seconds())
			}
		} else if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descFoldLag, prometheus.GaugeValue, lag, label)
	}
}
