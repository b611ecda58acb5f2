package worker

import (
	"context"
	"time"

	"tui/queue"
)

// Test sends: besides the campaigns' queues, a worker reads the test
// streams of the channels it can deliver (queue.EnqueueTests), delivers
// each test job once, at once, outside any rate, and answers on the
// job's reply list. Nothing of a campaign's send is touched.

// testChannelNames are the channels a worker may take tests for.
var testChannelNames = []string{"file", "smtp", "webhook", "messenger"}

// availability is implemented by sources that can tell whether a channel
// could be built without building it (the file channel would create its
// outbox).
type availability interface {
	Available(name string) error
}

// Available reports whether the named channel can be built here, building
// nothing that writes: the file channel only needs an outbox path.
func (cs *Channels) Available(name string) error {
	if name == "file" {
		if cs.OutboxPath() == "" {
			return Permanent("the file channel needs an outbox: pass --outbox PATH to the worker or set TUI_OUTBOX")
		}
		return nil
	}
	_, err := cs.Get(name)
	return err
}

func (w *Worker) testChannels() []string {
	var out []string
	for _, name := range testChannelNames {
		var err error
		if a, ok := w.cfg.Channels.(availability); ok {
			err = a.Available(name)
		} else {
			_, err = w.cfg.Channels.Get(name)
		}
		if err == nil {
			out = append(out, name)
		}
	}
	return out
}

// testLoop serves test sends until ctx ends.
func (w *Worker) testLoop(ctx context.Context) {
	channels := w.testChannels()
	if len(channels) == 0 {
		return
	}
	ready := false
	for attempt := 0; ctx.Err() == nil; {
		var err error
		if !ready {
			err = queue.EnsureTestGroups(ctx, w.rdb, channels)
			ready = err == nil
		}
		var jobs []queue.TestJob
		if err == nil {
			jobs, err = queue.ReadTests(ctx, w.rdb, w.cfg.ID, channels, 8, time.Second)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if queue.IsNoGroup(err) {
				ready = false // Redis lost the group (restarted empty)
			}
			attempt++
			select {
			case <-time.After(queue.Backoff(attempt)):
			case <-ctx.Done():
				return
			}
			continue
		}
		attempt = 0
		for _, tj := range jobs {
			w.deliverTest(tj)
		}
	}
}

// deliverTest delivers one test job and answers it.
func (w *Worker) deliverTest(tj queue.TestJob) {
	res := queue.TestResult{To: tj.Job.To, Worker: w.cfg.ID}
	switch {
	case tj.Err != nil:
		res.Error = "the test job is malformed: " + tj.Err.Error()
	case !tj.Deadline.IsZero() && time.Now().After(tj.Deadline):
		res.Error = "the test came after its sender stopped waiting; nothing was sent"
	default:
		ch, err := w.cfg.Channels.Get(tj.Job.Channel)
		if err == nil {
			ctx, cancel := context.WithCancel(w.hardStop)
			if !tj.Deadline.IsZero() {
				ctx, cancel = context.WithDeadline(w.hardStop, tj.Deadline)
			}
			err = ch.Deliver(ctx, Delivery{Job: tj.Job, Attempt: 1, Worker: w.cfg.ID})
			cancel()
		}
		if err != nil {
			res.Error = Classify(err).Reason
		} else {
			res.OK = true
		}
	}
	if res.OK {
		w.log.Info("test send delivered", "campaign", tj.Job.CampaignID, "channel", tj.Job.Channel)
	} else {
		w.log.Warn("test send failed", "campaign", tj.Job.CampaignID, "channel", tj.Job.Channel, "reason", res.Error)
	}
	for attempt := 1; attempt <= 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := queue.ReplyTest(ctx, w.rdb, tj, res)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(queue.Backoff(attempt))
	}
}
