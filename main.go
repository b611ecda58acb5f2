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
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"os/user"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"

	"tui/internal/english"
	"tui/internal/termsafe"
	"tui/queue"
	"tui/sending"
	"tui/store"
	"tui/ui"
)

// version is stamped at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

const usageText = `tui — messaging campaigns from the terminal

Usage:
  tui [--db PATH] [--redis URL]            interactive TUI (env TUI_DB, REDIS_URL)
  tui --worker [--concurrency N] [--outbox PATH] [--shutdown-grace 10s] [--lease 30s]
                                           the TUI plus an in-process worker (starts with a send)
  tui --headless-worker [--concurrency N] [--outbox PATH] [--shutdown-grace 10s] [--lease 30s]
                      [--log-format text|json] [--metrics ADDR] [--listen ADDR]
                                           worker only: no UI, no database, logs to stderr;
                                           --metrics serves /metrics, /healthz and /readyz;
                                           --listen serves one-click unsubscribe links
                                           (env TUI_UNSUBSCRIBE_SECRET)
  tui serve [--worker] [--metrics ADDR]    own the database without a screen, for servers:
                                           serves other tui commands, starts scheduled
                                           sends, follows sends; logs to stderr
  tui --ssh ADDR [--authorized-keys FILE] [--host-key FILE] [--idle-timeout 30m]
                 [--max-sessions 50] [--worker] [--metrics ADDR]
                                           serve the TUI over SSH to many people (public keys
                                           only); this process owns the database; logs to stderr
  tui campaign list [--json]
  tui campaign create --name NAME --channel file|smtp|webhook|messenger --body-file FILE
                      [--subject TEXT] [--tag TAG]... [--exclude-tag TAG]... [--rate N]
                      [--from ADDR] [--url URL] [--max-attempts N] [--format text|markdown|html]
                      [--messaging-type UPDATE|RESPONSE|MESSAGE_TAG] [--message-tag TAG]
                                           prints the new campaign's ID on stdout
  tui campaign edit ID [the flags of create]
                                           change the fields named (draft or scheduled only)
  tui campaign duplicate ID                a new draft of its message and audience,
                                           to send it again; prints the new ID
  tui campaign show ID [--json]
  tui campaign send ID [--wait]            preflight, then queue every recipient (dials Redis);
                                           --wait follows it, exit 0 only if all were sent
  tui campaign status ID [--json]          the send's numbers and workers
  tui campaign pause|resume|cancel|retry-failed ID [--force]
                                           cancel --force: when Redis is gone for good,
                                           the cancel goes in the ledger alone
  tui campaign set-rate ID N               messages per second (0: no limit), also while sending
  tui campaign export ID FILE.csv          the ledger as CSV (- for stdout)
  tui campaign test ID --to ADDR[,ADDR] [--contact ADDR|ID] [--timeout 45s]
                                           render for one contact and deliver once to these
                                           addresses through a running worker; ledger untouched
  tui campaign schedule ID --at TIME [--tz ZONE]
                                           start it at TIME (2026-12-24T09:00) in ZONE
                                           (Europe/Paris; default TZ or this machine's)
  tui campaign unschedule ID               back to draft
  tui contacts import FILE.csv [--tag TAG]... [--address-column COLUMN=KIND]... [--json]
                                           a header row; an email, address, phone or psid
                                           column (or those named, KIND email, phone, psid or
                                           auto); a tags column holds each row's tags;
                                           every other column is a template variable
  tui contacts list [--json]
  tui db check                             check every page and record of the database
  tui db backup FILE                       a consistent copy of the database, checked
  tui db compact                           rewrite the database without its free pages
  tui --help, tui --version               tui COMMAND --help shows that command alone

Global flags (anywhere on the line):
  --db PATH     the database file (default $XDG_DATA_HOME/tui/tui.db; env TUI_DB)
  --redis URL   Redis, dialled only when a send starts (default redis://localhost:6379/0;
                env REDIS_URL). redis:// and rediss:// (TLS) URLs.
  --outbox PATH where workers append file-channel deliveries (env TUI_OUTBOX; default
                outbox.jsonl beside the database, or in $XDG_DATA_HOME/tui for
                --headless-worker)

Exit codes: 0 success; 1 the operation failed (stderr says why and what to do); 2 bad usage.
`

