package ui

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/vt"
	gossh "golang.org/x/crypto/ssh"

	"tui/internal/testkit"
	"tui/queue"
	"tui/sending"
	"tui/store"
)

// The SSH test harness: a real server on a loopback port, wired as
// `tui --ssh` wires it (one store, one lazy Redis connection, one send
// service, one hub following sends), and real SSH clients
// (golang.org/x/crypto/ssh) whose output goes through a terminal emulator
// (x/vt) that answers the program's queries, as a person's terminal would.

// sshRig is one running server.
type sshRig struct {
	t      testing.TB
	dir    string
	st     *store.Store
	srv    *SSHServer
	addr   string
	cfg    SSHConfig
	logs   *testkit.LockedBuffer
	hostFP string

	cancel context.CancelFunc
	served chan error
	stopMu sync.Once
}

type rigConfig struct {
	idle        time.Duration
	maxSessions int
	onMsg       func(user string, msg tea.Msg)
	dir         string // reuse a directory (host key, authorized keys, database) across restarts
	redisURL    string // where sends go; nothing listens there when empty
	sessionless time.Duration
}

// newClientKey makes a fresh ed25519 key for a client.
func newClientKey(t testing.TB) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// authorize appends keys to an authorized_keys file.
func authorize(t testing.TB, path string, keys ...gossh.Signer) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, k := range keys {
		if _, err := f.Write(gossh.MarshalAuthorizedKey(k.PublicKey())); err != nil {
			t.Fatal(err)
		}
	}
}

// startSSH serves a fresh (or rc.dir's) database to the given keys. The
// server stops at the test's end if the test does not stop it.
func startSSH(t testing.TB, rc rigConfig, keys ...gossh.Signer) *sshRig {
	t.Helper()
	dir := rc.dir
	if dir == "" {
		dir = t.TempDir()
	}
	akPath := filepath.Join(dir, "authorized_keys")
	if len(keys) > 0 {
		authorize(t, akPath, keys...)
	}
	st, err := store.Open(filepath.Join(dir, "tui.db"))
	if err != nil {
		t.Fatal(err)
	}
	// By default nothing listens at the Redis URL: those sessions never
	// send, and the hub dials only while a campaign is sending.
	url := rc.redisURL
	if url == "" {
		url = closedRedisURL(t)
	}
	conn, err := queue.NewConn(url)
	if err != nil {
		t.Fatal(err)
	}
	svc := sending.New(st, conn)
	hub := sending.NewHub(svc)
	logs := &testkit.LockedBuffer{}
	cfg := SSHConfig{
		Store: st, Sends: svc, Hub: hub, Conn: conn,
		HostKeyPath:        filepath.Join(dir, HostKeyFileName),
		AuthorizedKeysPath: akPath,
		IdleTimeout:        rc.idle,
		MaxSessions:        rc.maxSessions,
		ShutdownGrace:      5 * time.Second,
		SessionlessTimeout: rc.sessionless,
		Logger:             slog.New(slog.NewTextHandler(logs, nil)),
	}
	return startSSHWith(t, cfg, rc, logs, func() { _ = conn.Close(); _ = st.Close() }, hub)
}

// startSSHWith serves cfg; closeAll runs after the server and hub stop.
func startSSHWith(t testing.TB, cfg SSHConfig, rc rigConfig, logs *testkit.LockedBuffer, closeAll func(), hub *sending.Hub) *sshRig {
	t.Helper()
	srv, err := NewSSHServer(cfg)
	if err != nil {
		closeAll()
		t.Fatalf("start the SSH server: %v", err)
	}
	srv.onMsg = rc.onMsg
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &sshRig{t: t, dir: filepath.Dir(cfg.AuthorizedKeysPath), st: cfg.Store, srv: srv, addr: ln.Addr().String(),
		cfg: cfg, logs: logs, hostFP: srv.HostKeyFingerprint(), cancel: cancel, served: make(chan error, 1)}
	var hubDone sync.WaitGroup
	if hub != nil {
		hubDone.Add(1)
		go func() {
			defer hubDone.Done()
			_ = hub.Run(ctx)
		}()
	}
	go func() { r.served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		r.stop()
		hubDone.Wait()
		closeAll()
	})
	return r
}

