package main

// The process that owns a database — the app, `tui --ssh`, `tui serve` —
// serves the command line of every other process through a Unix socket
// beside the database (tui.db.sock), so that scripts work whether or not
// someone has the app open. bbolt lets one process open the file; a command
// that finds it held connects to the socket and the owner runs the very
// same command with the caller's standard input, output and error (passed
// as file descriptors), the caller's environment and arguments, and the
// caller's name (SO_PEERCRED): same output, same --json, same exit code.
// Files the command names are opened by the caller, in its own directory
// and with its own permissions, and passed over.
//
// The wire: frames of a 4-byte big-endian length and a JSON object. The
// caller sends {"op":"run"} with fds 0, 1 and 2; the owner answers file
// requests ("open", "create_temp", "rename", "remove", each answered by a
// "reply", with a descriptor where there is one) and ends with {"op":"exit"}
// or {"op":"refused"}. A "cancel" from the caller (SIGINT) cancels the
// command's context, as the signal would have locally.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tui/sending"
	"tui/store"
)

// SocketSuffix names the owner's socket after its database: tui.db.sock.
const SocketSuffix = ".sock"

func ownerSocketPath(dbPath string) string { return dbPath + SocketSuffix }

// ownerProtocol is the version of the wire; an owner refuses others.
const ownerProtocol = 1

// maxFrame bounds one frame: arguments and environment, or a reply.
const maxFrame = 1 << 20

// forwardedEnv are the variables a command may read; the owner runs it with
// the caller's values of these and no others.
var forwardedEnv = []string{"TUI_DB", "REDIS_URL", "TUI_OUTBOX", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "HOME", "TZ",
	"USER", "LANG", "LC_ALL", "TERM", "NO_COLOR", "REDIS_TLS_CA", "REDIS_TLS_CERT", "REDIS_TLS_KEY",
	"SMTP_URL", "WEBHOOK_SECRET", "MESSENGER_PAGE_TOKEN", "MESSENGER_API_BASE", "MESSENGER_API_VERSION",
	"TUI_UNSUBSCRIBE_URL", "TUI_UNSUBSCRIBE_SECRET", "TUI_UNSUBSCRIBE_MAILTO"}

