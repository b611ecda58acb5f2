package worker

import (
	"context"
	"os"
	"time"

	"tui/queue"
)

// heartbeat records, once a second, what the app shows of this worker:
// counts, in flight, stopping, the campaigns it cannot deliver and what
// Redis refuses it. A worker that stops reporting is shown as lost.
func (w *Worker) heartbeat() {
	host, _ := os.Hostname()
	info := queue.WorkerInfo{ID: w.cfg.ID, Host: host, PID: os.Getpid(), Concurrency: w.cfg.Concurrency,
		Started: w.started, LastSeen: time.Now(), Processed: w.processed.Load(), Failed: w.failed.Load(),
		InFlight: w.inFlight.Load(), Stopping: w.stopping.Load(), Cannot: w.cannotReasons(), RedisErr: w.health.lastRefusal(),
		Slowed: w.limiter.slowed(time.Now(), func(id uint64) int { c, _ := w.control(id); return c.Rate })}
	_ = call(2*time.Second, func(ctx context.Context) error { return queue.Heartbeat(ctx, w.rdb, info) })
}

// cannotReasons lists the campaigns this worker leaves to others, for its
// heartbeat.
func (w *Worker) cannotReasons() map[uint64]string {
	var m map[uint64]string
	w.cannot.Range(func(k, v any) bool {
		if m == nil {
			m = map[uint64]string{}
		}
		m[k.(uint64)] = v.(string)
		return true
	})
	return m
}
