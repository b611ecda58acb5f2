package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// takeTokensScript is a GCRA limiter that grants whole tokens only. The
// theoretical arrival time (TAT) advances by one emission interval per token
// granted, so the tokens handed out over any span are the span's rate plus
// the burst, and never a fraction more or less. (redis_rate's AllowAtMost,
// used before, advanced the TAT by a fractional token count and returned its
// integer part, so each partial grant lost up to a token: 0.85 of the rate
// asked across three workers.)
//
// Times are integer microseconds from Redis's own clock, so workers whose
// clocks differ share one limit.
//
//	KEYS[1] the campaign's rate key
//	ARGV[1] emission interval (µs per token)   ARGV[2] burst (tokens)
//	ARGV[3] tokens wanted
//	returns {granted, µs until the next token when none was granted}
var takeTokensScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local avail = math.floor((now + burst * interval - tat) / interval)
if avail < 1 then
  return {0, tat + interval - burst * interval - now}
end
local n = math.min(avail, want)
tat = tat + n * interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
return {n, 0}
`)

// TakeTokens takes up to want tokens of a campaign's shared rate limit of
// rate per second with the given burst. It returns how many it got and,
// when none, how long until the next one is due.
func TakeTokens(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, rate, burst, want int) (int, time.Duration, error) {
	if rate <= 0 || want <= 0 {
		return want, 0, nil
	}
	interval := max(int64(time.Second/time.Microsecond)/int64(rate), 1)
	res, err := takeTokensScript.Run(ctx, rdb, []string{RateKey(campaignID)}, interval, max(burst, 1), want).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("take tokens of campaign %d's rate: %w", campaignID, err)
	}
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("take tokens of campaign %d's rate: unexpected reply %v", campaignID, res)
	}
	return int(res[0]), time.Duration(res[1]) * time.Microsecond, nil
}
