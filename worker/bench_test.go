package worker

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/queue"
)

// BenchmarkWorker100k measures, in one run: the ceiling — XREADGROUP COUNT
// 500 + XACK of 100,000 entries with go-redis — and one worker delivering
// 100,000 jobs through the file channel to /dev/null, unlimited and with a
// rate limit far above what it reaches (the limiter's own cost).
func BenchmarkWorker100k(b *testing.B) {
	const n = 100_000
	// As in `tui --headless-worker` unless GOGC is set.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	}
	srv := startBenchRedis(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv, PoolSize: 64})
	defer rdb.Close()
	ctx := context.Background()
	var ceiling, unlimited, limited time.Duration
	campaign := uint64(0)
	for i := 0; i < b.N; i++ {
		rdb.FlushAll(ctx)
		// Ceiling: the same entries, read and acknowledged with nothing else.
		campaign++
		enqueueBench(b, rdb, campaign, n)
		if err := rdb.XGroupCreateMkStream(ctx, queue.JobsKey(campaign), queue.Group, "0").Err(); err != nil {
			b.Fatal(err)
		}
		key := queue.JobsKey(campaign)
		start := time.Now()
		for got := 0; got < n; {
			res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: queue.Group, Consumer: "c", Streams: []string{key, ">"},
				Count: 500, Block: 10 * time.Millisecond}).Result()
			if err != nil {
				b.Fatal(err)
			}
			ids := make([]string, 0, 500)
			for _, m := range res[0].Messages {
				ids = append(ids, m.ID)
			}
			if err := rdb.XAck(ctx, key, queue.Group, ids...).Err(); err != nil {
				b.Fatal(err)
			}
			got += len(ids)
		}
		ceiling += time.Since(start)

		for _, rate := range []int{0, 1_000_000} {
			campaign++
			enqueueBench(b, rdb, campaign, n)
			if err := queue.SetControl(ctx, rdb, campaign, queue.Control{State: queue.StateSending, Rate: rate}); err != nil {
				b.Fatal(err)
			}
			ch := NewChannels(func(string) string { return "" }, "/dev/null")
			w := New(rdb, Config{ID: fmt.Sprintf("bench-%d", campaign), Concurrency: 32, BatchSize: 500, Channels: ch})
			wctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			start := time.Now()
			go func() { w.Run(wctx); close(done) }()
			if err := queue.Activate(ctx, rdb, campaign); err != nil {
				b.Fatal(err)
			}
			for w.Stats().Processed < n {
				time.Sleep(time.Millisecond)
			}
			took := time.Since(start)
			cancel()
			<-done
			ch.Close()
			if rate == 0 {
				unlimited += took
			} else {
				limited += took
			}
		}
	}
	per := func(d time.Duration) float64 { return float64(n) * float64(b.N) / d.Seconds() }
	b.ReportMetric(per(ceiling), "ceiling-jobs/s")
	b.ReportMetric(per(unlimited), "worker-jobs/s")
	b.ReportMetric(ceiling.Seconds()/unlimited.Seconds(), "ratio-vs-ceiling")
	b.ReportMetric(limited.Seconds()/unlimited.Seconds()-1, "limiter-overhead")
}

func enqueueBench(b *testing.B, rdb redis.UniversalClient, campaign uint64, n int) {
	b.Helper()
	ctx := context.Background()
	for off := 1; off <= n; off += 1000 {
		jobs := make([]queue.Job, 0, 1000)
		for i := off; i < off+1000 && i <= n; i++ {
			jobs = append(jobs, queue.Job{CampaignID: campaign, ContactID: uint64(i), Round: 1, To: fmt.Sprintf("c%d@example.com", i),
				Channel: "file", Subject: "Hello there", Body: "A message body of a typical short length for a campaign."})
		}
		if _, _, err := queue.EnqueueBatch(ctx, rdb, jobs); err != nil {
			b.Fatal(err)
		}
	}
}
