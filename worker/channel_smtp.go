package worker

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	mail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// SMTPChannel sends each message as a UTF-8 mail (text, or text and HTML:
// see setContent) through one SMTP server, the one SMTP_URL names in the
// worker's environment:
//
//	smtp://user:pass@host:587                   STARTTLS when the server offers it
//	smtp://user:pass@host:587?starttls=required refuse to send without STARTTLS
//	smtp://host:25?starttls=none                never STARTTLS (a local relay)
//	smtps://user:pass@host:465                  TLS from the first byte
//
// Other query parameters: insecure_skip_verify=1 (self-signed certificates,
// tests), auth=plain|login|cram-md5|scram-sha-1|scram-sha-256 (the default
// picks the strongest the server offers, and never sends a password in the
// clear except to localhost), timeout=30s (for a connection's set-up, and for
// each message), max_conns=N (the server's limit on simultaneous connections;
// default: one per delivery in flight) and helo=NAME. A user name or password
// with special characters is percent-encoded (p%40ss for p@ss).
//
// Connections are kept open between deliveries and re-dialled when broken.
// Every attempt at one recipient carries the same Message-ID, derived from
// the idempotency key, so a receiver can drop a duplicate that a crash
// caused. Replies: 4xx is transient (421 also throttles the campaign), 5xx
// permanent with the server's words; a connection that fails or times out is
// transient.
type SMTPChannel struct {
	cfg   smtpSettings
	opts  []mail.Option
	slots chan struct{} // nil: no limit on connections

	mu     sync.Mutex
	idle   []*smtpConn // most recently used last
	closed bool
}

type smtpSettings struct {
	host        string
	port        int
	implicitTLS bool
	policy      mail.TLSPolicy
	user, pass  string
	hasUser     bool
	auth        string // "" picks the strongest offered
	insecure    bool
	timeout     time.Duration
	maxConns    int
	helo        string
	redacted    string
}

type smtpConn struct {
	c        *smtp.Client
	raw      net.Conn // the TCP connection under any TLS, to cut it off on cancel
	lastUsed time.Time
	// cut is set when a cancelled context may have put the socket's deadline
	// in the past: the connection must not be reused.
	cut bool
}

const (
	defaultSMTPTimeout = 30 * time.Second
	// A connection idle longer than this is checked with NOOP before use:
	// servers drop idle clients, sometimes with a 421 left in the buffer
	// that would be read as the answer to the next MAIL FROM.
	smtpIdleCheck = 10 * time.Second
	maxIdleSMTP   = 32
)

var smtpParams = []string{"starttls", "insecure_skip_verify", "auth", "timeout", "max_conns", "helo"}

