// Command tui manages messaging campaigns from a terminal: campaigns and
// contacts live in an embedded bbolt file, and Redis is dialled only when a
// send starts. See README.md and the command-line contract in `tui --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"

	tea "charm.land/bubbletea/v2"

	"tui/queue"
	"tui/store"
	"tui/ui"
)

// version is stamped at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

const usageText = `tui — messaging campaigns from the terminal

Usage:
  tui [--db PATH] [--redis URL]            interactive TUI (env TUI_DB, REDIS_URL)
  tui --headless-worker [--concurrency N] [--outbox PATH] [--shutdown-grace 10s] [--lease 30s]
                      [--log-format text|json]
                                           worker only: no UI, no database, logs to stderr
  tui campaign list [--json]
  tui campaign create --name NAME --channel file|smtp|webhook|messenger --body-file FILE
                      [--subject TEXT] [--tag TAG]... [--exclude-tag TAG]... [--rate N]
                      [--from ADDR] [--url URL]
                                           prints the new campaign's ID on stdout
  tui campaign show ID [--json]
  tui campaign send ID                     preflight, then queue every recipient (dials Redis)
  tui campaign resume ID                   finish an interrupted send's queueing
  tui contacts import FILE.csv [--tag TAG]... [--json]
                                           a header row; an email, address or phone column;
                                           every other column is a template variable
  tui contacts list [--json]
  tui --help, tui --version

Global flags (anywhere on the line):
  --db PATH     the database file (default $XDG_DATA_HOME/tui/tui.db; env TUI_DB)
  --redis URL   Redis, dialled only when a send starts (default redis://localhost:6379/0;
                env REDIS_URL). redis:// and rediss:// (TLS) URLs.

Exit codes: 0 success; 1 the operation failed (stderr says why and what to do); 2 bad usage.
`

// usageError is bad input on the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// env is what a command runs with; tests build their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	ctx            context.Context
}

// globals are the flags every command accepts.
type globals struct {
	db    string
	redis string
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.db, "db", g.db, "database file")
	fs.StringVar(&g.redis, "redis", g.redis, "Redis URL, dialled only when a send starts")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, ctx: ctx}
	code := run(e, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code.
func run(e *env, args []string) int {
	err := dispatch(e, args)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(e.stdout, usageText)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "tui: %s\nRun 'tui --help' for usage.\n", ue.msg)
		return 2
	default:
		fmt.Fprintf(e.stderr, "tui: %s\n", err)
		return 1
	}
}

func dispatch(e *env, args []string) error {
	g := &globals{db: e.getenv("TUI_DB"), redis: e.getenv("REDIS_URL")}
	fs := newFlagSet(e, "tui")
	g.register(fs)
	showVersion := fs.Bool("version", false, "print the version")
	headless := fs.Bool("headless-worker", false, "run a worker only: no UI, no database")
	wf := &workerFlags{}
	wf.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	if *showVersion {
		fmt.Fprintf(e.stdout, "tui %s\n", version)
		return nil
	}
	rest := fs.Args()
	if *headless {
		if len(rest) > 0 {
			return usagef("--headless-worker takes no command (got %q)", rest[0])
		}
		return runHeadlessWorker(e, g, wf)
	}
	if len(rest) == 0 {
		return runInteractive(e, g)
	}
	switch rest[0] {
	case "campaign", "campaigns":
		return campaignCmd(e, g, rest[1:])
	case "contacts", "contact":
		return contactsCmd(e, g, rest[1:])
	case "help":
		fmt.Fprint(e.stdout, usageText)
		return nil
	}
	return usagef("unknown command %q", rest[0])
}

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints nothing itself: run prints one clear line.
func newFlagSet(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments ("show 3 --json" and "--json show 3" alike).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// validateRedisURL checks the URL's shape without dialling anything.
func validateRedisURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return usagef("--redis/REDIS_URL %q is not a URL: use redis://[user:password@]host:port/db", queue.RedactURL(raw))
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
	default:
		return usagef("--redis/REDIS_URL %q: the scheme must be redis:// or rediss:// (TLS)", queue.RedactURL(raw))
	}
	return nil
}

// openStore validates the global flags and opens the database.
func openStore(g *globals) (*store.Store, error) {
	if err := validateRedisURL(g.redis); err != nil {
		return nil, err
	}
	path := g.db
	if path == "" {
		p, err := store.DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = home + path[1:]
		}
	}
	return store.Open(path)
}

// actor names who is acting, for the audit log.
func actor() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		return name + "@" + host
	}
	return name
}

func runInteractive(e *env, g *globals) error {
	st, err := openStore(g)
	if err != nil {
		return err
	}
	defer st.Close()
	redisURL := g.redis
	if redisURL == "" {
		redisURL = queue.DefaultURL
	}
	c := ui.NewCommon(st, actor(), queue.IdleStatus(redisURL))
	p := tea.NewProgram(ui.NewApp(c), tea.WithContext(e.ctx))
	if _, err := p.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("run the terminal UI: %w", err)
	}
	return nil
}
