// Package campaign joins the store and the queue: the preflight of a send,
// its start and its resumption. The UI and the command line call it; it
// keeps orchestration out of both.
package campaign

import (
	"tui/queue"
	"tui/store"
)

// Service runs sends for one database.
type Service struct {
	Store *store.Store
	Conn  *queue.Conn // dialled only when a send starts
}

// New builds a service; nothing is dialled.
func New(st *store.Store, conn *queue.Conn) *Service { return &Service{Store: st, Conn: conn} }
