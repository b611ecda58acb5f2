package queue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

func init() {
	// go-redis logs dial failures to stderr, which would corrupt the screen;
	// failures reach people through Status instead.
	redis.SetLogger(&logging.VoidLogger{})
}

// FirstDialBudget bounds how long the first dial may take before the send
// is refused: a refused or unresolvable Redis is reported within it.
const FirstDialBudget = 900 * time.Millisecond

// Conn is the lazy Redis connection: created when a send starts, then kept.
// Its state is pushed to every subscriber. Nothing dials until Client is
// called.
type Conn struct {
	raw      string
	redacted string
	opts     *redis.UniversalOptions

	mu      sync.Mutex
	client  redis.UniversalClient
	status  Status
	subs    map[int]chan Status
	nextSub int
	dialing chan struct{} // closed when an in-progress first dial ends
	stop    chan struct{}
	done    chan struct{}
	closed  bool

	// PingEvery is how often a connected Conn refreshes its round-trip time
	// and notices a lost server.
	PingEvery time.Duration
}

// ParseURL turns a Redis URL into client options without dialling.
// redis:// and rediss:// (TLS) URLs with ACL user, password and database
// number; ?addr=host:port (repeatable) adds Cluster nodes, and
// ?master_name=NAME makes the host list Sentinels. TLS takes
// ?tls_ca=FILE (the CA that signed the server's certificate), ?tls_cert=
// and ?tls_key= (a client certificate, for a server with tls-auth-clients),
// and ?insecure_skip_verify=1 (skip_verify=true is go-redis's spelling,
// accepted too); REDIS_TLS_CA, REDIS_TLS_CERT and REDIS_TLS_KEY fill in
// what the URL leaves out.
func ParseURL(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: use redis://[user:password@]host:port/db", RedactURL(raw))
	}
	q := u.Query()
	extra, master := q["addr"], q.Get("master_name")
	sentinelPass := q.Get("sentinel_password")
	files := tlsFiles{ca: q.Get("tls_ca"), cert: q.Get("tls_cert"), key: q.Get("tls_key")}
	skip := q.Get("insecure_skip_verify")
	if skip == "" {
		skip = q.Get("skip_verify")
	}
	for _, k := range []string{"addr", "master_name", "sentinel_password", "tls_ca", "tls_cert", "tls_key",
		"insecure_skip_verify", "skip_verify"} {
		q.Del(k)
	}
	u.RawQuery = q.Encode()
	o, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %s", RedactURL(raw), strings.TrimPrefix(err.Error(), "redis: "))
	}
	if o.Network == "unix" {
		return nil, errors.New("unix socket URLs are not supported: use redis://host:port")
	}
	uo := &redis.UniversalOptions{
		Addrs:            append([]string{o.Addr}, extra...),
		DB:               o.DB,
		Username:         o.Username,
		Password:         o.Password,
		MasterName:       master,
		SentinelPassword: sentinelPass,
		TLSConfig:        o.TLSConfig,
		ReadTimeout:      o.ReadTimeout,
		WriteTimeout:     o.WriteTimeout,
		PoolSize:         o.PoolSize,
	}
	if master == "" && len(uo.Addrs) > 1 && uo.DB != 0 {
		return nil, fmt.Errorf("%s: Redis Cluster has only database 0: drop /%d from the URL", RedactURL(raw), uo.DB)
	}
	files.fillFromEnv()
	if u.Scheme != "rediss" {
		if files.any() || skip != "" {
			return nil, fmt.Errorf("%s: tls_ca, tls_cert, tls_key and insecure_skip_verify need a rediss:// URL (TLS)", RedactURL(raw))
		}
		return uo, nil
	}
	if uo.TLSConfig == nil {
		uo.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch strings.ToLower(skip) {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		uo.TLSConfig.InsecureSkipVerify = true
	default:
		return nil, fmt.Errorf("%s: insecure_skip_verify must be 1 or 0, not %q", RedactURL(raw), skip)
	}
	if err := files.apply(uo.TLSConfig); err != nil {
		return nil, fmt.Errorf("%s: %w", RedactURL(raw), err)
	}
	return uo, nil
}

