package worker

import (
	"context"
	"slices"
	"strconv"
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
	// epoch is the last epoch added, and its number; a job's fields are
	// slices of its whole stream entry, and holding one would keep the
	// entry alive for as long as it stays in the ring.
	epoch    string
	epochNum int64
	// odd holds, by ring index, what an entry cannot say in numbers: a
	// reason, an epoch that is not one of NewEpoch's numbers, an event
	// type or outcome outside the usual ones.
	odd map[int]oddOutcome
}

// recentOutcome is an outcome reduced to what recording it again needs,
// without a pointer: at full speed the ring holds a hundred thousand of
// them (5 MB; 10 MB with the strings, which the garbage collector had to
// scan, and whose larger heap cost a fresh worker a tenth more CPU in page
// faults).
type recentOutcome struct {
	campaign  uint64
	contact   uint64
	at        int64 // unix nanos
	epoch     int64 // its number (queue.NewEpoch), 0 for none
	round     int32
	attempt   int32
	typ       uint8 // index in recentTypes
	final     uint8 // queue.MarkCode
	takenOver bool
	odd       bool // the rest is in recentOutcomes.odd
}

type oddOutcome struct {
	epoch  string
	reason string
	typ    queue.EventType
	final  string
}

// The event types an entry names by index.
var recentTypes = []queue.EventType{"", queue.EventDelivered, queue.EventFailed, queue.EventSkipped}

const (
	recentFor   = 10 * time.Second
	recentMax   = 100_000
	recentChunk = 4096
)

// at is the entry at index i of the ring.
func (r *recentOutcomes) at(i int) *recentOutcome { return &r.chunks[i/recentChunk][i%recentChunk] }

// epochNumber is an epoch's number, if it is one as NewEpoch writes it.
func epochNumber(epoch string) (int64, bool) {
	if epoch == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(epoch, 36, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 36) != epoch {
		return 0, false
	}
	return n, true
}

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
			if n, ok := epochNumber(r.epoch); ok {
				r.epochNum = n
			} else {
				r.epochNum = -1
			}
		}
		e := recentOutcome{campaign: o.Job.CampaignID, contact: o.Job.ContactID, at: at, epoch: r.epochNum,
			round: int32(o.Event.Round), attempt: int32(o.Event.Attempt), takenOver: o.Event.TakenOver,
			typ: uint8(max(0, slices.Index(recentTypes, o.Event.Type))), final: uint8(queue.MarkCode(o.Final))}
		e.odd = o.Event.Reason != "" || r.epochNum < 0 || e.typ == 0 || e.final == 0
		i := r.size
		if r.size < recentMax {
			r.size++
			if i/recentChunk == len(r.chunks) {
				r.chunks = append(r.chunks, make([]recentOutcome, recentChunk))
			}
		} else {
			i = r.next
			r.next = (r.next + 1) % recentMax
			if r.at(i).odd {
				delete(r.odd, i)
			}
		}
		*r.at(i) = e
		if e.odd {
			if r.odd == nil {
				r.odd = map[int]oddOutcome{}
			}
			r.odd[i] = oddOutcome{epoch: r.epoch, reason: strings.Clone(o.Event.Reason), typ: o.Event.Type, final: o.Final}
		}
	}
}

// outcome is the entry at index i as an outcome to record again.
func (r *recentOutcomes) outcome(i int) queue.Outcome {
	e := r.at(i)
	epoch, typ, final, reason := "", recentTypes[e.typ], queue.MarkName(int64(e.final)), ""
	if e.epoch > 0 {
		epoch = strconv.FormatInt(e.epoch, 36)
	}
	if e.odd {
		o := r.odd[i]
		epoch, typ, final, reason = o.epoch, o.typ, o.final, o.reason
	}
	at := time.Unix(0, e.at).UTC()
	return queue.Outcome{Job: queue.Job{CampaignID: e.campaign, ContactID: e.contact, Round: int(e.round), Epoch: epoch},
		Final: final, Event: queue.Event{Contact: e.contact, Round: int(e.round), Type: typ, Attempt: int(e.attempt),
			Reason: reason, TakenOver: e.takenOver, At: at}}
}

// epochOf is the epoch of the entry at index i.
func (r *recentOutcomes) epochOf(i int) string {
	e := r.at(i)
	if e.odd {
		return r.odd[i].epoch
	}
	if e.epoch > 0 {
		return strconv.FormatInt(e.epoch, 36)
	}
	return ""
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
			if e := r.at(i); e.campaign == id && e.at >= since && r.epochOf(i) == old {
				if lost == nil {
					lost = map[uint64][]queue.Outcome{}
				}
				lost[id] = append(lost[id], r.outcome(i))
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
