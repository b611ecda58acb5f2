package worker

import (
	"context"
	"strings"
	"sync"
	"time"

	"tui/queue"
)

// recentOutcomes remembers the final outcomes this worker recorded in the
// last seconds. When Redis loses a send (restarted without persistence,
// flushed), the records of those not yet folded into the ledger are lost
// with it; the owner queues again everyone not done, under a new epoch.
// Seeing the new epoch, the worker records its recent outcomes of the old
// one again, so that the ledger learns who did get the message and the
// done-marks stop a second copy.
type recentOutcomes struct {
	mu sync.Mutex
	// chunks hold the ring: filled chunk by chunk up to recentMax entries,
	// then the oldest is overwritten. Chunks, not one growing slice: at
	// full speed, copying the slice as it grew cost a fifth of a worker's
	// CPU.
	chunks [][]recentOutcome
	size   int               // entries held
	next   int               // where the next entry goes once the ring is full
	epochs map[uint64]string // the last epoch seen per campaign, kept when it vanishes
	// epoch is the last epoch added, copied: a job's fields are slices of
	// its whole stream entry, and a ring entry holding one would keep the
	// entry alive for as long as it stays (20 MB at full speed).
	epoch string
}

// recentOutcome is an outcome reduced to what recording it again needs:
// at full speed the ring holds a hundred thousand of them.
type recentOutcome struct {
	campaign  uint64
	contact   uint64
	at        int64 // unix nanos
	epoch     string
	reason    string
	round     int32
	attempt   int32
	typ       queue.EventType
	final     string
	takenOver bool
}

const (
	recentFor   = 10 * time.Second
	recentMax   = 100_000
	recentChunk = 4096
)

// at is the entry at index i of the ring.
func (r *recentOutcomes) at(i int) *recentOutcome { return &r.chunks[i/recentChunk][i%recentChunk] }

// add keeps the final outcomes of a batch just recorded.
func (r *recentOutcomes) add(batch []outcome, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := now.UnixNano()
	for i := range batch {
		o := &batch[i].out
		if o.Final == "" {
			continue
		}
		if o.Job.Epoch != r.epoch {
			r.epoch = strings.Clone(o.Job.Epoch)
		}
		e := recentOutcome{campaign: o.Job.CampaignID, contact: o.Job.ContactID, at: at, epoch: r.epoch,
			reason: o.Event.Reason, round: int32(o.Event.Round), attempt: int32(o.Event.Attempt), typ: o.Event.Type,
			final: o.Final, takenOver: o.Event.TakenOver}
		i := r.size
		if r.size < recentMax {
			r.size++
			if i/recentChunk == len(r.chunks) {
				r.chunks = append(r.chunks, make([]recentOutcome, recentChunk))
			}
		} else {
			i = r.next
			r.next = (r.next + 1) % recentMax
		}
		*r.at(i) = e
	}
}

func (e *recentOutcome) outcome() queue.Outcome {
	at := time.Unix(0, e.at).UTC()
	return queue.Outcome{Job: queue.Job{CampaignID: e.campaign, ContactID: e.contact, Round: int(e.round), Epoch: e.epoch},
		Final: e.final, Event: queue.Event{Contact: e.contact, Round: int(e.round), Type: e.typ, Attempt: int(e.attempt),
			Reason: e.reason, TakenOver: e.takenOver, At: at}}
}

// epochChanged notes the epochs of the live settings and returns the
// campaigns whose epoch this worker had not seen before and, per campaign
// whose epoch changed, the outcomes recorded under the old one.
func (r *recentOutcomes) epochChanged(controls map[uint64]queue.Control) (seen []uint64, lost map[uint64][]queue.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epochs == nil {
		r.epochs = map[uint64]string{}
	}
	for id, c := range controls {
		if c.Epoch == "" {
			continue
		}
		old := r.epochs[id]
		if old == c.Epoch {
			continue
		}
		r.epochs[id] = c.Epoch
		seen = append(seen, id)
		if old == "" {
			continue
		}
		since := time.Now().Add(-recentFor).UnixNano()
		for i := 0; i < r.size; i++ {
			if e := r.at(i); e.campaign == id && e.epoch == old && e.at >= since {
				if lost == nil {
					lost = map[uint64][]queue.Outcome{}
				}
				lost[id] = append(lost[id], e.outcome())
			}
		}
	}
	return seen, lost
}

// takeInEpochs writes the recent outcomes of a send whose queue Redis lost
// (the events for the ledger and the done-marks, without acknowledgements:
// the old entries are gone), then tells the owner, which waits for it
// before queueing the send again, that this worker took the new epoch in.
func (w *Worker) takeInEpochs(controls map[uint64]queue.Control, seen []uint64, lost map[uint64][]queue.Outcome) {
	for _, id := range seen {
		if outs := lost[id]; len(outs) > 0 {
			err := call(5*time.Second, func(ctx context.Context) error {
				return queue.Commit(ctx, w.rdb, w.cfg.ID, id, outs, controls[id].BitmapMarks)
			})
			if err != nil {
				w.log.Warn("could not record again the outcomes Redis lost; those recipients may get a second copy (marked)",
					"campaign", id, "outcomes", len(outs), "err", queue.Explain(err))
				continue
			}
			w.log.Warn("Redis lost this send's queue; recorded again the outcomes of the last seconds",
				"campaign", id, "outcomes", len(outs))
		}
		_ = call(2*time.Second, func(ctx context.Context) error {
			return queue.AckEpoch(ctx, w.rdb, id, w.cfg.ID, controls[id].Epoch)
		})
	}
}