// tlsFiles are the PEM files of a TLS connection to Redis.
type tlsFiles struct{ ca, cert, key string }

func (f *tlsFiles) any() bool { return f.ca != "" || f.cert != "" || f.key != "" }

func (f *tlsFiles) fillFromEnv() {
	for _, v := range []struct {
		dst *string
		env string
	}{{&f.ca, "REDIS_TLS_CA"}, {&f.cert, "REDIS_TLS_CERT"}, {&f.key, "REDIS_TLS_KEY"}} {
		if *v.dst == "" {
			*v.dst = os.Getenv(v.env)
		}
	}
}

func (f *tlsFiles) apply(c *tls.Config) error {
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return fmt.Errorf("read the CA file (tls_ca or REDIS_TLS_CA): %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("the CA file %s (tls_ca or REDIS_TLS_CA) holds no PEM certificate", f.ca)
		}
		c.RootCAs = pool
	}
	switch {
	case f.cert == "" && f.key == "":
	case f.cert == "" || f.key == "":
		return errors.New("a client certificate needs both tls_cert and tls_key (or REDIS_TLS_CERT and REDIS_TLS_KEY)")
	default:
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return fmt.Errorf("load the client certificate (tls_cert, tls_key): %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return nil
}

// NewConn prepares a connection to raw (DefaultURL when empty) without
// dialling. It fails only on a malformed URL.
func NewConn(raw string) (*Conn, error) {
	if raw == "" {
		raw = DefaultURL
	}
	opts, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	// Report a missing server at once rather than after go-redis's retry
	// ladder; the monitor loop does the patient reconnecting.
	opts.MaxRetries = 1
	opts.DialerRetries = 1
	opts.DialerRetryTimeout = 50 * time.Millisecond
	opts.DialTimeout = FirstDialBudget
	opts.MinIdleConns = 0 // > 0 would dial eagerly
	opts.ContextTimeoutEnabled = true
	c := &Conn{raw: raw, redacted: RedactURL(raw), opts: opts, subs: map[int]chan Status{},
		PingEvery: 2 * time.Second}
	c.status = Status{State: Idle, URL: c.redacted}
	return c, nil
}

// URL is the connection's URL with its password hidden.
func (c *Conn) URL() string { return c.redacted }

// Status is the current state.
func (c *Conn) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Subscribe returns a channel that receives the latest state whenever it
// changes (slow readers see only the newest), and a function to stop.
func (c *Conn) Subscribe() (<-chan Status, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan Status, 1)
	id := c.nextSub
	c.nextSub++
	c.subs[id] = ch
	ch <- c.status
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.subs, id)
	}
}

func (c *Conn) setStatus(s Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setStatusLocked(s)
}

func (c *Conn) setStatusLocked(s Status) {
	s.URL = c.redacted
	s.Err = c.redactErr(s.Err)
	c.status = s
	for _, ch := range c.subs {
		select { // latest wins
		case <-ch:
		default:
		}
		ch <- s
	}
}

// redactErr removes the password from an error text, whatever produced it.
func (c *Conn) redactErr(msg string) string {
	if c.opts.Password != "" {
		msg = strings.ReplaceAll(msg, c.opts.Password, "xxxxx")
	}
	if c.opts.SentinelPassword != "" {
		msg = strings.ReplaceAll(msg, c.opts.SentinelPassword, "xxxxx")
	}
	return msg
}

// UnavailableError says Redis could not be reached, where, why, and what to do.
type UnavailableError struct {
	URL   string // redacted
	Cause string // redacted
}

func (e *UnavailableError) Error() string {
	if !answered(e.Cause) {
		return fmt.Sprintf("cannot reach Redis at %s: %s. Start it (redis-server, or systemctl start redis-server) or point tui at yours with REDIS_URL or --redis",
			e.URL, e.Cause)
	}
	// Redis answered; starting it is not the advice.
	return fmt.Sprintf("cannot use Redis at %s: %s", e.URL, e.Cause)
}