// parseSMTPURL reads SMTP_URL. Its errors never contain the password.
func parseSMTPURL(raw string) (smtpSettings, error) {
	var s smtpSettings
	const examples = "smtp://user:pass@host:587 or smtps://user:pass@host:465"
	if raw == "" {
		return s, errors.New("the smtp channel needs SMTP_URL in the worker's environment, e.g. " + examples)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return s, fmt.Errorf("SMTP_URL is not a valid URL (expected %s; percent-encode special characters in the user name and password)", examples)
	}
	s.redacted = u.Redacted()
	switch u.Scheme {
	case "smtp":
		s.port, s.policy = 587, mail.TLSOpportunistic
	case "smtps":
		s.port, s.implicitTLS, s.policy = 465, true, mail.NoTLS
	default:
		return s, fmt.Errorf("SMTP_URL %s: the scheme must be smtp:// or smtps://, e.g. %s", s.redacted, examples)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return s, fmt.Errorf("SMTP_URL %s names no host, e.g. %s", s.redacted, examples)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return s, fmt.Errorf("SMTP_URL %s: port %q is not a number from 1 to 65535", s.redacted, p)
		}
		s.port = n
	}
	if u.User != nil {
		s.hasUser = true
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	s.timeout = defaultSMTPTimeout
	q := u.Query()
	for k := range q {
		if !slices.Contains(smtpParams, k) {
			return s, fmt.Errorf("SMTP_URL %s: unknown parameter %q (known: %s)", s.redacted, k, strings.Join(smtpParams, ", "))
		}
	}
	switch v := strings.ToLower(q.Get("starttls")); v {
	case "", "opportunistic":
	case "required", "none":
		if s.implicitTLS {
			return s, fmt.Errorf("SMTP_URL %s: starttls does not apply to smtps://, which is TLS from the start", s.redacted)
		}
		s.policy = mail.TLSMandatory
		if v == "none" {
			s.policy = mail.NoTLS
		}
	default:
		return s, fmt.Errorf("SMTP_URL %s: starttls=%q must be opportunistic, required or none", s.redacted, v)
	}
	if v := q.Get("insecure_skip_verify"); v != "" {
		if s.insecure, err = strconv.ParseBool(v); err != nil {
			return s, fmt.Errorf("SMTP_URL %s: insecure_skip_verify=%q must be 1 or 0", s.redacted, v)
		}
	}
	switch v := strings.ToUpper(q.Get("auth")); v {
	case "", "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256":
		s.auth = v
	default:
		return s, fmt.Errorf("SMTP_URL %s: auth=%q must be plain, login, cram-md5, scram-sha-1 or scram-sha-256", s.redacted, q.Get("auth"))
	}
	if s.auth != "" && !s.hasUser {
		return s, fmt.Errorf("SMTP_URL %s: auth=%s needs a user name and password in the URL", s.redacted, q.Get("auth"))
	}
	if v := q.Get("timeout"); v != "" {
		if s.timeout, err = time.ParseDuration(v); err != nil || s.timeout <= 0 {
			return s, fmt.Errorf("SMTP_URL %s: timeout=%q must be a positive duration such as 30s", s.redacted, v)
		}
	}
	if v := q.Get("max_conns"); v != "" {
		if s.maxConns, err = strconv.Atoi(v); err != nil || s.maxConns < 1 {
			return s, fmt.Errorf("SMTP_URL %s: max_conns=%q must be a whole number of at least 1", s.redacted, v)
		}
	}
	s.helo = q.Get("helo")
	return s, nil
}

// NewSMTPChannel reads the server's URL (SMTP_URL); it dials nothing until
// the first delivery.
func NewSMTPChannel(smtpURL string) (*SMTPChannel, error) {
	cfg, err := parseSMTPURL(smtpURL)
	if err != nil {
		return nil, err
	}
	tlsConf := &tls.Config{ServerName: cfg.host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.insecure} //nolint:gosec // only when SMTP_URL asks
	opts := []mail.Option{
		mail.WithPort(cfg.port),
		mail.WithTimeout(cfg.timeout),
		// go-mail's default is mandatory STARTTLS: always state the policy.
		mail.WithTLSPolicy(cfg.policy),
		mail.WithTLSConfig(tlsConf),
		mail.WithDialContextFunc(dialSMTP(cfg, tlsConf)),
	}
	if cfg.implicitTLS {
		opts = append(opts, mail.WithSSL())
	}
	if cfg.helo != "" {
		opts = append(opts, mail.WithHELO(cfg.helo))
	}
	c := &SMTPChannel{cfg: cfg, opts: opts}
	if _, err := c.newDialer(); err != nil {
		return nil, fmt.Errorf("SMTP_URL %s: %w", cfg.redacted, err)
	}
	if cfg.maxConns > 0 {
		c.slots = make(chan struct{}, cfg.maxConns)
	}
	return c, nil
}

// newDialer returns a go-mail client for one dial: the authentication
// mechanisms keep state during the exchange, so concurrent dials must not
// share one.
func (c *SMTPChannel) newDialer() (*mail.Client, error) {
	opts := c.opts
	if c.cfg.hasUser {
		opts = append(slices.Clip(opts), mail.WithSMTPAuthCustom(&smtpAuth{user: c.cfg.user, pass: c.cfg.pass, mech: c.cfg.auth}))
	}
	return mail.NewClient(c.cfg.host, opts...)
}

