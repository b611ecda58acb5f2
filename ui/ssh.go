package ui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	bm "charm.land/wish/v2/bubbletea"
	rm "charm.land/wish/v2/recover"
	gossh "golang.org/x/crypto/ssh"

	"tui/queue"
	"tui/sending"
	"tui/store"
)

// `tui --ssh`: one process owns the database (bbolt allows no other) and
// serves the TUI to many people over SSH. Each session gets a model tree of
// its own, built exactly as the interactive TUI builds one, on the
// process's one store, one Redis connection, one send service and one hub.
// See soft-serve's pkg/ssh for the shape: a wish server, a middleware chain,
// one handler that builds a fresh UI per session.

// SSHConfig is what the server serves and how.
type SSHConfig struct {
	Store *store.Store
	// Sends, Hub and Conn are the process's sending side, shared by every
	// session (see runInteractive). With Sends nil, sessions cannot send.
	Sends *sending.Service
	Hub   *sending.Hub
	Conn  *queue.Conn
	// Worker is the server's in-process worker (--worker), shown in every
	// session's status bar; sessions never stop it.
	Worker *LocalWorker

	HostKeyPath        string // made on first start (ed25519, 0600)
	AuthorizedKeysPath string // OpenSSH format, re-read whenever it changes

	// IdleTimeout ends a session that has had no input for this long; zero
	// never does.
	IdleTimeout time.Duration
	// MaxSessions caps the sessions open at once; zero means no cap.
	MaxSessions int
	// ShutdownGrace bounds how long Serve waits for sessions to end once its
	// context is done; 5 s when zero.
	ShutdownGrace time.Duration
	// SessionlessTimeout closes an authenticated connection that has no
	// session open for this long (`ssh -N`, or a client that keeps the
	// connection after its session ended); 30 s when zero. Such a
	// connection holds server resources and counts against no cap.
	SessionlessTimeout time.Duration

	Logger *slog.Logger // connections, authentications, sessions
}

// SSHServer serves the TUI over SSH. Build it with NewSSHServer, run it
// with Serve.
type SSHServer struct {
	cfg    SSHConfig
	log    *slog.Logger
	srv    *ssh.Server
	keys   *authorizedKeys
	hostFP string

	mu       sync.Mutex
	sessions map[uint64]*sshSession
	nextID   uint64
	closing  bool
	running  sync.WaitGroup // sessions admitted and not yet over

	conns     sync.Map // remote address → *connInfo
	connCount atomic.Int64

	// onMsg, set by tests before Serve, sees each message of every session
	// before the App does: a panic in it is a panic in that session.
	onMsg func(user string, msg tea.Msg)
}