// Answered reports that Redis, or the TLS in front of it, answered: it is
// running, and what failed is elsewhere (a password, a permission).
func (e *UnavailableError) Answered() bool { return answered(e.Cause) }

// answered reports a cause (as describeDialError words it) that Redis, or
// the TLS in front of it, gave: it is running, and the fix is elsewhere.
func answered(cause string) bool {
	return strings.HasPrefix(cause, "TLS:") || strings.Contains(cause, "Cluster") ||
		strings.HasPrefix(cause, "authentication ") || strings.Contains(cause, "(NOPERM)")
}

// Dialled returns the client if a send has dialled it already, and nil
// otherwise; it never dials.
func (c *Conn) Dialled() redis.UniversalClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	return c.client
}

// Client returns the connected client, dialling on the first call. A failed
// first dial returns an *UnavailableError within FirstDialBudget and leaves
// the connection Unavailable; the next call tries again.
func (c *Conn) Client(ctx context.Context) (redis.UniversalClient, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, errors.New("the Redis connection is closed")
		}
		if c.client != nil {
			cl := c.client
			c.mu.Unlock()
			return cl, nil
		}
		if wait := c.dialing; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				if s := c.Status(); s.State == Unavailable {
					return nil, &UnavailableError{URL: c.redacted, Cause: s.Err}
				}
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		c.dialing = make(chan struct{})
		c.setStatusLocked(Status{State: Dialling})
		c.mu.Unlock()
		return c.firstDial(ctx)
	}
}

func (c *Conn) firstDial(ctx context.Context) (redis.UniversalClient, error) {
	dctx, cancel := context.WithTimeout(ctx, FirstDialBudget)
	start := time.Now()
	cl, err := dialTopology(dctx, c.opts)
	rtt := time.Since(start)
	cancel()

	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.dialing)
	c.dialing = nil
	if err != nil {
		cause := c.redactErr(describeDialError(err))
		c.setStatusLocked(Status{State: Unavailable, Err: cause})
		return nil, &UnavailableError{URL: c.redacted, Cause: cause}
	}
	c.client = cl
	c.setStatusLocked(Status{State: Connected, RTT: rtt})
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.monitor(cl, c.stop, c.done)
	return cl, nil
}

// dialTopology connects and pings. A single address that turns out to be a
// Cluster node (the URL people paste) becomes a Cluster client that finds
// the other nodes by itself; a Cluster has only database 0.
func dialTopology(ctx context.Context, opts *redis.UniversalOptions) (redis.UniversalClient, error) {
	cl := redis.NewUniversalClient(opts)
	if err := cl.Ping(ctx).Err(); err != nil {
		cl.Close()
		if strings.Contains(err.Error(), "SELECT is not allowed in cluster mode") {
			return nil, clusterDBError(opts)
		}
		if alert := tlsAlert(ctx, opts, err); alert != nil {
			return nil, alert
		}
		return nil, err
	}
	// INFO tells a Cluster node from a single server here, and later
	// whether a server has replicas that writes wait for. An ACL user
	// without it would pass for a single server without replicas, and
	// lose those guarantees unseen.
	info, err := cl.Info(ctx, "cluster").Result()
	if err != nil && strings.Contains(err.Error(), "NOPERM") {
		cl.Close()
		return nil, err
	}
	if _, single := cl.(*redis.Client); !single || opts.MasterName != "" {
		return cl, nil
	}
	if err != nil || !strings.Contains(info, "cluster_enabled:1") {
		return cl, nil
	}
	cl.Close()
	if opts.DB != 0 {
		return nil, clusterDBError(opts)
	}
	co := *opts
	co.IsClusterMode = true
	cc := redis.NewUniversalClient(&co)
	if err := cc.Ping(ctx).Err(); err != nil {
		cc.Close()
		return nil, err
	}
	return cc, nil
}

