package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"tui/queue"
	"tui/ui"
	"tui/worker"
)

// sshFlags are the flags of `tui --ssh ADDR`.
type sshFlags struct {
	fs             *flag.FlagSet
	addr           string
	authorizedKeys string
	hostKey        string
	idle           time.Duration
	maxSessions    int
}

func (f *sshFlags) register(fs *flag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.addr, "ssh", "", "serve the TUI over SSH on ADDR (host:port or a port)")
	fs.StringVar(&f.authorizedKeys, "authorized-keys", "", "public keys that may connect (default $XDG_CONFIG_HOME/tui/authorized_keys)")
	fs.StringVar(&f.hostKey, "host-key", "", "the server's SSH host key, made on first start (default beside the database)")
	fs.DurationVar(&f.idle, "idle-timeout", 30*time.Minute, "end SSH sessions without input for this long (0: never)")
	fs.IntVar(&f.maxSessions, "max-sessions", 50, "SSH sessions open at once (0: no cap)")
}

// requested reports whether any SSH flag is on the command line.
func (f *sshFlags) requested() bool {
	set := false
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "ssh", "authorized-keys", "host-key", "idle-timeout", "max-sessions":
			set = true
		}
	})
	return set
}

// listenAddr accepts "2222" as ":2222", as people type it.
func (f *sshFlags) listenAddr() string {
	if _, err := strconv.Atoi(f.addr); err == nil {
		return ":" + f.addr
	}
	return f.addr
}

// defaultAuthorizedKeys is $XDG_CONFIG_HOME/tui/authorized_keys, or
// ~/.config/tui/authorized_keys.
func defaultAuthorizedKeys(e *env) (string, error) {
	dir := e.getenv("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the config directory: %w (set --authorized-keys)", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "tui", "authorized_keys"), nil
}

// runSSH is `tui --ssh ADDR`: this process owns the database and serves
// the TUI to every SSH session, with one Redis connection, one send
// service and one hub for all of them (and with --worker, one worker).
// SIGINT or SIGTERM stops accepting, ends the sessions, and closes the
// store; that is a clean exit.
func runSSH(e *env, g *globals, wf *workerFlags, sf *sshFlags, withWorker, headless bool, rest []string) error {
	switch {
	case sf.addr == "":
		return usagef("--authorized-keys, --host-key, --idle-timeout and --max-sessions go with --ssh ADDR")
	case headless:
		return usagef("--ssh and --headless-worker exclude each other: --ssh serves the TUI (add --worker for a worker in the same process)")
	case len(rest) > 0:
		return usagef("--ssh serves the TUI and takes no command (got %q)", rest[0])
	case sf.idle < 0:
		return usagef("--idle-timeout must be 0 (never) or a positive duration such as 30m")
	case sf.maxSessions < 0:
		return usagef("--max-sessions must be 0 (no cap) or more")
	}
	if err := wf.validate(); err != nil {
		return err
	}
	log := wf.logger(e.stderr)
	authorized := sf.authorizedKeys
	if authorized == "" {
		p, err := defaultAuthorizedKeys(e)
		if err != nil {
			return err
		}
		authorized = p
	}
	o, err := openOwner(e, g, wf, ownerSetup{log: log, worker: withWorker, workerLog: serverWorkerLog(log), reopenOnHUP: true})
	if err != nil {
		return err
	}
	defer o.Close()
	hostKey := sf.hostKey
	if hostKey == "" {
		hostKey = filepath.Join(filepath.Dir(o.st.Path()), ui.HostKeyFileName)
	}
	srv, err := ui.NewSSHServer(ui.SSHConfig{
		Store: o.st, Sends: o.svc, Hub: o.hub, Conn: o.conn, Worker: o.lw,
		HostKeyPath: hostKey, AuthorizedKeysPath: authorized,
		IdleTimeout: sf.idle, MaxSessions: sf.maxSessions,
		Logger: log,
	})
	if err != nil {
		return err
	}
	addr := sf.listenAddr()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for SSH on %s: %w (is something else on that port? choose another with --ssh)", addr, err)
	}

	log.Info("serving tui over SSH", "addr", ln.Addr().String(), "db", o.st.Path(),
		"host_key", hostKey, "host_key_fingerprint", srv.HostKeyFingerprint(),
		"authorized_keys", authorized, "idle_timeout", sf.idle.String(), "max_sessions", sf.maxSessions,
		"worker", withWorker)
	o.Start(e.ctx, ownerHooks{changed: srv.NotifyAll})
	serveErr := srv.Serve(e.ctx, ln)
	o.Stop()
	if serveErr != nil && !errors.Is(serveErr, context.Canceled) {
		return serveErr
	}
	if err := o.st.Close(); err != nil {
		return fmt.Errorf("close the database: %w", err)
	}
	log.Info("stopped; the database is closed")
	return nil
}

// serverWorkerLog is the log of the in-process worker of `tui --ssh
// --worker` and `tui serve --worker`. That worker is the server's, not a
// session's: it starts once a send has brought the Redis connection up and
// stops only with the server. It logs on the server's stderr, where no
// screen is drawn.
func serverWorkerLog(log *slog.Logger) *slog.Logger { return log.With("component", "worker") }

// newLocalWorker is a worker inside this process (--worker) that starts
// only once the Redis connection is up — a send brought it up — so that it
// never dials by itself.
func newLocalWorker(e *env, conn *queue.Conn, wf *workerFlags, log *slog.Logger, defaultOutbox string) *ui.LocalWorker {
	return ui.NewLocalWorker(conn, wf.concurrency, wf.grace, func(ctx context.Context) (ui.WorkerProcess, error) {
		rdb, err := conn.Client(ctx)
		if err != nil {
			return ui.WorkerProcess{}, err
		}
		cfg := wf.config(e, log, defaultOutbox)
		channels := cfg.Channels.(*worker.Channels)
		w := worker.New(rdb, cfg)
		if wf.current != nil {
			wf.current.Store(w)
		}
		return ui.WorkerProcess{
			Run: func(ctx context.Context) error {
				defer channels.Close()
				return w.Run(ctx)
			},
			InFlight:  func() int64 { return w.Stats().InFlight },
			Processed: func() int64 { return w.Stats().Processed },
		}, nil
	})
}