// NewSSHServer loads or makes the host key and reads the authorized keys.
// It fails with a *NoAuthorizedKeysError when nobody could log in.
func NewSSHServer(cfg SSHConfig) (*SSHServer, error) {
	if cfg.Store == nil {
		return nil, errors.New("ssh server: no store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 5 * time.Second
	}
	if cfg.SessionlessTimeout <= 0 {
		cfg.SessionlessTimeout = DefaultSessionlessTimeout
	}
	s := &SSHServer{cfg: cfg, log: cfg.Logger, sessions: map[uint64]*sshSession{}}
	s.keys = newAuthorizedKeys(cfg.AuthorizedKeysPath, s.log)
	if _, err := s.keys.refresh(); err != nil {
		return nil, err
	}
	signer, created, err := LoadOrCreateHostKey(cfg.HostKeyPath)
	if err != nil {
		return nil, err
	}
	s.hostFP = Fingerprint(signer.PublicKey())
	if created {
		s.log.Info("made a new SSH host key", "path", cfg.HostKeyPath, "fingerprint", s.hostFP)
	}

	srv, err := wish.NewServer(
		func(srv *ssh.Server) error {
			srv.AddHostKey(signer)
			// An unauthenticated client may not hold a connection open.
			srv.HandshakeTimeout = 30 * time.Second
			srv.ServerConfigCallback = s.serverConfig
			srv.ConnCallback = s.connOpened
			srv.ConnectionFailedCallback = s.connFailed
			srv.ConnectionCloseCallback = s.connClosed
			return nil
		},
		// Public keys only: with no password or keyboard-interactive
		// handler, neither method is even offered to clients.
		wish.WithPublicKeyAuth(s.authorize),
		wish.WithMiddleware(
			// The first is innermost: a session passes the connection's
			// count, the terminal check, the command check and admission
			// before it is logged, runs its App, and hears why it ended.
			rm.MiddlewareWithLogger(printfLogger{s.log},
				s.runApp, s.logSession, s.sayFarewell, s.admission, refuseCommands(s), requirePTY(s), s.countSession),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("set up the SSH server: %w", err)
	}
	s.srv = srv
	return s, nil
}

// DefaultSessionlessTimeout is how long an authenticated connection may go
// without a session (see SSHConfig.SessionlessTimeout).
const DefaultSessionlessTimeout = 30 * time.Second

// maxConns caps the connections open at once: every session needs one,
// and a client may hold a few more for a moment (a reconnect, an ssh
// ControlMaster). Zero: no cap, as with MaxSessions.
func (s *SSHServer) maxConns() int64 {
	if s.cfg.MaxSessions <= 0 {
		return 0
	}
	return int64(2*s.cfg.MaxSessions + 8)
}

// HostKeyFingerprint is the SHA256 fingerprint clients are shown on their
// first connection.
func (s *SSHServer) HostKeyFingerprint() string { return s.hostFP }

// Sessions is how many sessions are open.
func (s *SSHServer) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Serve accepts connections on ln until ctx ends, then stops accepting,
// ends every session (each is told why), and closes what connections
// remain. It returns nil after a shutdown asked for by ctx.
func (s *SSHServer) Serve(ctx context.Context, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(ln) }()
	var err error
	select {
	case err = <-served:
		s.log.Error("the SSH listener failed; stopping", "err", err.Error())
	case <-ctx.Done():
		s.log.Info("stopping the SSH server", "sessions", s.Sessions())
	}
	s.shutdown()
	if ctx.Err() == nil {
		return fmt.Errorf("serve SSH on %s: %w", ln.Addr(), err)
	}
	<-served
	return nil
}

func (s *SSHServer) shutdown() {
	s.mu.Lock()
	s.closing = true
	open := make([]*sshSession, 0, len(s.sessions))
	for _, ss := range s.sessions {
		open = append(open, ss)
	}
	s.mu.Unlock()

	// Shutdown closes the listeners at once, then waits for connections.
	graceCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	shut := make(chan struct{})
	go func() {
		defer close(shut)
		_ = s.srv.Shutdown(graceCtx)
	}()
	for _, ss := range open {
		ss.end(endShutdown)
	}
	ended := make(chan struct{})
	go func() {
		s.running.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-graceCtx.Done():
		s.log.Warn("sessions did not end within the shutdown grace; closing their connections", "grace", s.cfg.ShutdownGrace)
	}
	// Clients may keep a connection open after its session ended; the
	// server is going, so they go too.
	_ = s.srv.Close()
	<-shut
	select {
	case <-ended:
	case <-time.After(s.cfg.ShutdownGrace):
		s.log.Error("sessions still running after their connections closed", "sessions", s.Sessions())
	}
}

// admit registers a session, or says why it may not start.
func (s *SSHServer) admit(ss *sshSession) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return "tui is shutting down; try again in a minute."
	case s.cfg.MaxSessions > 0 && len(s.sessions) >= s.cfg.MaxSessions:
		return fmt.Sprintf("tui: all %d sessions are in use; try again later (the operator can raise --max-sessions).", s.cfg.MaxSessions)
	}
	s.nextID++
	ss.id = s.nextID
	s.sessions[ss.id] = ss
	s.running.Add(1)
	return ""
}

func (s *SSHServer) release(ss *sshSession) {
	s.mu.Lock()
	delete(s.sessions, ss.id)
	s.mu.Unlock()
	s.running.Done()
}

