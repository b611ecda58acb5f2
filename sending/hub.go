package sending

import (
	"context"
	"sync"
)

// Hub runs one Follow for a process and fans its updates out to every
// subscriber (each TUI, each SSH session). A slow subscriber never slows the
// fold: it gets the newest update of each campaign when it reads next.
type Hub struct {
	svc *Service

	mu     sync.Mutex
	subs   map[int]*Subscription
	nextID int
	latest map[uint64]Update
}

// NewHub prepares a hub; Run starts it.
func NewHub(svc *Service) *Hub {
	return &Hub{svc: svc, subs: map[int]*Subscription{}, latest: map[uint64]Update{}}
}

// Run follows sends until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	return h.svc.Follow(ctx, h.publish)
}

func (h *Hub) publish(u Update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev, ok := h.latest[u.Campaign.ID]; ok && u.LastRetry == nil && prev.Send.Round == u.Send.Round {
		// A pane opened later learns why recipients wait for another try.
		u.LastRetry = prev.LastRetry
	}
	h.latest[u.Campaign.ID] = u
	for _, s := range h.subs {
		s.offer(u)
	}
}

// Subscription receives updates. Ready is signalled when something is
// waiting; Take returns it.
type Subscription struct {
	hub   *Hub
	id    int
	ready chan struct{}

	mu      sync.Mutex
	pending map[uint64]Update
	order   []uint64
}

// Subscribe starts receiving updates, beginning with the latest of every
// campaign the hub has seen.
func (h *Hub) Subscribe() *Subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &Subscription{hub: h, id: h.nextID, ready: make(chan struct{}, 1), pending: map[uint64]Update{}}
	h.nextID++
	h.subs[s.id] = s
	for _, u := range h.latest {
		s.offer(u)
	}
	return s
}

func (s *Subscription) offer(u Update) {
	s.mu.Lock()
	if _, ok := s.pending[u.Campaign.ID]; !ok {
		s.order = append(s.order, u.Campaign.ID)
	} else {
		// Keep every failure reported in between: only the numbers coalesce.
		prev := s.pending[u.Campaign.ID]
		u.Failed = append(prev.Failed, u.Failed...)
		if len(u.Failed) > 100 {
			u.Failed = u.Failed[len(u.Failed)-100:]
		}
		if u.LastRetry == nil {
			u.LastRetry = prev.LastRetry
		}
	}
	s.pending[u.Campaign.ID] = u
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Take returns the waiting updates, one per campaign, oldest first.
func (s *Subscription) Take() []Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Update, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.pending[id])
	}
	s.pending, s.order = map[uint64]Update{}, nil
	return out
}

// Next blocks until updates are waiting or ctx ends.
func (s *Subscription) Next(ctx context.Context) ([]Update, error) {
	select {
	case <-s.ready:
		return s.Take(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops the subscription.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	delete(s.hub.subs, s.id)
}