// rawConnSlot lets the dial function hand the TCP connection back to the
// delivery that asked for it, through the dial's context. go-mail bounds the
// greeting, STARTTLS and AUTH by its timeout only, so the dial function also
// arms a cut-off on the delivery's own context, which get disarms.
type rawConnSlot struct {
	ctx  context.Context
	conn net.Conn
	stop func() bool
}

type rawConnKey struct{}

// dialSMTP dials TCP (and TLS for smtps://) itself so that the delivery holds
// the raw connection: go-mail's SMTP client takes a lock around each command
// that a cancelled context could not get past, but a deadline on the socket
// ends the command at once.
func dialSMTP(cfg smtpSettings, tlsConf *tls.Config) mail.DialContextFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if slot, ok := ctx.Value(rawConnKey{}).(*rawConnSlot); ok {
			slot.conn = conn
			slot.stop = context.AfterFunc(slot.ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		}
		if !cfg.implicitTLS {
			return conn, nil
		}
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		return tc, nil
	}
}

// MessageID is the Message-ID (without angle brackets) that every attempt at
// one recipient carries: the idempotency key, and a hash of it with the
// sender so that two senders reusing IDs do not collide, at the sender's
// domain.
func MessageID(key, from string) string {
	domain := "tui.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i < len(from)-1 {
		domain = strings.Trim(from[i+1:], "<> ")
	}
	sum := sha256.Sum256([]byte(key + "\x00" + from))
	return "tui." + strings.ReplaceAll(key, ":", ".") + "." + hex.EncodeToString(sum[:8]) + "@" + domain
}

// compose builds the mail; an address that cannot be sent to fails for good.
func (c *SMTPChannel) compose(d Delivery) (msg *mail.Msg, from, to string, err error) {
	if d.Job.From == "" {
		return nil, "", "", Permanent("the campaign has no from address: set it with --from")
	}
	m := mail.NewMsg()
	if err := m.From(d.Job.From); err != nil {
		return nil, "", "", Permanent("the campaign's from address %q is not a mail address: fix it with --from", d.Job.From)
	}
	if err := m.To(d.Job.To); err != nil {
		return nil, "", "", Permanent("%q is not a mail address", d.Job.To)
	}
	m.Subject(d.Job.Subject)
	setContent(m, &d.Job)
	m.SetMessageIDWithValue(MessageID(d.Job.Key(), d.Job.From))
	m.SetDate()
	m.SetUserAgent("tui")
	if d.Job.Redelivery {
		// The same Message-ID lets the receiving side drop a second copy;
		// the header says why there may be one.
		m.SetGenHeader("X-Tui-Redelivery", "1")
	}
	from, err = m.GetSender(false)
	if err != nil {
		return nil, "", "", Permanent("the campaign's from address %q: %v", d.Job.From, err)
	}
	rcpts, err := m.GetRecipients()
	if err != nil || len(rcpts) != 1 {
		return nil, "", "", Permanent("%q is not one mail address", d.Job.To)
	}
	return m, from, rcpts[0], nil
}