// usageError is bad input on the command line: exit code 2.
// usageError is a command line that cannot be run as given; command names
// the command whose usage helps, "" for the general one.
type usageError struct{ msg, command string }

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

	// stdio are the standard streams as files, when they are: a command
	// that finds the database held passes them to its owner.
	stdio [3]*os.File
	// args is the command line, as the owner is to run it.
	args []string
	// who acts, for the audit log: this process's user unless the owner
	// runs the command for another process (its peer's user).
	who string
	// owned is set when the owner of the database runs the command: it
	// uses the owner's open database instead of opening the file.
	owned *ownedDB
	// files opens the files the command names: this process's, or the
	// calling process's when served.
	files fileOps
}

// newEnv is the environment of a command on these streams. main and the
// owner's socket (for another process's command) build theirs here.
func newEnv(ctx context.Context, stdin, stdout, stderr *os.File, getenv func(string) string) *env {
	return &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, ctx: ctx,
		stdio: [3]*os.File{stdin, stdout, stderr}}
}

// actor names who runs this command, for the audit log.
func (e *env) actor() string {
	if e.who != "" {
		return e.who
	}
	return actor()
}

// fs opens the files the command names.
func (e *env) fs() fileOps {
	if e.files != nil {
		return e.files
	}
	return localFiles{}
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
	e := newEnv(ctx, os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stopCPU := profileCPU(os.Getenv("TUI_CPUPROFILE"))
	stopAllocs := profileAllocs(os.Getenv("TUI_MEMPROFILE"))
	code := run(e, os.Args[1:])
	stopCPU()
	stopAllocs()
	stop()
	os.Exit(code)
}

// noticeInterrupt says on stderr, as soon as a signal comes, that a long
// command is stopping: it stops at its next check, which a listing blocked
// on a full pipe reaches only once the reader reads on.
func noticeInterrupt(e *env) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-e.ctx.Done():
			fmt.Fprintln(e.stderr, "tui: interrupted; stopping…")
		case <-done:
		}
	}()
	// The watcher is gone when the command returns: main cancels the
	// context on its way out, which is no signal.
	return func() { close(done); <-finished }
}

// profileCPU writes a CPU profile of the whole process to path (with the
// process ID appended, so that a worker and a send measured together keep
// theirs apart) until the returned stop; "" profiles nothing. For
// measuring the processes people run: `go tool pprof tui PATH.PID`.
func profileCPU(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "tui: TUI_CPUPROFILE: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		fmt.Fprintf(os.Stderr, "tui: TUI_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// profileAllocs records, as profileCPU does, where the process allocates:
// at the returned stop it writes the allocations profile (bytes and objects
// allocated since the start, sampled every 16 KiB) to path with the process
// ID appended; "" records nothing. `go tool pprof -sample_index=alloc_space
// tui PATH.PID`.
func profileAllocs(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	runtime.MemProfileRate = 16 << 10
	return func() {
		f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
		if err == nil {
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "tui: TUI_MEMPROFILE: %v\n", err)
		}
	}
}

