package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"tui/message"
	"tui/queue"
	"tui/sending"
	"tui/store"
	"tui/worker"
)

// newService builds the send service of a process that owns the database,
// with the unsubscribe links its environment configures.
func newService(e *env, st *store.Store, conn *queue.Conn) (*sending.Service, error) {
	links, err := sending.LinksFromEnv(e.getenv)
	if err != nil {
		return nil, err
	}
	svc := sending.New(st, conn)
	svc.Links = links
	return svc, nil
}

// startUnsubscribeListener serves the one-click unsubscribe links on addr
// (--listen) until ctx ends. The secret comes from TUI_UNSUBSCRIBE_SECRET;
// requests are recorded through conn, dialled when the first one comes if
// it is not yet. The returned function waits for the server to stop.
func startUnsubscribeListener(ctx context.Context, e *env, addr string, conn *queue.Conn, log *slog.Logger) (func(), error) {
	secret := e.getenv("TUI_UNSUBSCRIBE_SECRET")
	if secret == "" {
		return nil, usagef("--listen serves unsubscribe links and needs TUI_UNSUBSCRIBE_SECRET in the environment: the same secret as where tui renders the messages (make one with: openssl rand -hex 32)")
	}
	signer, err := message.NewSigner(secret)
	if err != nil {
		return nil, usagef("TUI_UNSUBSCRIBE_SECRET: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for unsubscribe requests on %s: %w (is something else on that port? choose another with --listen)", addr, err)
	}
	record := func(ctx context.Context, u queue.Unsubscribe) error {
		rdb, err := conn.Client(ctx)
		if err != nil {
			return err
		}
		return queue.RecordUnsubscribe(ctx, rdb, u)
	}
	h := worker.NewUnsubscribeHandler(signer, record, log)
	srv := worker.NewUnsubscribeServer(addr, h)
	log.Info("serving one-click unsubscribe links", "addr", ln.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := worker.Serve(ctx, srv, ln); err != nil && err != http.ErrServerClosed {
			log.Error("the unsubscribe listener stopped", "err", err.Error())
		}
	}()
	return func() { <-done }, nil
}
