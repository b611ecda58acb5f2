package campaign

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/queue"
	"tui/store"
)

// FollowCancelledFor is how long a cancelled send's late events (deliveries
// that were under way) are still folded.
const FollowCancelledFor = time.Minute

// Follow folds the events of every sending campaign as they arrive and
// reports each change through onUpdate, until ctx ends. It looks at the
// database every idle second and dials Redis only while some campaign is
// sending or paused. Redis trouble never ends it: it waits and retries,
// while the connection's state says what is happening.
func (s *Service) Follow(ctx context.Context, onUpdate func(Update)) error {
	var lastWorkers time.Time
	var workers []queue.WorkerInfo
	attempt := 0
	for ctx.Err() == nil {
		sending, err := s.Store.FollowedCampaigns(FollowCancelledFor)
		if err != nil {
			return err
		}
		if len(sending) == 0 {
			t := time.NewTimer(time.Second)
			select {
			case <-t.C:
			case <-s.wake:
				t.Stop()
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		rdb, err := s.Conn.Client(ctx)
		if err != nil {
			attempt++
			if !sleep(ctx, queue.Backoff(attempt)) {
				break
			}
			continue
		}
		if time.Since(lastWorkers) >= time.Second {
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if ws, err := queue.Workers(wctx, rdb); err == nil {
				workers = ws
			}
			cancel()
			lastWorkers = time.Now()
			for _, c := range sending {
				// A fold with no events refreshes the numbers and finishes a
				// send whose last events were folded before its enqueue ended.
				res, err := s.FoldPending(ctx, rdb, c.ID)
				if err == nil {
					onUpdate(Update{Campaign: res.Campaign, Send: res.Send, Failed: res.Failed, Workers: workers, At: time.Now()})
				}
			}
		}
		if err := s.followOnce(ctx, rdb, sending, workers, onUpdate); err != nil {
			if ctx.Err() != nil {
				break
			}
			attempt++
			if !sleep(ctx, queue.Backoff(attempt)) {
				break
			}
			continue
		}
		attempt = 0
	}
	return nil
}

// followOnce waits up to a quarter second for new events of the given
// campaigns and folds whatever arrives.
func (s *Service) followOnce(ctx context.Context, rdb redis.UniversalClient, sending []store.Campaign, workers []queue.WorkerInfo, onUpdate func(Update)) error {
	streams := make([]string, 0, 2*len(sending))
	ids := make([]uint64, 0, len(sending))
	cursors := make([]string, 0, len(sending))
	for _, c := range sending {
		st, err := s.Store.SendState(c.ID)
		if err != nil {
			continue
		}
		cur := st.EventCursor
		if cur == "" {
			cur = "0"
		}
		ids = append(ids, c.ID)
		streams = append(streams, queue.EventsKey(c.ID))
		cursors = append(cursors, cur)
	}
	if len(ids) == 0 {
		sleep(ctx, 250*time.Millisecond)
		return nil
	}
	streams = append(streams, cursors...)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	res, err := rdb.XRead(rctx, &redis.XReadArgs{Streams: streams, Count: foldBatch, Block: 250 * time.Millisecond}).Result()
	cancel()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, stream := range res {
		for i, id := range ids {
			if queue.EventsKey(id) != stream.Stream || len(stream.Messages) == 0 {
				continue
			}
			fr, err := s.fold(ctx, rdb, ids[i], stream.Messages)
			if err != nil {
				return err
			}
			onUpdate(Update{Campaign: fr.Campaign, Send: fr.Send, Failed: fr.Failed, Workers: workers, At: time.Now()})
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
