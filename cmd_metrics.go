package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/metrics"
	"tui/queue"
	"tui/sending"
	"tui/store"
	"tui/worker"
)

// The HTTP side of a process: --metrics ADDR serves /metrics (Prometheus's
// text format), /healthz and /readyz. Routes of other features may join
// the same server (mux) when they listen on the same address.

// serveHTTP serves mux on addr until the returned stop.
func serveHTTP(addr string, mux http.Handler, log *slog.Logger, what string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for %s on %s: %w (is something else on that port? choose another address)", what, addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what+" stopped", "err", err.Error())
		}
	}()
	log.Info("serving "+what, "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// connectedClient is the connection's client if a send has brought it up,
// else nil: reading metrics never dials.
func connectedClient(conn *queue.Conn) redis.UniversalClient {
	if s := conn.Status().State; s != queue.Connected && s != queue.Reconnecting {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rdb, err := conn.Client(ctx)
	if err != nil {
		return nil
	}
	return rdb
}

func workerSnapshot(cur *atomic.Pointer[worker.Worker]) func() (worker.MetricsSnapshot, bool) {
	return func() (worker.MetricsSnapshot, bool) {
		w := cur.Load()
		if w == nil {
			return worker.MetricsSnapshot{}, false
		}
		return w.Metrics(), true
	}
}

func activeCampaigns(ctx context.Context, rdb redis.UniversalClient) ([]uint64, error) {
	m, err := queue.ActiveCampaigns(ctx, rdb)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	return ids, nil
}

// pingRedis is a readiness line about Redis and whether it answers.
func pingRedis(ctx context.Context, rdb redis.UniversalClient, url string) (bool, string) {
	if err := queue.Ping(ctx, rdb); err != nil {
		return false, "redis: not reachable at " + url + ": " + queue.Explain(err)
	}
	return true, "redis: reachable at " + url
}

// channelReadiness says which channels a worker can deliver through: a
// channel whose settings are in the environment but wrong makes the
// worker not ready; one without settings is only not configured.
func channelReadiness(e *env, channels *worker.Channels) (bool, []string) {
	ok, usable := true, 0
	var lines []string
	for _, ch := range []struct{ name, setting string }{{"file", ""}, {"webhook", ""}, {"smtp", "SMTP_URL"}, {"messenger", "MESSENGER_PAGE_TOKEN"}} {
		_, err := channels.Get(ch.name)
		switch {
		case err == nil:
			usable++
			lines = append(lines, "channel "+ch.name+": configured")
		case ch.setting != "" && e.getenv(ch.setting) == "":
			lines = append(lines, "channel "+ch.name+": not configured ("+ch.setting+" is not set)")
		default:
			ok = false
			lines = append(lines, "channel "+ch.name+": misconfigured: "+err.Error())
		}
	}
	return ok && usable > 0, lines
}

// serveWorkerMetrics is --metrics of a headless worker: its counters, the
// queues of the sends under way, and readiness — Redis answers and the
// channels' settings are sound.
func serveWorkerMetrics(e *env, wf *workerFlags, conn *queue.Conn, cur *atomic.Pointer[worker.Worker], channels *worker.Channels, log *slog.Logger) (func(), error) {
	if wf.metrics == "" {
		return func() {}, nil
	}
	reg := metrics.NewRegistry(version)
	reg.MustRegister(&metrics.WorkerCollector{Snapshot: workerSnapshot(cur)},
		&metrics.QueueCollector{Client: func() redis.UniversalClient { return connectedClient(conn) }, Campaigns: activeCampaigns})
	ready := func(ctx context.Context) (bool, []string) {
		var lines []string
		up := false
		if rdb := connectedClient(conn); rdb == nil {
			line := "redis: not connected yet at " + conn.URL()
			if st := conn.Status(); st.Err != "" {
				// Why the dials fail, and what to do: the log's words.
				line = "redis: " + (&queue.UnavailableError{URL: conn.URL(), Cause: st.Err}).Error()
			}
			lines = append(lines, line)
		} else {
			var line string
			up, line = pingRedis(ctx, rdb, conn.URL())
			lines = append(lines, line)
		}
		chOK, chLines := channelReadiness(e, channels)
		return up && chOK && cur.Load() != nil, append(lines, chLines...)
	}
	return serveHTTP(wf.metrics, metrics.Handler(reg, ready), log, "metrics")
}

// serveOwnerMetrics is --metrics of the process that owns the database:
// the ledger of each send under way, the fold's lag, the schedule, the
// queues, and the in-process worker's counters when there is one. Ready
// means the database is open and, once a send has brought the Redis
// connection up, Redis answers; before that it is not dialled.
func serveOwnerMetrics(e *env, wf *workerFlags, owned *ownedDB, log *slog.Logger) (func(), error) {
	if wf.metrics == "" {
		return func() {}, nil
	}
	conn := owned.svc.Conn
	client := func() redis.UniversalClient { return connectedClient(conn) }
	reg := metrics.NewRegistry(version)
	reg.MustRegister(
		&metrics.OwnerCollector{Store: owned.st, Client: client,
			Followed: func() ([]store.Campaign, error) { return owned.st.FollowedCampaigns(sending.FollowCancelledFor) }},
		&metrics.QueueCollector{Client: client, Campaigns: func(context.Context, redis.UniversalClient) ([]uint64, error) {
			followed, err := owned.st.FollowedCampaigns(sending.FollowCancelledFor)
			ids := make([]uint64, 0, len(followed))
			for _, c := range followed {
				ids = append(ids, c.ID)
			}
			return ids, err
		}})
	if wf.current != nil {
		reg.MustRegister(&metrics.WorkerCollector{Snapshot: workerSnapshot(wf.current)})
	}
	ready := func(ctx context.Context) (bool, []string) {
		lines := []string{"database: open at " + owned.st.Path()}
		rdb := client()
		if rdb == nil {
			return true, append(lines, "redis: "+conn.Status().Describe())
		}
		ok, line := pingRedis(ctx, rdb, conn.URL())
		return ok, append(lines, line)
	}
	return serveHTTP(wf.metrics, metrics.Handler(reg, ready), log, "metrics")
}