// broadcast tells every session but from that stored data changed, so a
// campaign saved in one session shows in the others.
func (s *SSHServer) broadcast(from *sshSession, what DataKind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if ss != from {
			ss.offerPeerChange(what)
		}
	}
}

// sessionKey holds a session's *sshSession in its context, from
// admission on.
type sessionKey struct{}

func sessionOf(sess ssh.Session) *sshSession {
	ss, _ := sess.Context().Value(sessionKey{}).(*sshSession)
	return ss
}

// countSession keeps the connection open while it holds a session: one
// that holds none is closed after SessionlessTimeout.
func (s *SSHServer) countSession(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		ci := s.conn(sess.RemoteAddr().String())
		ci.sessionStarted()
		defer ci.sessionEnded(s.cfg.SessionlessTimeout)
		next(sess)
	}
}

// requirePTY refuses a session without a terminal: the TUI needs one.
func requirePTY(s *SSHServer) wish.Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(sess ssh.Session) {
			if _, _, ok := sess.Pty(); !ok {
				s.refuse(sess, "no terminal", "tui is a terminal app and needs one: connect with plain `ssh` or `ssh -t`, not `ssh -T` or from a script.")
				return
			}
			next(sess)
		}
	}
}

// refuseCommands refuses `ssh host CMD`: the server runs the TUI only.
func refuseCommands(s *SSHServer) wish.Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(sess ssh.Session) {
			if cmd := sess.RawCommand(); cmd != "" {
				s.refuse(sess, "command given", fmt.Sprintf("tui over SSH runs no commands (got %q): connect without one.", cmd))
				return
			}
			next(sess)
		}
	}
}

// admission registers the session, unless the server is stopping or full,
// and releases it when it ends.
func (s *SSHServer) admission(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		ss := &sshSession{
			srv:         s,
			sess:        sess,
			user:        sess.User(),
			fingerprint: Fingerprint(sess.PublicKey()),
			remote:      sess.RemoteAddr().String(),
			started:     time.Now(),
			peerReady:   make(chan struct{}, 1),
			peerWhat:    map[DataKind]bool{},
			quit:        make(chan struct{}),
			done:        make(chan struct{}),
		}
		if why := s.admit(ss); why != "" {
			s.refuse(sess, why, why)
			return
		}
		defer s.release(ss)
		sess.Context().SetValue(sessionKey{}, ss)
		next(sess)
	}
}

// sayFarewell tells the person why their session ended, and ends it with
// an exit status: 1 after a panic.
func (s *SSHServer) sayFarewell(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		next(sess)
		ss := sessionOf(sess)
		if text := ss.farewell(ss.final); text != "" {
			_, _ = fmt.Fprint(sess, "\n"+text+"\n")
		}
		code := 0
		if ss.final == endPanic {
			code = 1
		}
		_ = sess.Exit(code)
	}
}

// logSession logs a session's start and its end with the reason.
func (s *SSHServer) logSession(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		ss := sessionOf(sess)
		pty, _, _ := sess.Pty()
		s.log.Info("ssh session started", "session", ss.id, "user", ss.user, "fingerprint", ss.fingerprint, "remote", ss.remote,
			"term", pty.Term, "width", pty.Window.Width, "height", pty.Window.Height, "open", s.Sessions())
		next(sess)
		s.log.Info("ssh session ended", "session", ss.id, "user", ss.user, "remote", ss.remote,
			"reason", ss.final.String(), "duration", time.Since(ss.started).Round(time.Millisecond).String())
	}
}