// Deliver sends the message over a pooled connection.
func (c *SMTPChannel) Deliver(ctx context.Context, d Delivery) error {
	msg, from, to, err := c.compose(d)
	if err != nil {
		return err
	}
	if c.slots != nil {
		select {
		case c.slots <- struct{}{}:
			defer func() { <-c.slots }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for try := 0; ; try++ {
		conn, reused, err := c.get(ctx)
		if err != nil {
			return err
		}
		stage, err := c.send(ctx, conn, from, to, msg)
		if err == nil {
			if conn.cut {
				c.discard(conn)
			} else {
				c.put(conn)
			}
			return nil
		}
		reply := smtpReply(err)
		keep := reply != nil && reply.Code != 421 && !conn.cut && ctx.Err() == nil
		if keep && stage != "end of DATA" {
			// The transaction is still open: abort it so the next one starts clean.
			keep = conn.c.Reset() == nil
		}
		if keep {
			conn.lastUsed = time.Now()
			c.put(conn)
		} else {
			c.discard(conn)
		}
		// A reused connection that fails before the server accepted anything
		// was probably dropped while idle: nothing was sent, so one more
		// try on a fresh connection is safe.
		if reused && try == 0 && stage == "MAIL FROM" && ctx.Err() == nil && (reply == nil || reply.Code == 421) {
			continue
		}
		return c.classify(stage, err)
	}
}

// send runs one mail transaction and names the stage that failed.
func (c *SMTPChannel) send(ctx context.Context, conn *smtpConn, from, to string, msg *mail.Msg) (stage string, err error) {
	timeout := c.cfg.timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	if err := conn.c.UpdateDeadline(timeout); err != nil {
		return "MAIL FROM", err
	}
	// Set after the deadline above, so a context cancelled meanwhile still wins.
	stop := context.AfterFunc(ctx, func() { _ = conn.raw.SetDeadline(time.Unix(1, 0)) })
	defer func() { conn.cut = !stop() }()
	if err := conn.c.Mail(from); err != nil {
		return "MAIL FROM", err
	}
	if err := conn.c.Rcpt(to); err != nil {
		return "RCPT TO", err
	}
	w, err := conn.c.Data()
	if err != nil {
		return "DATA", err
	}
	if _, err := msg.WriteTo(w); err != nil {
		_ = w.Close()
		return "message content", err
	}
	if err := w.Close(); err != nil {
		return "end of DATA", err
	}
	conn.lastUsed = time.Now()
	return "", nil
}

// get returns an idle connection (checked with NOOP when it has been idle a
// while) or dials a new one; reused says which.
func (c *SMTPChannel) get(ctx context.Context) (conn *smtpConn, reused bool, err error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, false, Transient("the smtp channel is closed: the worker is shutting down")
		}
		if n := len(c.idle); n > 0 {
			conn = c.idle[n-1]
			c.idle = c.idle[:n-1]
		}
		c.mu.Unlock()
		if conn == nil {
			break
		}
		if time.Since(conn.lastUsed) < smtpIdleCheck {
			return conn, true, nil
		}
		if c.noop(ctx, conn) == nil {
			return conn, true, nil
		}
		c.discard(conn)
		conn = nil
	}
	dialer, err := c.newDialer()
	if err != nil {
		return nil, false, Permanent("smtp set-up for %s: %v", c.cfg.redacted, err)
	}
	slot := &rawConnSlot{ctx: ctx}
	client, err := dialer.DialToSMTPClientWithContext(context.WithValue(ctx, rawConnKey{}, slot))
	cut := slot.stop != nil && !slot.stop()
	if err != nil {
		// go-mail leaves the socket open when the greeting, STARTTLS or AUTH fails.
		if slot.conn != nil {
			slot.conn.Close()
		}
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, c.classifyDial(err)
	}
	conn = &smtpConn{c: client, raw: slot.conn, lastUsed: time.Now()}
	if cut {
		c.discard(conn)
		return nil, false, ctx.Err()
	}
	return conn, false, nil
}

func (c *SMTPChannel) noop(ctx context.Context, conn *smtpConn) error {
	if err := conn.c.UpdateDeadline(min(c.cfg.timeout, 5*time.Second)); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.raw.SetDeadline(time.Unix(1, 0)) })
	err := conn.c.Noop()
	if !stop() && err == nil {
		err = ctx.Err()
	}
	return err
}

// put returns a healthy connection to the pool.
func (c *SMTPChannel) put(conn *smtpConn) {
	c.mu.Lock()
	if !c.closed && len(c.idle) < maxIdleSMTP {
		c.idle = append(c.idle, conn)
		conn = nil
	}
	c.mu.Unlock()
	if conn != nil {
		c.quit(conn)
	}
}

