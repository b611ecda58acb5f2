package queue

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
)

// Over a span, the limiter grants the span's rate plus the burst: no
// fraction of a token is lost to a partial grant, whoever asks and however
// late. Asking in small batches from several goroutines is what workers do.
func TestTakeTokensGrantsTheRateAskedExactly(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	const rate, burst, batch = 400, 11, 10
	// Fill the bucket, then drain it, so the span starts with none left.
	if _, _, err := TakeTokens(ctx, rdb, 1, rate, burst, burst); err != nil {
		t.Fatal(err)
	}
	results := make(chan int, 3)
	start := time.Now()
	span := 1500 * time.Millisecond
	for g := 0; g < 3; g++ {
		go func() {
			total := 0
			for time.Since(start) < span {
				n, wait, err := TakeTokens(ctx, rdb, 1, rate, burst, batch)
				if err != nil {
					t.Error(err)
					break
				}
				total += n
				if n == 0 {
					if wait <= 0 || wait > time.Second/rate+time.Millisecond {
						t.Errorf("refused with a wait of %s at %d/s", wait, rate)
					}
					time.Sleep(wait)
				}
			}
			results <- total
		}()
	}
	total := 0
	for range 3 {
		total += <-results
	}
	elapsed := time.Since(start)
	// Redis's clock and ours agree on the span's length to within a few
	// milliseconds; the last ask may land a little past the span. Below,
	// 3 % is what a stall of all three askers longer than the burst could
	// cost on a loaded machine; the fractional loss this replaced was 15 %.
	lo := int(float64(rate) * span.Seconds() * 0.97)
	hi := int(float64(rate)*elapsed.Seconds()) + burst + 2
	if total < lo || total > hi {
		t.Fatalf("granted %d over %s at %d/s, want %d…%d", total, elapsed, rate, lo, hi)
	}
}

func TestTakeTokensNeverExceedsTheBurst(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	n, _, err := TakeTokens(ctx, rdb, 2, 10, 3, 100)
	if err != nil || n != 3 {
		t.Fatalf("a fresh bucket granted %d (%v), want the burst of 3", n, err)
	}
	n, wait, err := TakeTokens(ctx, rdb, 2, 10, 3, 100)
	if err != nil || n != 0 || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("an empty bucket granted %d, wait %s (%v); want 0 and at most 100 ms", n, wait, err)
	}
	if n, _, _ := TakeTokens(ctx, rdb, 2, 0, 3, 7); n != 7 {
		t.Fatalf("no limit granted %d of 7", n)
	}
}