// stop shuts the server down as SIGTERM would, and checks it returned nil.
func (r *sshRig) stop() {
	r.stopMu.Do(func() {
		r.cancel()
		select {
		case err := <-r.served:
			if err != nil {
				r.t.Errorf("Serve returned %v after a requested shutdown, want nil", err)
			}
		case <-time.After(20 * time.Second):
			r.t.Errorf("Serve did not return after its context ended")
		}
	})
}

// waitLog waits until the server's log holds a line with every one of want
// and returns the first such line.
func (r *sshRig) waitLog(want ...string) string {
	r.t.Helper()
	return r.waitLogCount(1, want...)[0]
}

// waitLogCount waits until n lines of the server's log hold every one of
// want.
func (r *sshRig) waitLogCount(n int, want ...string) []string {
	r.t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		var found []string
		for _, line := range strings.Split(r.logs.String(), "\n") {
			ok := true
			for _, w := range want {
				if !strings.Contains(line, w) {
					ok = false
					break
				}
			}
			if ok {
				found = append(found, line)
			}
		}
		if len(found) >= n {
			return found
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the server logged %d lines with %q, want %d; its log:\n%s", len(found), want, n, r.logs.String())
		}
		time.Sleep(pollEvery)
	}
}

// waitSessions waits until the server has n sessions open.
func (r *sshRig) waitSessions(n int) {
	r.t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for r.srv.Sessions() != n {
		if time.Now().After(deadline) {
			r.t.Fatalf("the server has %d sessions open, want %d", r.srv.Sessions(), n)
		}
		time.Sleep(pollEvery)
	}
}

// dial opens an SSH connection with the given auth methods.
func (r *sshRig) dial(user string, auth ...gossh.AuthMethod) (*gossh.Client, error) {
	return gossh.Dial("tcp", r.addr, &gossh.ClientConfig{
		User:            user,
		Auth:            auth,
		HostKeyCallback: r.hostKeyCallback(),
		Timeout:         waitDeadline,
	})
}

// hostKeyCallback accepts only the server's own host key.
func (r *sshRig) hostKeyCallback() gossh.HostKeyCallback {
	return func(_ string, _ net.Addr, key gossh.PublicKey) error {
		if fp := gossh.FingerprintSHA256(key); fp != r.hostFP {
			return errors.New("host key " + fp + " is not the server's " + r.hostFP)
		}
		return nil
	}
}

// sshTerm is one person's terminal, connected over SSH.
type sshTerm struct {
	t      testing.TB
	client *gossh.Client
	sess   *gossh.Session
	stdin  io.WriteCloser
	stderr *testkit.LockedBuffer
	inMu   sync.Mutex // key presses and the emulator's replies share stdin

	mu  sync.Mutex
	emu *vt.Emulator
	raw bytes.Buffer
	// frames counts writes that reached the emulator: benchmarks wait on it.
	frames int

	copied chan struct{} // closed when the server's output has ended
	ended  chan error    // the session's exit, once it has one
}

// connect opens a session with a w×h PTY of the given TERM, as `ssh -t`.
func (r *sshRig) connect(user string, key gossh.Signer, term string, w, h int) *sshTerm {
	r.t.Helper()
	client, err := r.dial(user, gossh.PublicKeys(key))
	if err != nil {
		r.t.Fatalf("connect as %s: %v", user, err)
	}
	st := r.session(client, term, w, h)
	r.t.Cleanup(st.close)
	return st
}