// discard drops a connection in an unknown state without a word to the server.
func (c *SMTPChannel) discard(conn *smtpConn) {
	if conn.raw != nil {
		_ = conn.raw.Close()
	}
	_ = conn.c.Close()
}

// quit says goodbye politely, but briefly.
func (c *SMTPChannel) quit(conn *smtpConn) {
	if conn.c.UpdateDeadline(2*time.Second) == nil {
		_ = conn.c.Quit()
	}
	c.discard(conn)
}

// Close ends the idle connections; connections in use end when their
// delivery does.
func (c *SMTPChannel) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, conn := range idle {
		wg.Go(func() { c.quit(conn) })
	}
	wg.Wait()
	return nil
}

// smtpReply is the server's reply inside err, if the server sent one.
func smtpReply(err error) *textproto.Error {
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return reply
	}
	return nil
}

// classify turns a failed transaction into a DeliveryError.
func (c *SMTPChannel) classify(stage string, err error) *DeliveryError {
	if reply := smtpReply(err); reply != nil {
		de := replyError(fmt.Sprintf("smtp %s at %s:%d", stage, c.cfg.host, c.cfg.port), reply)
		if !de.Transient {
			de.Scope = smtpScope(stage, reply)
			if de.Scope == ScopeSender {
				de.Reason += " (authentication: check the user name and password in SMTP_URL)"
			}
		}
		de.Bounce = isBounce(stage, reply)
		return de
	}
	if stage == "end of DATA" {
		return &DeliveryError{Transient: true, Reason: fmt.Sprintf(
			"smtp connection to %s:%d lost during %s (%v): the server may have accepted the message; the retry carries the same Message-ID",
			c.cfg.host, c.cfg.port, stage, err)}
	}
	return &DeliveryError{Transient: true, Reason: fmt.Sprintf("smtp %s at %s:%d: %v", stage, c.cfg.host, c.cfg.port, err)}
}

// replyError classifies a server reply: 4xx transient (421 also throttled),
// everything else permanent, with the server's words.
func replyError(where string, reply *textproto.Error) *DeliveryError {
	de := &DeliveryError{Reason: where + ": " + excerpt([]byte(fmt.Sprintf("%03d %s", reply.Code, reply.Msg)))}
	if reply.Code >= 400 && reply.Code < 500 {
		de.Transient = true
		de.Throttled = reply.Code == 421
	}
	return de
}

// smtpScope says whom a permanent reply inside a mail transaction concerns.
// Authentication replies concern the worker wherever they come; a refused
// recipient mailbox concerns that recipient; a refusal of the sender, the
// message or a policy (5.7.x: relaying denied, DMARC, spam) may concern
// either.
func smtpScope(stage string, reply *textproto.Error) Scope {
	switch reply.Code {
	case 530, 534, 535, 538: // authentication required, too weak, failed, needs encryption
		return ScopeSender
	}
	enhanced, _, _ := strings.Cut(strings.TrimSpace(reply.Msg), " ")
	switch {
	case strings.HasPrefix(enhanced, "5.7.0") && strings.Contains(strings.ToLower(reply.Msg), "auth"),
		strings.HasPrefix(enhanced, "5.7.8"), strings.HasPrefix(enhanced, "5.7.9"):
		return ScopeSender
	case stage != "RCPT TO", strings.HasPrefix(enhanced, "5.7."), reply.Code == 554:
		return ScopeUnclear
	}
	return ScopeRecipient
}

// errSMTPAuthMech is a server that offers no mechanism we may use.
type errSMTPAuthMech struct{ msg string }

func (e *errSMTPAuthMech) Error() string { return e.msg }

// classifyDial turns a failed connection set-up into a DeliveryError. Errors
// that a retry cannot fix (certificates, STARTTLS not offered when required,
// authentication) are permanent and say what to change.
func (c *SMTPChannel) classifyDial(err error) *DeliveryError {
	de := c.classifyDialError(err)
	if !de.Transient {
		// Nothing about a recipient is said before MAIL FROM: a connection
		// that cannot be set up for good fails every delivery alike.
		de.Scope = ScopeSender
	}
	return de
}

