// Package sending is the send service. It joins the store and the queue:
// the preflight of a send, its start, pause, resumption and cancel, test
// sends, and following sends while it folds their outcomes into the ledger
// and publishes them to the hub. The UI and the command line call it; it
// keeps orchestration out of both. (The Campaign type lives in store.)
package sending

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"

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

	identMu sync.Mutex
	ident   store.Identity // this database's, once read
}

// identity is this database's identity, which names the owner of its
// sends' keys in Redis.
func (s *Service) identity() (store.Identity, error) {
	s.identMu.Lock()
	defer s.identMu.Unlock()
	if s.ident.ID == "" {
		id, err := s.Store.Identity()
		if err != nil {
			return store.Identity{}, fmt.Errorf("read the database's identity: %w", err)
		}
		s.ident = id
	}
	return s.ident, nil
}

// setControl writes a campaign's live settings as this database's: it
// fails with a *queue.ForeignSendError, writing nothing, when the keys in
// Redis are another database's send.
func (s *Service) setControl(ctx context.Context, rdb redis.UniversalClient, id uint64, ctl queue.Control) error {
	ident, err := s.identity()
	if err != nil {
		return err
	}
	ctl.Owner, ctl.OwnerName = ident.ID, ident.Name
	return queue.SetControl(ctx, rdb, id, ctl)
}

// checkOwner fails with a *queue.ForeignSendError when the campaign's keys
// in Redis are another database's send: a start or retry then changes
// nothing, and a fold reads none of its events.
func (s *Service) checkOwner(ctx context.Context, rdb redis.UniversalClient, id uint64) error {
	ident, err := s.identity()
	if err != nil {
		return err
	}
	return queue.CheckOwner(ctx, rdb, id, ident.ID)
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