// run executes one command line and returns the exit code.
func run(e *env, args []string) int {
	if e.args == nil {
		e.args = args
	}
	err := dispatch(e, args)
	var ue *usageError
	var served *servedExit
	switch {
	case err == nil:
		return 0
	case errors.As(err, &served):
		return served.code // the owner wrote what there was to say
	case errors.Is(err, flag.ErrHelp):
		var h *helpRequest
		if errors.As(err, &h) {
			if lines := commandUsage(h.command); lines != "" {
				fmt.Fprintf(e.stdout, "Usage:\n%s\nGlobal flags: --db PATH, --redis URL. Run 'tui --help' for every command.\n", lines)
				return 0
			}
		}
		fmt.Fprint(e.stdout, usageText)
		return 0
	case errors.As(err, &ue):
		if lines := commandUsage(ue.command); ue.command != "" && lines != "" {
			fmt.Fprintf(e.stderr, "tui: %s\nUsage:\n%s\nRun 'tui --help' for every command.\n", termsafe.Text(ue.msg), lines)
			return 2
		}
		fmt.Fprintf(e.stderr, "tui: %s\nRun 'tui --help' for usage.\n", termsafe.Text(ue.msg))
		return 2
	case errors.Is(err, context.Canceled) && e.ctx.Err() != nil:
		fmt.Fprintln(e.stderr, "tui: interrupted by a signal before the command finished; what it printed is incomplete")
		return 1
	default:
		fmt.Fprintf(e.stderr, "tui: %s\n", termsafe.Text(err.Error()))
		return 1
	}
}

func dispatch(e *env, args []string) error {
	g := &globals{db: e.getenv("TUI_DB"), redis: e.getenv("REDIS_URL")}
	fs := newFlagSet(e, "tui")
	g.register(fs)
	showVersion := fs.Bool("version", false, "print the version")
	headless := fs.Bool("headless-worker", false, "run a worker only: no UI, no database")
	inProcess := fs.Bool("worker", false, "run a worker inside the TUI")
	wf := &workerFlags{}
	wf.register(fs)
	sf := &sshFlags{}
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: flagMessage(fs, err)}
	}
	if *showVersion {
		fmt.Fprintf(e.stdout, "tui %s\n", version)
		return nil
	}
	rest := fs.Args()
	if e.owned != nil && (sf.requested() || *headless || *inProcess || len(rest) == 0 || rest[0] == "serve") {
		return usagef("the process that owns the database runs commands such as `tui campaign list` for others; start the app, a server or a worker in a process of its own")
	}
	if wf.listen != "" && !*headless {
		return usagef("--listen serves unsubscribe links from a headless worker: use it with --headless-worker")
	}
	if len(rest) > 0 && rest[0] == "serve" {
		// The flags of serve are the top level's, and may follow it.
		pos, err := parseInterspersed(fs, rest[1:])
		switch {
		case err != nil:
			return err
		case len(pos) > 0:
			return usagef("serve takes no arguments (got %q)", pos[0])
		case sf.requested() || *headless:
			return usagef("serve owns the database without a screen: --ssh and --headless-worker are other ways to run tui")
		}
		return runServe(e, g, wf, *inProcess)
	}
	if sf.requested() {
		return runSSH(e, g, wf, sf, *inProcess, *headless, rest)
	}
	if *inProcess && *headless {
		return usagef("--worker and --headless-worker exclude each other: --worker runs the TUI with a worker, --headless-worker a worker alone")
	}
	if *headless {
		if len(rest) > 0 {
			return usagef("--headless-worker takes no command (got %q)", rest[0])
		}
		return runHeadlessWorker(e, g, wf)
	}
	if len(rest) == 0 {
		return runInteractive(e, g, wf, *inProcess)
	}
	if *inProcess {
		return usagef("--worker runs the interactive TUI and takes no command (got %q)", rest[0])
	}
	switch rest[0] {
	case "campaign", "campaigns":
		return campaignCmd(e, g, rest[1:])
	case "contacts", "contact":
		return contactsCmd(e, g, rest[1:])
	case "db":
		return dbCmd(e, g, rest[1:])
	case "help":
		fmt.Fprint(e.stdout, usageText)
		return nil
	}
	return usagef("unknown command %q", rest[0])
}

// helpRequest is --help given to a command ("campaign send"): its own
// usage lines answer it.
type helpRequest struct{ command string }

func (h *helpRequest) Error() string { return "help requested for " + h.command }
func (h *helpRequest) Unwrap() error { return flag.ErrHelp }