func (c *SMTPChannel) classifyDialError(err error) *DeliveryError {
	where := fmt.Sprintf("smtp connection to %s:%d", c.cfg.host, c.cfg.port)
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verifyFail *tls.CertificateVerificationError
		mech       *errSMTPAuthMech
	)
	switch {
	case smtpReply(err) != nil:
		de := replyError(where, smtpReply(err))
		if strings.Contains(err.Error(), "SMTP AUTH failed") {
			de.Reason += " (authentication: check the user name and password in SMTP_URL)"
		}
		return de
	case errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verifyFail):
		return &DeliveryError{Reason: fmt.Sprintf("%s: TLS certificate not trusted (%v): fix the server's certificate, or add ?insecure_skip_verify=1 to SMTP_URL for a test server", where, err)}
	case errors.As(err, &mech):
		return &DeliveryError{Reason: where + ": " + mech.msg}
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		return &DeliveryError{Reason: where + ": the server does not offer STARTTLS and SMTP_URL has starttls=required: use smtps:// if the server has TLS on another port, or remove starttls=required"}
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return &DeliveryError{Transient: true, Reason: fmt.Sprintf("%s: no answer within %s: %v", where, c.cfg.timeout, err)}
	}
	return &DeliveryError{Transient: true, Reason: fmt.Sprintf("%s: %v", where, err)}
}

// smtpAuth chooses the mechanism when the server has said which it offers.
// It never sends a password in the clear (PLAIN, LOGIN) except over TLS or to
// localhost: the underlying mechanisms refuse to.
type smtpAuth struct {
	user, pass string
	mech       string
	chosen     smtp.Auth
}

func (a *smtpAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	offered := func(m string) bool {
		return slices.ContainsFunc(server.Auth, func(s string) bool { return strings.EqualFold(s, m) })
	}
	clearOK := server.TLS || server.Name == "localhost" || server.Name == "127.0.0.1" || server.Name == "::1"
	mech := a.mech
	if mech == "" {
		for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN", "CRAM-MD5"} {
			if offered(m) && (clearOK || (m != "PLAIN" && m != "LOGIN")) {
				mech = m
				break
			}
		}
	}
	if mech == "" {
		if len(server.Auth) == 0 {
			return "", nil, &errSMTPAuthMech{"SMTP_URL has a user name but the server offers no authentication: remove the credentials from SMTP_URL, or use smtps:// or ?starttls=required if the server offers it only over TLS"}
		}
		return "", nil, &errSMTPAuthMech{fmt.Sprintf("the server offers authentication by %s, which would send the password unencrypted: use smtps:// or ?starttls=required", strings.Join(server.Auth, ", "))}
	}
	if !offered(mech) {
		return "", nil, &errSMTPAuthMech{fmt.Sprintf("SMTP_URL asks for auth=%s but the server offers %s", strings.ToLower(mech), strings.Join(server.Auth, ", "))}
	}
	if (mech == "PLAIN" || mech == "LOGIN") && !clearOK {
		return "", nil, &errSMTPAuthMech{fmt.Sprintf("auth=%s would send the password unencrypted: use smtps:// or ?starttls=required", strings.ToLower(mech))}
	}
	switch mech {
	case "SCRAM-SHA-256":
		a.chosen = smtp.ScramSHA256Auth(a.user, a.pass)
	case "SCRAM-SHA-1":
		a.chosen = smtp.ScramSHA1Auth(a.user, a.pass)
	case "PLAIN":
		a.chosen = smtp.PlainAuth("", a.user, a.pass, server.Name, false)
	case "LOGIN":
		a.chosen = smtp.LoginAuth(a.user, a.pass, server.Name, false)
	default:
		a.chosen = smtp.CRAMMD5Auth(a.user, a.pass)
	}
	return a.chosen.Start(server)
}

func (a *smtpAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.chosen.Next(fromServer, more)
}
