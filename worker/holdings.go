package worker

import (
	"context"
	"sync"
	"time"

	"tui/queue"
)

// holdings is everything a worker holds between a read and a commit, under
// one lock: the tasks (whose leases are renewed while held), the slots that
// bound how many it holds, the jobs to give back at the next tick, and the
// hand-offs of reclaimed jobs still waiting for room. Each task is in
// tasks from register until its outcome is committed, it is given back,
// or it is dropped; its slot is freed at that moment, and only then.
type holdings struct {
	mu       sync.Mutex
	tasks    map[taskKey]*task
	giveBack map[uint64][]string // entry IDs to give back at the next tick
	// Hand-offs of reclaimed jobs waiting for slots; once closed (shutdown)
	// no new one begins.
	handoffClosed bool
	handoff       sync.WaitGroup

	slots    chan struct{} // a token per job held
	released chan struct{} // a token after slots are freed
}

func newHoldings(slots int) *holdings {
	return &holdings{tasks: map[taskKey]*task{}, giveBack: map[uint64][]string{},
		slots: make(chan struct{}, slots), released: make(chan struct{}, 1)}
}

// add records registered tasks; their slots are already taken.
func (h *holdings) add(tasks []*task) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range tasks {
		h.tasks[t.key()] = t
	}
}

// notHeld returns the jobs of the campaign among fetched that no task held
// here has; the others are dropped (their slots were never taken).
func (h *holdings) notHeld(campaign uint64, fetched []queue.Fetched) []queue.Fetched {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := fetched[:0]
	for _, f := range fetched {
		if _, held := h.tasks[taskKey{campaign, f.EntryID}]; !held {
			out = append(out, f)
		}
	}
	return out
}

// drop forgets a task and frees its slot.
func (h *holdings) drop(t *task) {
	h.mu.Lock()
	delete(h.tasks, t.key())
	h.mu.Unlock()
	h.free(1)
}

// committed forgets the tasks of a committed batch and frees their slots.
func (h *holdings) committed(batch []outcome) {
	h.mu.Lock()
	for i := range batch {
		delete(h.tasks, batch[i].t.key())
	}
	h.mu.Unlock()
	h.free(len(batch))
}

// giveBackLater forgets a task that never started, or whose delivery
// failed for a reason of the worker's own (see parks), queues its entry to
// be given back at the next tick, and frees its slot.
func (h *holdings) giveBackLater(t *task) {
	h.mu.Lock()
	if t.state.CompareAndSwap(taskWaiting, taskReleased) || t.state.CompareAndSwap(taskStarted, taskReleased) {
		id := t.f.CampaignID
		h.giveBack[id] = append(h.giveBack[id], t.f.EntryID)
	}
	delete(h.tasks, t.key())
	h.mu.Unlock()
	h.free(1)
}

// takeGiveBack returns, by campaign, the entries queued to be given back.
func (h *holdings) takeGiveBack() map[uint64][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	pending := h.giveBack
	h.giveBack = map[uint64][]string{}
	return pending
}

// takeUnstarted forgets, at shutdown, every task that never started and
// returns their entries by campaign.
func (h *holdings) takeUnstarted() map[uint64][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	byCampaign := map[uint64][]string{}
	for k, t := range h.tasks {
		if t.state.CompareAndSwap(taskWaiting, taskReleased) {
			byCampaign[t.f.CampaignID] = append(byCampaign[t.f.CampaignID], t.f.EntryID)
			delete(h.tasks, k)
		}
	}
	return byCampaign
}

// byCampaign lists the tasks held with a stream entry, by campaign.
func (h *holdings) byCampaign() map[uint64][]*task {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[uint64][]*task{}
	for _, t := range h.tasks {
		if t.f.EntryID != "" {
			out[t.f.CampaignID] = append(out[t.f.CampaignID], t)
		}
	}
	return out
}

// beginHandoff starts a hand-off of reclaimed jobs; false once shutdown
// closed hand-offs.
func (h *holdings) beginHandoff() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.handoffClosed {
		return false
	}
	h.handoff.Add(1)
	return true
}

func (h *holdings) endHandoff() { h.handoff.Done() }

// closeHandoffs lets no new hand-off begin and waits for those under way.
func (h *holdings) closeHandoffs() {
	h.mu.Lock()
	h.handoffClosed = true
	h.mu.Unlock()
	h.handoff.Wait()
}

// held is how many slots are taken.
func (h *holdings) held() int { return len(h.slots) }

// capacity is how many jobs the worker may hold at most.
func (h *holdings) capacity() int { return cap(h.slots) }

// acquire waits for at least one free slot and takes up to n.
func (h *holdings) acquire(ctx context.Context, n int) int {
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	got := 1
	for got < n {
		select {
		case h.slots <- struct{}{}:
			got++
		default:
			return got
		}
	}
	return got
}

// take takes one slot, waiting for it.
func (h *holdings) take(ctx context.Context) bool {
	select {
	case h.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// takeBefore takes one slot unless wake comes first.
func (h *holdings) takeBefore(wake <-chan time.Time) bool {
	select {
	case h.slots <- struct{}{}:
		return true
	case <-wake:
		return false
	}
}

// free gives n slots back and tells a waiting reader.
func (h *holdings) free(n int) {
	for i := 0; i < n; i++ {
		<-h.slots
	}
	select {
	case h.released <- struct{}{}:
	default:
	}
}
