package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"tui/sending"
	"tui/store"
	"tui/ui"
)

// ownerHooks are how the owner's background work reaches people: its log,
// and the screens when there are any.
type ownerHooks struct {
	log *slog.Logger
	// changed says that stored data changed outside the screens: they
	// reload.
	changed func(what ui.DataKind)
	// flash shows one line on the screens.
	flash func(text string, isErr bool)
}

// startOwnerLoops runs what every process that owns a database runs beside its
// screens, until the returned stop: the command-line socket (other
// processes' commands run here), the schedule (scheduled campaigns start
// here) and the unsubscribes (folded into the suppression list). A socket that cannot be made is logged, not fatal: the app
// still works, and other commands get "database is in use" as before.
func startOwnerLoops(ctx context.Context, owned *ownedDB, h ownerHooks) (stop func()) {
	if h.changed == nil {
		h.changed = func(ui.DataKind) {}
	}
	if h.flash == nil {
		h.flash = func(string, bool) {}
	}
	srv, err := listenOwner(ctx, owned, h.log, func() { h.changed(ui.AllData) })
	if err != nil {
		h.log.Warn("other tui commands cannot use this database while this process runs", "err", err.Error())
	} else {
		h.log.Info("serving the command line for this database", "socket", srv.path)
	}
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		owned.svc.WatchUnsubscribes(sctx, sending.UnsubscribeFoldEvery, func(added []store.Suppression) {
			h.log.Info("unsubscribes folded into the suppression list", "added", len(added))
			h.changed(ui.SuppressionData)
		})
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		owned.svc.RunSchedule(sctx, func(ev sending.ScheduleEvent) {
			attrs := []any{"campaign", ev.Campaign.ID, "name", ev.Campaign.Name, "scheduled_for", sending.ScheduleText(ev.Campaign.Schedule)}
			switch {
			case ev.Err != nil:
				h.log.Error("a scheduled send did not start; the campaign stays scheduled, nothing was sent", append(attrs, "err", ev.Err.Error())...)
			case ev.Late > 0:
				h.log.Warn("started a scheduled send late: no tui owned the database at its time", append(attrs, "late", ev.Late.Round(1e9).String(), "recipients", ev.Result.Total)...)
			default:
				h.log.Info("started a scheduled send", append(attrs, "recipients", ev.Result.Total)...)
			}
			h.changed(ui.CampaignData)
			h.flash(ev.Message(), ev.Err != nil)
		})
	}()
	return func() {
		if srv != nil {
			srv.Close()
		}
		cancel()
		wg.Wait()
	}
}

// runServe is `tui serve`: the owner of the database without a screen, for
// servers. It serves other processes' commands through the socket beside
// the database, starts scheduled campaigns at their time, follows sends
// (folding their outcomes into the ledger), and with --worker delivers
// too. It logs to stderr and stops cleanly on SIGINT or SIGTERM.
func runServe(e *env, g *globals, wf *workerFlags, withWorker bool) error {
	if err := wf.validate(); err != nil {
		return err
	}
	log := wf.logger(e.stderr)
	o, err := openOwner(e, g, wf, ownerSetup{log: log, worker: withWorker, workerLog: serverWorkerLog(log), reopenOnHUP: true})
	if err != nil {
		return err
	}
	defer o.Close()
	log.Info("serving the database", "db", o.st.Path(), "redis", o.conn.URL(), "worker", withWorker)
	o.Start(e.ctx, ownerHooks{})
	<-e.ctx.Done()
	log.Info("stopping: finishing the commands under way")
	o.Stop()
	if err := o.st.Close(); err != nil {
		return fmt.Errorf("close the database: %w", err)
	}
	log.Info("stopped; the database is closed")
	return nil
}
