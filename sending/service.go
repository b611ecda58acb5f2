// Package sending is the send service. It joins the store and the queue:
// the preflight of a send, its start, pause, resumption and cancel, test
// sends, and following sends while it folds their outcomes into the ledger
// and publishes them to the hub. The UI and the command line call it; it
// keeps orchestration out of both. (The Campaign type lives in store.)
package sending

import (
	"tui/queue"
	"tui/store"
)

// Service runs sends for one database.
type Service struct {
	Store *store.Store
	Conn  *queue.Conn // dialled only when a send starts
	// Links makes the messages' one-click unsubscribe links; nil when no
	// listener is configured (LinksFromEnv).
	Links *Links

	wake chan struct{} // a send started: Follow stops idling
}

// New builds a service; nothing is dialled.
func New(st *store.Store, conn *queue.Conn) *Service {
	return &Service{Store: st, Conn: conn, wake: make(chan struct{}, 1)}
}

// wakeFollow cuts a Follow's idle wait short: a send just started, and its
// first deliveries should reach the screens at once.
func (s *Service) wakeFollow() {
	if s.wake == nil {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