type frame struct {
	Op      string            `json:"op"`
	Version int               `json:"v,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Path    string            `json:"path,omitempty"`
	Dir     string            `json:"dir,omitempty"`
	Pattern string            `json:"pattern,omitempty"`
	To      string            `json:"to,omitempty"`
	Name    string            `json:"name,omitempty"`
	Err     string            `json:"err,omitempty"`
	Code    int               `json:"code,omitempty"`
	Errno   int               `json:"errno,omitempty"`
	FDs     int               `json:"fds,omitempty"` // descriptors that came with this frame
}

// framer reads and writes frames on a Unix connection, with descriptors.
type framer struct {
	c   *net.UnixConn
	wmu sync.Mutex
	buf []byte
	fds []int // received, not yet claimed by a frame
}

func (f *framer) write(fr frame, fds ...int) error {
	fr.FDs = len(fds)
	body, err := json.Marshal(fr)
	if err != nil {
		return err
	}
	msg := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(msg, uint32(len(body)))
	copy(msg[4:], body)
	f.wmu.Lock()
	defer f.wmu.Unlock()
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	n, _, err := f.c.WriteMsgUnix(msg, oob, nil)
	if err == nil && n < len(msg) {
		_, err = f.c.Write(msg[n:])
	}
	return err
}

// read returns the next frame and the descriptors it carries; the caller
// owns them.
func (f *framer) read() (frame, []int, error) {
	for {
		if len(f.buf) >= 4 {
			n := int(binary.BigEndian.Uint32(f.buf))
			if n > maxFrame {
				return frame{}, nil, errors.New("a frame larger than the protocol allows")
			}
			if len(f.buf) >= 4+n {
				var fr frame
				err := json.Unmarshal(f.buf[4:4+n], &fr)
				f.buf = f.buf[4+n:]
				if err != nil {
					return frame{}, nil, fmt.Errorf("a malformed frame: %w", err)
				}
				if fr.FDs < 0 || fr.FDs > len(f.fds) {
					return frame{}, nil, errors.New("a frame without the descriptors it announces")
				}
				fds := append([]int(nil), f.fds[:fr.FDs]...)
				f.fds = f.fds[fr.FDs:]
				return fr, fds, nil
			}
		}
		chunk := make([]byte, 64<<10)
		oob := make([]byte, syscall.CmsgSpace(8*4))
		n, oobn, _, _, err := f.c.ReadMsgUnix(chunk, oob)
		if oobn > 0 {
			if msgs, perr := syscall.ParseSocketControlMessage(oob[:oobn]); perr == nil {
				for _, m := range msgs {
					if fds, err := syscall.ParseUnixRights(&m); err == nil {
						f.fds = append(f.fds, fds...)
					}
				}
			}
		}
		f.buf = append(f.buf, chunk[:max(n, 0)]...)
		if err != nil {
			return frame{}, nil, err
		}
		if n == 0 && oobn == 0 {
			return frame{}, nil, io.EOF
		}
	}
}

// close closes the connection and any descriptor nobody claimed.
func (f *framer) close() {
	for _, fd := range f.fds {
		syscall.Close(fd)
	}
	f.fds = nil
	f.c.Close()
}

// unixAddr is path as a socket address. sun_path holds 107 bytes; a longer
// path goes through the directory's descriptor (/proc/self/fd/N/name),
// which the kernel resolves like any path. The returned function releases
// the descriptor.
func unixAddr(path string) (*net.UnixAddr, func(), error) {
	if len(path) < 100 {
		return &net.UnixAddr{Name: path, Net: "unix"}, func() {}, nil
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, nil, err
	}
	short := fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path))
	return &net.UnixAddr{Name: short, Net: "unix"}, func() { dir.Close() }, nil
}

// ---- the caller's side ----

// servedExit ends a command that the owner ran: its output is written and
// run returns code without a word of its own.
type servedExit struct{ code int }

func (e *servedExit) Error() string { return fmt.Sprintf("served by the owner: exit %d", e.code) }

// forwardToOwner runs this command line in the process that serves the
// database at dbPath, if one listens. ok is false when none does (no
// socket, or one left by an owner that died): the caller opens the file
// itself. A command whose standard streams are not files (a test calling
// run in-process) is not forwarded.
func forwardToOwner(e *env, dbPath string) (code int, ok bool, err error) {
	if e.stdio[0] == nil || e.stdio[1] == nil || e.stdio[2] == nil {
		return 0, false, nil
	}
	addr, release, err := unixAddr(ownerSocketPath(dbPath))
	if err != nil {
		return 0, false, nil
	}
	c, err := net.DialUnix("unix", nil, addr)
	release()
	if err != nil {
		return 0, false, nil // none, or stale: the database's lock decides
	}
	f := &framer{c: c}
	defer f.close()
	envs := map[string]string{}
	for _, k := range forwardedEnv {
		if v := e.getenv(k); v != "" {
			envs[k] = v
		}
	}
	run := frame{Op: "run", Version: ownerProtocol, Args: e.args, Env: envs}
	if err := f.write(run, int(e.stdio[0].Fd()), int(e.stdio[1].Fd()), int(e.stdio[2].Fd())); err != nil {
		return 0, false, nil
	}
	// A signal here cancels the command there, which then ends as it would
	// have here ("stopped waiting; the send goes on").
	stop := context.AfterFunc(e.ctx, func() { _ = f.write(frame{Op: "cancel"}) })
	defer stop()
	for {
		fr, fds, err := f.read()
		if err != nil {
			return 0, true, fmt.Errorf("the tui process that owns %s stopped before the command finished (%v): check what was done with `tui campaign list`", dbPath, err)
		}
		closeFDs(fds) // the owner sends none; never keep one
		switch fr.Op {
		case "exit":
			return fr.Code, true, nil
		case "refused":
			return 0, true, errors.New(fr.Err)
		case "open":
			answerFile(f, func() (*os.File, error) { return os.Open(fr.Path) })
		case "create_temp":
			answerFile(f, func() (*os.File, error) { return os.CreateTemp(fr.Dir, fr.Pattern) })
		case "rename":
			answer(f, os.Rename(fr.Path, fr.To))
		case "remove":
			answer(f, os.Remove(fr.Path))
		default:
			answer(f, fmt.Errorf("unknown request %q", fr.Op))
		}
	}
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// answer replies with err's words and errno, so that the owner's error
// reads and unwraps as the local one would.
func answer(f *framer, err error) {
	r := frame{Op: "reply"}
	if err != nil {
		r.Err = err.Error()
		var errno syscall.Errno
		if errors.As(err, &errno) {
			r.Errno = int(errno)
		}
	}
	_ = f.write(r)
}

// remoteErr is an error the calling process met: its words, unwrapping to
// its errno.
type remoteErr struct {
	msg   string
	errno syscall.Errno
}

func (e *remoteErr) Error() string { return e.msg }
func (e *remoteErr) Unwrap() error {
	if e.errno == 0 {
		return errors.New(e.msg)
	}
	return e.errno
}

func answerFile(f *framer, open func() (*os.File, error)) {
	fl, err := open()
	if err != nil {
		answer(f, err)
		return
	}
	defer fl.Close()
	_ = f.write(frame{Op: "reply", Name: fl.Name()}, int(fl.Fd()))
}

// ---- the owner's side ----

// ownerServer is the owner's socket: it accepts commands until closed.
type ownerServer struct {
	path  string
	ln    *net.UnixListener
	owned *ownedDB
	log   *slog.Logger
	// changed is told after each command, which may have changed data.
	changed func()

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ownedDB is what a served command uses instead of opening the file.
type ownedDB struct {
	st  *store.Store
	svc *sending.Service
	hub *sending.Hub
}

// listenOwner creates the socket beside the database, with the database
// file's permissions, replacing any left by an owner that died (this
// process holds the database's lock, so no other owner is alive). It is
// bound in a private directory and renamed into place, so it never exists
// with looser permissions.
func listenOwner(ctx context.Context, owned *ownedDB, log *slog.Logger, changed func()) (*ownerServer, error) {
	dbPath := owned.st.Path()
	info, err := os.Stat(dbPath)
	if err != nil {
		return nil, fmt.Errorf("serve the command line beside %s: %w", dbPath, err)
	}
	path := ownerSocketPath(dbPath)
	tmp, err := os.MkdirTemp(filepath.Dir(dbPath), ".tui-socket-")
	if err != nil {
		return nil, fmt.Errorf("serve the command line beside %s: %w", dbPath, err)
	}
	defer os.RemoveAll(tmp)
	addr, release, err := unixAddr(filepath.Join(tmp, "s"))
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", addr)
	release()
	if err != nil {
		return nil, fmt.Errorf("serve the command line on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (*ownerServer, error) {
		ln.Close()
		return nil, fmt.Errorf("serve the command line on %s: %w", path, err)
	}
	if err := os.Chmod(filepath.Join(tmp, "s"), info.Mode().Perm()&0o666); err != nil {
		return fail(err)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		_ = os.Chown(filepath.Join(tmp, "s"), -1, int(st.Gid)) // the database's group, where allowed
	}
	if err := os.Rename(filepath.Join(tmp, "s"), path); err != nil {
		return fail(err)
	}
	s := &ownerServer{path: path, ln: ln, owned: owned, log: log, changed: changed}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Close stops accepting, removes the socket, cancels the commands under way
// and waits for them; the database may be closed after.
func (s *ownerServer) Close() {
	s.ln.Close()
	os.Remove(s.path)
	s.cancel()
	s.wg.Wait()
}

func (s *ownerServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
		}()
	}
}

// peerCred is who is at the other end of c.
func peerCred(c *net.UnixConn) (*syscall.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, credErr
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid " + strconv.FormatUint(uint64(uid), 10)
}

// serve runs one caller's command.
func (s *ownerServer) serve(c *net.UnixConn) {
	f := &framer{c: c}
	defer f.close()
	cred, err := peerCred(c)
	if err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	req, fds, err := f.read()
	_ = c.SetReadDeadline(time.Time{})
	var stdio []*os.File
	for i, fd := range fds {
		stdio = append(stdio, os.NewFile(uintptr(fd), []string{"/dev/stdin", "/dev/stdout", "/dev/stderr"}[min(i, 2)]))
	}
	defer func() {
		for _, fl := range stdio {
			fl.Close()
		}
	}()
	if err != nil || req.Op != "run" {
		return
	}
	// The socket's mode keeps out those who may not open the database; the
	// peer's credentials keep out anyone else the mode let through. The
	// owner's own user, and root, are served.
	if int(cred.Uid) != os.Geteuid() && cred.Uid != 0 {
		s.log.Warn("refused a command from another user", "user", userName(cred.Uid), "pid", cred.Pid)
		_ = f.write(frame{Op: "refused", Err: fmt.Sprintf("%s is held by a tui running as %s (pid %d); only %s may use it while that runs",
			s.owned.st.Path(), userName(uint32(os.Geteuid())), os.Getpid(), userName(uint32(os.Geteuid())))})
		return
	}
	if req.Version != ownerProtocol || len(stdio) != 3 {
		_ = f.write(frame{Op: "refused", Err: fmt.Sprintf("the tui that holds %s speaks another version of the command protocol: use the same tui binary for both", s.owned.st.Path())})
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	replies := make(chan reply, 1)
	go func() {
		defer cancel() // the caller went away: stop, as its signal would
		for {
			fr, fds, err := f.read()
			if err != nil {
				return
			}
			switch fr.Op {
			case "cancel":
				cancel()
			case "reply":
				select {
				case replies <- reply{fr, fds}:
				case <-ctx.Done():
					closeFDs(fds)
				}
			default:
				closeFDs(fds)
			}
		}
	}()
	host, _ := os.Hostname()
	who := userName(cred.Uid)
	if host != "" {
		who += "@" + host
	}
	e := newEnv(ctx, stdio[0], stdio[1], stdio[2], func(k string) string { return req.Env[k] })
	e.args = req.Args
	e.who = who
	e.owned = s.owned
	e.files = &remoteFiles{f: f, replies: replies, ctx: ctx}
	start := time.Now()
	code := run(e, req.Args)
	s.log.Info("served a command", "user", who, "pid", cred.Pid, "command", commandName(req.Args),
		"exit", code, "took", time.Since(start).Round(time.Millisecond))
	if s.changed != nil {
		s.changed()
	}
	// The caller's streams are closed here before it exits, so that what
	// reads them (a pipe) sees their end with the caller's.
	for _, fl := range stdio {
		fl.Close()
	}
	stdio = nil
	_ = f.write(frame{Op: "exit", Code: code})
}

// commandName is the command's words without its arguments, for the log:
// "campaign send".
func commandName(args []string) string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") || len(words) == 2 {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

type reply struct {
	fr  frame
	fds []int
}

// fileOps are the files a command opens. Locally they are this process's;
// a served command's are the caller's, opened by the caller.
type fileOps interface {
	Open(name string) (*os.File, error)
	CreateTemp(dir, pattern string) (*os.File, error)
	Rename(from, to string) error
	Remove(name string) error
}

type localFiles struct{}

func (localFiles) Open(name string) (*os.File, error) { return os.Open(name) }
func (localFiles) CreateTemp(dir, pattern string) (*os.File, error) {
	return os.CreateTemp(dir, pattern)
}
func (localFiles) Rename(from, to string) error { return os.Rename(from, to) }
func (localFiles) Remove(name string) error     { return os.Remove(name) }

// remoteFiles asks the caller; one request at a time.
type remoteFiles struct {
	mu      sync.Mutex
	f       *framer
	replies chan reply
	ctx     context.Context
}

func (r *remoteFiles) ask(req frame) (reply, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.f.write(req); err != nil {
		return reply{}, fmt.Errorf("ask the calling process: %w", err)
	}
	select {
	case rep := <-r.replies:
		if rep.fr.Err != "" {
			closeFDs(rep.fds)
			return rep, &remoteErr{msg: rep.fr.Err, errno: syscall.Errno(rep.fr.Errno)}
		}
		return rep, nil
	case <-r.ctx.Done():
		return reply{}, fmt.Errorf("the calling process went away: %w", r.ctx.Err())
	}
}

func (r *remoteFiles) file(req frame) (*os.File, error) {
	rep, err := r.ask(req)
	if err != nil {
		return nil, err
	}
	if len(rep.fds) != 1 {
		closeFDs(rep.fds)
		return nil, errors.New("the calling process sent no file")
	}
	// Named as the caller named it: messages quote the caller's path.
	return os.NewFile(uintptr(rep.fds[0]), rep.fr.Name), nil
}

func (r *remoteFiles) Open(name string) (*os.File, error) {
	return r.file(frame{Op: "open", Path: name})
}

func (r *remoteFiles) CreateTemp(dir, pattern string) (*os.File, error) {
	return r.file(frame{Op: "create_temp", Dir: dir, Pattern: pattern})
}

func (r *remoteFiles) Rename(from, to string) error {
	_, err := r.ask(frame{Op: "rename", Path: from, To: to})
	return err
}

func (r *remoteFiles) Remove(name string) error {
	_, err := r.ask(frame{Op: "remove", Path: name})
	return err
}