// runApp is the session's own App in its own program, built exactly as
// the interactive TUI builds one; it records why the session ended.
func (s *SSHServer) runApp(ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		ss := sessionOf(sess)
		_, winCh, _ := sess.Pty()
		c := NewCommon(s.cfg.Store, SSHActor(ss.user, sess.PublicKey()), s.redisStatus()).WithSending(s.cfg.Sends, s.cfg.Hub, s.cfg.Worker)
		c.WorkerShared = s.cfg.Worker != nil
		// The session's commands end with its connection.
		c.Ctx = sess.Context()
		ss.app = NewApp(c)
		// MakeOptions gives the program the session as its terminal and the
		// colour profile its TERM asks for; the filter (which replaces the one
		// MakeOptions adds) watches what flows through the session. Signals
		// belong to the server, not to each session.
		opts := append(bm.MakeOptions(sess), tea.WithoutSignalHandler(), tea.WithFilter(ss.filter))
		ss.prog = tea.NewProgram(ss.app, opts...)
		_, runErr := ss.run(winCh)

		reason := endReason(ss.reason.Load())
		switch {
		case errors.Is(runErr, tea.ErrProgramPanic):
			reason = endPanic
			s.log.Error("ssh session panicked; it was ended and the others go on (the stack is above)",
				"session", ss.id, "user", ss.user, "fingerprint", ss.fingerprint, "remote", ss.remote)
		case runErr != nil && reason == endQuit && sess.Context().Err() == nil:
			s.log.Warn("ssh session ended with an error", "session", ss.id, "user", ss.user, "remote", ss.remote, "err", runErr.Error())
		}
		if reason == endQuit && sess.Context().Err() != nil {
			reason = endDisconnect
		}
		ss.final = reason
	}
}

// refuse ends a session before it starts, with one line that says why.
func (s *SSHServer) refuse(sess ssh.Session, why, text string) {
	s.log.Warn("ssh session refused", "user", sess.User(), "remote", sess.RemoteAddr().String(),
		"fingerprint", Fingerprint(sess.PublicKey()), "reason", why)
	_, _ = fmt.Fprintln(sess.Stderr(), text)
	_ = sess.Exit(1)
}

func (s *SSHServer) redisStatus() queue.Status {
	if s.cfg.Conn != nil {
		return s.cfg.Conn.Status()
	}
	return queue.IdleStatus(queue.DefaultURL)
}

// authorize is the public-key check, against the authorized_keys file as
// it is now.
func (s *SSHServer) authorize(ctx ssh.Context, key ssh.PublicKey) bool {
	ok, why := s.keys.allows(key, ctx.RemoteAddr())
	if !ok {
		s.log.Warn("ssh authentication refused", "user", ctx.User(), "remote", remoteOf(ctx.RemoteAddr()),
			"method", "publickey", "fingerprint", Fingerprint(key), "reason", why)
	}
	return ok
}

// serverConfig adds logging to each connection's SSH configuration: the
// accepted key once the client has proved it holds it, and every refused
// attempt at a method this server does not offer.
func (s *SSHServer) serverConfig(ssh.Context) *gossh.ServerConfig {
	return &gossh.ServerConfig{
		VerifiedPublicKeyCallback: func(conn gossh.ConnMetadata, key gossh.PublicKey, perms *gossh.Permissions, _ string) (*gossh.Permissions, error) {
			s.log.Info("ssh authentication accepted", "user", conn.User(), "remote", remoteOf(conn.RemoteAddr()),
				"method", "publickey", "fingerprint", Fingerprint(key))
			// From here the connection must open a session soon.
			s.conn(remoteOf(conn.RemoteAddr())).armSessionless(s, s.cfg.SessionlessTimeout)
			return perms, nil
		},
		AuthLogCallback: func(conn gossh.ConnMetadata, method string, err error) {
			ci := s.conn(remoteOf(conn.RemoteAddr()))
			ci.mu.Lock()
			ci.user = conn.User()
			ci.mu.Unlock()
			switch {
			case err == nil || method == "none":
				// Every client asks with "none" first to learn the methods.
			case method == "publickey":
				if !errors.Is(err, ssh.ErrPermissionDenied) {
					// authorize logged the refusals it made itself.
					s.log.Warn("ssh authentication refused", "user", conn.User(), "remote", remoteOf(conn.RemoteAddr()),
						"method", method, "reason", err.Error())
				}
			default:
				s.log.Warn("ssh authentication refused", "user", conn.User(), "remote", remoteOf(conn.RemoteAddr()),
					"method", method, "reason", "only public keys are accepted")
			}
		},
	}
}