func (r *sshRig) session(client *gossh.Client, term string, w, h int) *sshTerm {
	r.t.Helper()
	sess, err := client.NewSession()
	if err != nil {
		r.t.Fatal(err)
	}
	st := &sshTerm{t: r.t, client: client, sess: sess, emu: vt.NewEmulator(w, h), stderr: &testkit.LockedBuffer{},
		copied: make(chan struct{}), ended: make(chan error, 1)}
	if term != "" {
		if err := sess.RequestPty(term, h, w, gossh.TerminalModes{gossh.ECHO: 0}); err != nil {
			r.t.Fatalf("request a PTY: %v", err)
		}
	}
	if st.stdin, err = sess.StdinPipe(); err != nil {
		r.t.Fatal(err)
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	sess.Stderr = st.stderr
	if err := sess.Shell(); err != nil {
		r.t.Fatalf("start the shell: %v", err)
	}
	go st.copyOutput(out)
	go st.answerQueries()
	go func() { st.ended <- sess.Wait() }()
	return st
}

// copyOutput feeds the server's output into the emulator. The server's
// PTY already turns \n into \r\n, as a real one would.
func (st *sshTerm) copyOutput(out io.Reader) {
	defer close(st.copied)
	buf := make([]byte, 32*1024)
	for {
		n, err := out.Read(buf)
		if n > 0 {
			st.mu.Lock()
			_, _ = st.emu.Write(buf[:n])
			st.raw.Write(buf[:n])
			st.frames++
			st.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// answerQueries sends the emulator's replies (background colour, modes)
// back to the server, as a terminal does.
func (st *sshTerm) answerQueries() {
	buf := make([]byte, 1024)
	for {
		n, err := st.emu.Read(buf)
		if n > 0 {
			st.inMu.Lock()
			_, _ = st.stdin.Write(buf[:n])
			st.inMu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// keyBytes are what a terminal sends for the keys tests press.
var keyBytes = map[string]string{
	"enter": "\r", "tab": "\t", "shift+tab": "\x1b[Z", "esc": "\x1b", "backspace": "\x7f",
	"up": "\x1b[A", "down": "\x1b[B", "right": "\x1b[C", "left": "\x1b[D",
	"ctrl+s": "\x13", "ctrl+r": "\x12", "ctrl+u": "\x15", "ctrl+c": "\x03",
}

// press sends keys by name ("enter", "ctrl+s") or as the one character
// they are ("n").
func (st *sshTerm) press(keys ...string) {
	st.t.Helper()
	for _, k := range keys {
		b, ok := keyBytes[k]
		if !ok {
			if len([]rune(k)) != 1 {
				st.t.Fatalf("press(%q): unknown key", k)
			}
			b = k
		}
		st.write(b)
	}
}

// typeText types text as a person would, one character after another.
func (st *sshTerm) typeText(s string) {
	st.t.Helper()
	for _, r := range s {
		st.write(string(r))
	}
}

func (st *sshTerm) write(s string) {
	st.t.Helper()
	st.inMu.Lock()
	defer st.inMu.Unlock()
	if _, err := io.WriteString(st.stdin, s); err != nil {
		st.t.Fatalf("type %q: %v", s, err)
	}
}

// resize changes the window, as dragging the terminal's corner does.
func (st *sshTerm) resize(w, h int) {
	st.t.Helper()
	st.mu.Lock()
	st.emu.Resize(w, h)
	st.mu.Unlock()
	if err := st.sess.WindowChange(h, w); err != nil {
		st.t.Fatalf("window change: %v", err)
	}
}

// screen is the emulated screen as text, each line right-trimmed.
func (st *sshTerm) screen() string {
	st.mu.Lock()
	raw := st.emu.String()
	st.mu.Unlock()
	lines := strings.Split(raw, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \r")
	}
	return strings.Join(lines, "\n")
}

// rawOutput is everything the server sent, escape sequences and all.
func (st *sshTerm) rawOutput() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.raw.String()
}

func (st *sshTerm) waitUntil(what string, cond func(string) bool) string {
	st.t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		scr := st.screen()
		if cond(scr) {
			return scr
		}
		if time.Now().After(deadline) {
			st.t.Fatalf("timed out after %s waiting for %s; the screen shows:\n%s", waitDeadline, what, frame(scr))
		}
		time.Sleep(pollEvery)
	}
}

func (st *sshTerm) waitFor(substr string) string {
	st.t.Helper()
	return st.waitUntil("the screen to show "+quote(substr), func(s string) bool { return strings.Contains(s, substr) })
}

func (st *sshTerm) waitGone(substr string) string {
	st.t.Helper()
	return st.waitUntil(quote(substr)+" to disappear", func(s string) bool { return !strings.Contains(s, substr) })
}

// waitEnd waits for the session to end and returns its exit error (nil
// for status 0).
func (st *sshTerm) waitEnd() error {
	st.t.Helper()
	select {
	case err := <-st.ended:
		st.ended <- err
		<-st.copied
		return err
	case <-time.After(waitDeadline):
		st.t.Fatalf("the session did not end; the screen shows:\n%s", frame(st.screen()))
		return nil
	}
}

// close hangs up the connection without quitting first, as a dropped
// network would.
func (st *sshTerm) close() {
	_ = st.client.Close()
	_ = st.sess.Close()
	<-st.copied
	// Closing the reply pipe ends answerQueries.
	if c, ok := st.emu.InputPipe().(io.Closer); ok {
		_ = c.Close()
	}
}

// closedRedisURL is a Redis URL where nothing listens.
func closedRedisURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "redis://" + addr + "/0"
}