// tlsAlert learns why a TLS server dropped the connection. With TLS 1.3 a
// server checks the client's certificate after the client has finished its
// handshake and sent its first command; the server's alert ("certificate
// required") then races the reset its close causes, and the reset often
// wins. A second handshake that sends nothing reads the alert itself.
func tlsAlert(ctx context.Context, opts *redis.UniversalOptions, err error) error {
	msg := err.Error()
	if opts.TLSConfig == nil || len(opts.Addrs) != 1 || opts.MasterName != "" ||
		!(strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe") || errors.Is(err, io.EOF)) {
		return nil
	}
	d := tls.Dialer{Config: opts.TLSConfig.Clone()}
	conn, derr := d.DialContext(ctx, "tcp", opts.Addrs[0])
	if derr != nil {
		return derr
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	var b [1]byte
	if _, rerr := conn.Read(b[:]); rerr != nil && strings.Contains(rerr.Error(), "remote error") {
		return rerr
	}
	return nil
}

func clusterDBError(opts *redis.UniversalOptions) error {
	return &topologyError{fmt.Sprintf("%s is a Redis Cluster node, and a Cluster has only database 0: drop /%d from the URL", opts.Addrs[0], opts.DB)}
}

// topologyError is a URL that reaches Redis but cannot work as given.
type topologyError struct{ msg string }

func (e *topologyError) Error() string { return e.msg }

// describeDialError turns go-redis and net errors into a short cause.
func describeDialError(err error) string {
	msg := err.Error()
	var te *topologyError
	if errors.As(err, &te) {
		return te.msg
	}
	if s := explainTLS(err); s != "" {
		return s
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "i/o timeout"):
		return fmt.Sprintf("no answer within %s", FirstDialBudget)
	case strings.Contains(msg, "connection refused"):
		return "connection refused (is redis-server running?)"
	case strings.Contains(msg, "no such host"):
		return "unknown host"
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "invalid password"),
		strings.Contains(msg, "invalid username-password"):
		return "authentication failed: wrong username or password; check them in the URL (REDIS_URL or --redis: redis://:PASSWORD@host:port, or redis://USER:PASSWORD@host:port)"
	case strings.Contains(msg, "NOAUTH"):
		return "authentication required: put the password in the URL (REDIS_URL or --redis: redis://:PASSWORD@host:port, or redis://USER:PASSWORD@host:port)"
	case strings.Contains(msg, "NOPERM"):
		return Explain(err)
	}
	return msg
}

// monitor refreshes the round-trip time and, when the server goes away,
// reports Reconnecting with capped backoff until it is back.
func (c *Conn) monitor(cl redis.UniversalClient, stop, done chan struct{}) {
	defer close(done)
	attempt := 0
	wait := c.PingEvery
	for {
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		err := cl.Ping(ctx).Err()
		rtt := time.Since(start)
		cancel()
		if err == nil {
			attempt, wait = 0, c.PingEvery
			c.setStatus(Status{State: Connected, RTT: rtt})
			continue
		}
		attempt++
		wait = Backoff(attempt)
		c.setStatus(Status{State: Reconnecting, Attempt: attempt, NextTry: wait, Err: describeDialError(err)})
	}
}

// Backoff is the capped exponential delay before reconnect attempt n (1-based).
func Backoff(n int) time.Duration {
	d := 250 * time.Millisecond
	for i := 1; i < n && d < 10*time.Second; i++ {
		d *= 2
	}
	if d > 10*time.Second {
		d = 10 * time.Second
	}
	return d
}

// Sleep waits for d or until ctx ends, and reports whether d passed: the
// pause between retries of every loop that talks to Redis.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Close stops the monitor and closes the client, if one was ever made.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cl, stop, done := c.client, c.stop, c.done
	c.client = nil
	c.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	if cl != nil {
		return cl.Close()
	}
	return nil
}
