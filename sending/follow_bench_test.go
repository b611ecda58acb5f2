package sending

import (
	"context"
	"runtime"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
	"tui/internal/testkit/seed"
	"tui/queue"
	"tui/store"
)

// peakHeap samples the live heap until stop is closed.
func peakHeap(stop <-chan struct{}) *atomic.Uint64 {
	var peak atomic.Uint64
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return &peak
}

// BenchmarkFold1M folds the outcomes of a 1,000,000-recipient send (500
// outcomes per event entry, as workers commit them) and reports the peak
// heap while folding: the ledger must not be held in memory.
func BenchmarkFold1M(b *testing.B) {
	const n = 1_000_000
	srv := redistest.Start(b)
	st, _ := seed.Open(b)
	seed.Contacts(b, st, n, "all")
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		c := create(b, st, store.Campaign{Name: "Fold " + strconv.Itoa(i), Tags: []string{"all"}})
		svc := New(st, newConn(b, srv.URL()))
		if _, err := svc.Start(ctx, "bench", c.ID, 0, nil); err != nil {
			b.Fatal(err)
		}
		rdb.Del(ctx, queue.JobsKey(c.ID))
		at := time.Now().UTC()
		for off := 1; off <= n; off += 500 {
			events := make([]queue.Outcome, 0, 500)
			for k := off; k < off+500 && k <= n; k++ {
				events = append(events, queue.Outcome{Event: queue.Event{Contact: uint64(k), Round: 1, Type: queue.EventDelivered, Attempt: 1, At: at}})
			}
			if err := queue.Commit(ctx, rdb, "bench", c.ID, events, true); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		stop := make(chan struct{})
		peak := peakHeap(stop)
		b.ResetTimer()
		start := time.Now()
		res, err := svc.FoldPending(ctx, rdb, c.ID)
		took := time.Since(start)
		b.StopTimer()
		close(stop)
		if err != nil || res.Send.Counts[store.RecipientSent] != n || !res.Completed {
			b.Fatalf("fold: %v %+v", err, res.Send.Counts)
		}
		b.ReportMetric(float64(n)/took.Seconds(), "events/s")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(before.HeapAlloc)/(1<<20), "heap-before-MB")
	}
}

// BenchmarkFollowLatency measures the time from a worker's commit of an
// outcome to the moment a subscriber of the hub (what every screen listens
// to) has it, at 1,000 and 5,000 outcomes per second.
func BenchmarkFollowLatency(b *testing.B) {
	for _, rate := range []int{1000, 5000} {
		b.Run(strconv.Itoa(rate)+"/s", func(b *testing.B) {
			srv := redistest.Start(b)
			st, _ := seed.Open(b)
			const n = 20_000
			seed.Contacts(b, st, n, "all")
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			defer rdb.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := create(b, st, store.Campaign{Name: "Latency", Tags: []string{"all"}})
			svc := New(st, newConn(b, srv.URL()))
			if _, err := svc.Start(ctx, "bench", c.ID, 0, nil); err != nil {
				b.Fatal(err)
			}
			hub := NewHub(svc)
			go hub.Run(ctx)
			sub := hub.Subscribe()
			defer sub.Close()
			committed := make([]atomic.Int64, n+1) // unix nanos, set before the commit
			seen := make([]time.Duration, 0, n)
			done := make(chan struct{})
			go func() { // the screen's side: record when each count arrives
				defer close(done)
				last := 0
				for last < n {
					ups, err := sub.Next(ctx)
					if err != nil {
						return
					}
					now := time.Now()
					for _, u := range ups {
						sent := u.Send.Counts[store.RecipientSent]
						for k := last + 1; k <= sent; k++ {
							seen = append(seen, now.Sub(time.Unix(0, committed[k].Load())))
						}
						if sent > last {
							last = sent
						}
					}
				}
			}()
			b.ResetTimer()
			// Workers at this rate commit small batches every few milliseconds.
			const perCommit = 5
			interval := time.Second * perCommit / time.Duration(rate)
			next := time.Now()
			for k := 1; k <= n; k += perCommit {
				time.Sleep(time.Until(next))
				next = next.Add(interval)
				outs := make([]queue.Outcome, 0, perCommit)
				for j := k; j < k+perCommit && j <= n; j++ {
					outs = append(outs, queue.Outcome{Event: queue.Event{Contact: uint64(j), Round: 1, Type: queue.EventDelivered, Attempt: 1, At: time.Now()}})
				}
				now := time.Now().UnixNano()
				for j := k; j < k+perCommit && j <= n; j++ {
					committed[j].Store(now)
				}
				if err := queue.Commit(ctx, rdb, "bench", c.ID, outs, true); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				b.Fatal("the hub never caught up")
			}
			b.StopTimer()
			sort.Slice(seen, func(i, j int) bool { return seen[i] < seen[j] })
			b.ReportMetric(float64(seen[len(seen)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(seen[len(seen)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