// commandUsage returns the lines of usageText that describe command, or ""
// if none does. "campaign pause" matches "tui campaign pause|resume|…".
func commandUsage(command string) string {
	want := strings.Fields(command)
	var out []string
	in := false
	for _, line := range strings.Split(usageText, "\n") {
		if rest, ok := strings.CutPrefix(line, "  tui "); ok {
			words := strings.Fields(rest)
			in = len(words) >= len(want)
			for i := 0; in && i < len(want); i++ {
				in = slices.Contains(strings.Split(words[i], "|"), want[i])
			}
		} else if !strings.HasPrefix(line, "   ") {
			in = false
		}
		if in {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// flagMessage says what the flag package found wrong in the words of the
// rest of the command line: "unknown flag --bogus", not "flag provided but
// not defined: -bogus".
func flagMessage(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + strings.TrimPrefix(name, "-")
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "--" + strings.TrimPrefix(name, "-") + " needs a value"
	}
	// invalid boolean value "x" for -json: parse error
	if rest, ok := strings.CutPrefix(msg, "invalid boolean value "); ok {
		if value, tail, ok := strings.Cut(rest, " for -"); ok {
			name, _, _ := strings.Cut(tail, ": ")
			return "--" + strings.TrimPrefix(name, "-") + "=" + value + " is not true or false"
		}
	}
	// invalid value "x" for flag -rate: parse error
	if rest, ok := strings.CutPrefix(msg, "invalid value "); ok {
		if i := strings.Index(rest, " for flag -"); i >= 0 {
			value, tail := rest[:i], rest[i+len(" for flag -"):]
			name, why, _ := strings.Cut(tail, ": ")
			name = strings.TrimPrefix(name, "-")
			if why == "value out of range" {
				return "--" + name + " " + value + " is out of range"
			}
			var kind any
			if f := fs.Lookup(name); f != nil {
				if g, ok := f.Value.(flag.Getter); ok {
					kind = g.Get()
				}
			}
			switch kind.(type) {
			case int, int64, uint, uint64:
				why = "is not a whole number"
			case time.Duration:
				why = "is not a duration such as 30s, 5m or 1h"
			case float64:
				why = "is not a number"
			default:
				return "--" + name + " " + value + ": " + why
			}
			return "--" + name + " " + value + " " + why
		}
	}
	return msg
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
		// "set-rate 3 -5": a negative number is a value to refuse with a
		// reason, not a flag nobody defined.
		if len(args) > 0 && isNegativeNumber(args[0]) {
			positional = append(positional, args[0])
			args = args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpRequest{command: fs.Name()}
			}
			return nil, &usageError{msg: flagMessage(fs, err), command: fs.Name()}
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

func isNegativeNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return len(s) > 1 && s[0] == '-' && err == nil
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

// openStore validates the global flags and opens the database for a
// command. When another tui holds the file and serves it (the app, --ssh,
// serve), the whole command runs there instead: openStore then returns a
// *servedExit, which every caller passes up as it would any error, and
// run exits with the owner's code. A command the owner runs gets the
// owner's open database.
func openStore(e *env, g *globals) (*store.Store, error) {
	if err := validateRedisURL(g.redis); err != nil {
		return nil, err
	}
	if e.owned != nil {
		return e.owned.st.Borrow(), nil
	}
	path, err := dbPath(g)
	if err != nil {
		return nil, err
	}
	if code, ok, err := forwardToOwner(e, path); ok {
		if err != nil {
			return nil, err
		}
		return nil, &servedExit{code: code}
	}
	st, err := store.Open(path)
	if errors.Is(err, store.ErrLocked) {
		// The owner may have been starting: its socket comes right after
		// its lock.
		if code, ok, ferr := forwardToOwner(e, path); ok {
			if ferr != nil {
				return nil, ferr
			}
			return nil, &servedExit{code: code}
		}
		return nil, err
	}
	if err == nil {
		// This process holds the lock, so no owner is alive: a socket
		// left beside the database is one a crashed owner left.
		removeStaleSocket(path)
	}
	return st, err
}

// dbPath is the database file the flags and environment name.
func dbPath(g *globals) (string, error) {
	path := g.db
	if path == "" {
		p, err := store.DefaultPath()
		if err != nil {
			return "", err
		}
		path = p
	}
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = home + path[1:]
		}
	}
	return path, nil
}

// removeStaleSocket removes the socket a crashed owner left beside the
// database at dbPath; the caller holds the database's lock.
func removeStaleSocket(dbPath string) {
	p := ownerSocketPath(dbPath)
	if info, err := os.Lstat(p); err == nil && info.Mode().Type() == os.ModeSocket {
		os.Remove(p)
	}
}

// openOwnerStore opens the database for a process that owns it for long
// (the app, --ssh, serve): a second one is refused, never forwarded.
func openOwnerStore(g *globals) (*store.Store, error) {
	if err := validateRedisURL(g.redis); err != nil {
		return nil, err
	}
	path, err := dbPath(g)
	if err != nil {
		return nil, err
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

// runInteractive runs the TUI. It prepares the Redis connection without
// dialling, and follows sends through one hub for the program's lifetime
// (it dials only while a campaign is sending). With --worker, a worker runs
// in this process too, started once the connection is up. Everything it
// starts is stopped and waited for before it returns.
func runInteractive(e *env, g *globals, wf *workerFlags, withWorker bool) error {
	if withWorker {
		if err := wf.validate(); err != nil {
			return err
		}
	}
	// The log, the worker's too, would write over the screen: the state
	// shows in the status bar instead.
	quiet := slog.New(slog.DiscardHandler)
	// A terminal that hangs up (the SSH connection dropped, the window
	// closed) sends SIGHUP, whose default ends the process at once: the
	// worker's deliveries under way unrecorded, to be made again after the
	// lease, its jobs held until then, and the worker "lost" in every pane.
	// The app stops instead as on SIGTERM.
	ctx, stopHUP := signal.NotifyContext(e.ctx, syscall.SIGHUP)
	defer stopHUP()
	o, err := openOwner(e, g, wf, ownerSetup{log: quiet, worker: withWorker, workerLog: quiet})
	if err != nil {
		return err
	}
	defer o.Close()

	c := ui.NewCommon(o.st, actor(), o.conn.Status()).WithSending(o.svc, o.hub, o.lw)
	app := ui.NewApp(c)
	p := tea.NewProgram(app, tea.WithContext(ctx))
	// Other processes' commands and scheduled sends change what the
	// screens show.
	o.Start(ctx, ownerHooks{
		changed: func(what ui.DataKind) { p.Send(ui.DataChangedMsg{What: what}) },
		flash:   func(text string, isErr bool) { p.Send(ui.FlashMsg{Text: text, Err: isErr}) },
	})
	_, runErr := p.Run()
	o.StopOwnerLoops()
	app.Close()
	if o.lw != nil {
		if s := o.lw.Snapshot(); s.InFlight > 0 {
			fmt.Fprintf(e.stderr, "Stopping the in-process worker: finishing %s (up to %s)…\n", english.Count(int(s.InFlight), "delivery", "deliveries"), wf.grace)
		}
	}
	o.Stop()
	if runErr != nil && !errors.Is(runErr, tea.ErrProgramKilled) && !errors.Is(runErr, context.Canceled) {
		return fmt.Errorf("run the terminal UI: %w", runErr)
	}
	return nil
}

// followSends runs the hub until ctx ends. A failed read of the database
// ends a follow; the next one may succeed, so it starts again a second
// later rather than leaving every pane still.
func followSends(ctx context.Context, hub *sending.Hub, onErr func(error)) {
	for ctx.Err() == nil {
		if err := hub.Run(ctx); err != nil {
			onErr(err)
			queue.Sleep(ctx, time.Second)
		}
	}
}