// connInfo is what the log says about a connection when it ends, and what
// closes it when it holds no session.
type connInfo struct {
	at       time.Time
	conn     net.Conn
	mu       sync.Mutex
	user     string // the user it asked to log in as, once it did
	sessions int
	timer    *time.Timer // while authenticated without a session
	srv      *SSHServer
	closed   bool // the connection is gone: nothing to time any more
}

// armSessionless closes the connection after d unless a session opens.
func (ci *connInfo) armSessionless(s *SSHServer, d time.Duration) {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	if ci.conn == nil || ci.closed || ci.sessions > 0 || ci.timer != nil {
		return
	}
	ci.timer = time.AfterFunc(d, func() {
		ci.mu.Lock()
		idle := ci.sessions == 0
		ci.timer = nil
		user := ci.user
		ci.mu.Unlock()
		if idle {
			s.log.Warn("ssh connection closed: authenticated but held no session", "user", user,
				"remote", remoteOf(ci.conn.RemoteAddr()), "after", d.String())
			_ = ci.conn.Close()
		}
	})
}

func (ci *connInfo) sessionStarted() {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	ci.sessions++
	if ci.timer != nil {
		ci.timer.Stop()
		ci.timer = nil
	}
}

// sessionEnded starts the clock again when the last session ends and the
// client keeps the connection.
func (ci *connInfo) sessionEnded(d time.Duration) {
	ci.mu.Lock()
	ci.sessions--
	left := ci.sessions
	ci.mu.Unlock()
	if left == 0 && ci.srv != nil {
		ci.armSessionless(ci.srv, d)
	}
}

func (ci *connInfo) stop() {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	ci.closed = true
	if ci.timer != nil {
		ci.timer.Stop()
		ci.timer = nil
	}
}

func (s *SSHServer) conn(remote string) *connInfo {
	if ci, ok := s.conns.Load(remote); ok {
		return ci.(*connInfo)
	}
	return &connInfo{}
}

func (s *SSHServer) connOpened(_ ssh.Context, conn net.Conn) net.Conn {
	remote := remoteOf(conn.RemoteAddr())
	if limit := s.maxConns(); limit > 0 && s.connCount.Load() >= limit {
		s.log.Warn("ssh connection refused: too many open", "remote", remote, "open", s.connCount.Load(), "limit", limit)
		return nil
	}
	s.connCount.Add(1)
	s.conns.Store(remote, &connInfo{at: time.Now(), conn: conn, srv: s})
	s.log.Info("ssh connection opened", "remote", remote)
	return conn
}

func (s *SSHServer) connFailed(conn net.Conn, err error) {
	remote := remoteOf(conn.RemoteAddr())
	ci := s.conn(remote)
	ci.mu.Lock()
	user := ci.user
	ci.mu.Unlock()
	if strings.Contains(err.Error(), "no auth passed yet") {
		// The client ran out of methods: it had no authorized key, and
		// nothing else is offered, so a password was never even asked for.
		s.log.Warn("ssh authentication refused", "user", user, "remote", remote,
			"reason", "no authorized public key was offered; only public keys are accepted (no passwords, no keyboard-interactive)")
		return
	}
	s.log.Info("ssh connection failed before a session", "user", user, "remote", remote, "err", err.Error())
}

func (s *SSHServer) connClosed(conn net.Conn) {
	remote := remoteOf(conn.RemoteAddr())
	attrs := []any{"remote", remote}
	if ci, ok := s.conns.LoadAndDelete(remote); ok {
		ci.(*connInfo).stop()
		s.connCount.Add(-1)
		attrs = append(attrs, "duration", time.Since(ci.(*connInfo).at).Round(time.Millisecond).String())
	}
	s.log.Info("ssh connection closed", attrs...)
}

func remoteOf(a net.Addr) string {
	if a == nil {
		return "unknown"
	}
	return a.String()
}

// printfLogger lets wish's recover middleware log through slog.
type printfLogger struct{ log *slog.Logger }

func (l printfLogger) Printf(format string, args ...any) {
	l.log.Error("ssh handler panicked", "panic", strings.TrimSpace(fmt.Sprintf(format, args...)))
}
