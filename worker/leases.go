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
	for id, held := range w.held.byCampaign() {
		// A job found lost at an earlier renewal is not delivered; it is
		// neither renewed nor counted again.
		tasks := make([]*task, 0, len(held))
		ids := make([]string, 0, len(held))
		for _, t := range held {
			if !t.lost.Load() {
				tasks = append(tasks, t)
				ids = append(ids, t.f.EntryID)
			}
		}
		if len(tasks) == 0 {
			continue
		}
		now := time.Now()
		var owned []string
		var taken int
		err := call(5*time.Second, func(ctx context.Context) (err error) {
			owned, taken, err = queue.Renew(ctx, w.rdb, w.cfg.ID, id, ids)
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
		for _, t := range tasks {
			if mine[t.f.EntryID] {
				t.renewedAt.Store(now.UnixNano())
			} else {
				t.lost.Store(true)
			}
		}
		// Only a job another worker holds now was reclaimed: one whose
		// commit crossed this renewal, or whose send ended, is pending no
		// more, and that is no news for the log.
		if taken > 0 {
			w.log.Warn("jobs were reclaimed by other workers while this one held them", "campaign", id, "jobs", taken)
		}
	}
}
