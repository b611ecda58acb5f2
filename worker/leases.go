package worker

import (
	"context"
	"time"

	"tui/queue"
)

// renewLeases keeps every job this worker holds from being reclaimed, and
// learns which ones were reclaimed anyway (the worker was stopped or cut
// off for longer than the lease): those are not delivered. It runs every
// third of the lease, on its own, so that nothing else delays it.
func (w *Worker) renewLeases() {
	for id, tasks := range w.held.byCampaign() {
		ids := make([]string, len(tasks))
		for i, t := range tasks {
			ids[i] = t.f.EntryID
		}
		now := time.Now()
		var owned []string
		err := call(5*time.Second, func(ctx context.Context) (err error) {
			owned, err = queue.Renew(ctx, w.rdb, w.cfg.ID, id, ids)
			return err
		})
		if err != nil {
			w.fail(err)
			continue
		}
		mine := make(map[string]bool, len(owned))
		for _, o := range owned {
			mine[o] = true
		}
		lost := 0
		for _, t := range tasks {
			if mine[t.f.EntryID] {
				t.renewedAt.Store(now.UnixNano())
			} else if !t.lost.Load() {
				t.lost.Store(true)
				lost++
			}
		}
		if lost > 0 {
			w.log.Warn("jobs were reclaimed by other workers while this one held them", "campaign", id, "jobs", lost)
		}
	}
}
