package worker

import (
	"fmt"
	"sync"
)

// A failure that means this worker cannot deliver on a channel at all (a
// revoked token, a failed login, an untrusted certificate) is the worker's
// problem, not the recipients': the worker stops reading the campaign and
// gives the job back, as it does when a channel's settings are missing
// (cannotDeliver), and a worker without the fault delivers it. Failing the
// recipients instead would burn the whole audience on one misconfigured
// worker.

// unclearRun is how many recipients in a row, with no delivery between,
// may fail with errors that could be the sender's (ScopeUnclear) before the
// worker stops reading the campaign: one person's odd error never stops a
// send, and a fault of the sender fails no more than a few.
const unclearRun = 5

// unclearRuns counts, by campaign, the recipients of the current run of
// unclear failures. Ending a run that does not exist, as every successful
// delivery does, takes no lock.
type unclearRuns struct {
	mu   sync.Mutex
	byID sync.Map // campaign (uint64) → map[uint64]bool of contacts, guarded by mu
}

// add puts a contact into the campaign's run and returns the run's length.
func (r *unclearRuns) add(campaign, contact uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, _ := r.byID.LoadOrStore(campaign, map[uint64]bool{})
	run := v.(map[uint64]bool)
	run[contact] = true
	return len(run)
}

// end ends the campaign's run: something was delivered, or a failure
// plainly concerned its recipient.
func (r *unclearRuns) end(campaign uint64) {
	if _, ok := r.byID.Load(campaign); !ok {
		return
	}
	r.mu.Lock()
	r.byID.Delete(campaign)
	r.mu.Unlock()
}

// parks decides whether a failed delivery stops this worker reading the
// campaign; when it does, the job has been given back and has no outcome.
func (w *Worker) parks(t *task, de *DeliveryError) bool {
	id := t.f.CampaignID
	switch {
	case de.Transient:
		return false
	case de.Scope == ScopeSender:
		w.unclear.end(id)
		w.cannotDeliver(t, de.Reason)
		return true
	case de.Scope == ScopeUnclear:
		n := w.unclear.add(id, t.f.Job.ContactID)
		if n < unclearRun {
			return false
		}
		w.cannotDeliver(t, fmt.Sprintf("%d recipients in a row failed with an error that may be this worker's (%s); once it is fixed, `tui campaign retry-failed %d` sends to those that failed",
			n, de.Reason, id))
		return true
	}
	w.unclear.end(id)
	return false
}

// parked reports whether this worker has stopped reading the campaign.
func (w *Worker) parked(campaign uint64) bool {
	if w.parkedCount.Load() == 0 {
		return false
	}
	_, ok := w.cannot.Load(campaign)
	return ok
}
