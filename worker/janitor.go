package worker

import (
	"context"
	"time"

	"tui/queue"
)

// tidy is the janitor's duty, four times a second: due retries back into
// their streams, acknowledged jobs out of them, jobs given back returned.
func (w *Worker) tidy() {
	w.promoteDue(time.Now())
	w.trimAcked()
	w.flushGiveBack()
}

func (w *Worker) promoteDue(now time.Time) {
	for _, id := range w.sendingCampaigns() {
		err := call(2*time.Second, func(ctx context.Context) error {
			_, err := queue.PromoteDue(ctx, w.rdb, id, now, 500)
			return err
		})
		if err != nil {
			w.fail(err)
			return
		}
	}
}

// trimAcked lets the job streams shrink as jobs are acknowledged (commits
// only acknowledge; see queue.TrimAcked).
func (w *Worker) trimAcked() {
	for id := range *w.controls.Load() {
		err := call(2*time.Second, func(ctx context.Context) error {
			_, err := queue.TrimAcked(ctx, w.rdb, id)
			return err
		})
		if err != nil {
			w.fail(err)
			return
		}
	}
}
