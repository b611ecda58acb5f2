package ui

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/charmbracelet/x/vt"

	"tui/internal/english"
	"tui/queue"
	"tui/sending"
	"tui/store"
	"tui/worker"
)

// The sending side of the screen tests: a session wired as runInteractive
// wires it (a lazy connection, the send service, a hub following sends for
// the session's lifetime, and with --worker an in-process worker waiting for
// the connection), against a real redis-server or a listener standing where
// Redis would be.

// sendRig is one process's sending machinery.
type sendRig struct {
	t    testing.TB
	st   *store.Store
	conn *queue.Conn
	svc  *sending.Service
	hub  *sending.Hub
	lw   *LocalWorker
	rec  *recorder
}

type rigOptions struct {
	worker  bool                 // run an in-process worker delivering into rec
	rec     *recorder            // nil: a recorder that delivers everything
	source  worker.ChannelSource // instead of rec, when set
	grace   time.Duration        // the worker's shutdown grace; 2 s when zero
	pingGap time.Duration        // how often the connection checks on Redis; the default when zero
}

// newSendRig wires the sending side on redisURL; everything it starts stops
// at the test's end, after the program.
func newSendRig(t testing.TB, st *store.Store, redisURL string, o rigOptions) *sendRig {
	t.Helper()
	conn, err := queue.NewConn(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	if o.pingGap > 0 {
		conn.PingEvery = o.pingGap // before any dial: the monitor reads it then
	}
	svc := sending.New(st, conn)
	r := &sendRig{t: t, st: st, conn: conn, svc: svc, hub: sending.NewHub(svc), rec: o.rec}
	if r.rec == nil {
		r.rec = newRecorder()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = r.hub.Run(ctx)
	}()
	if o.worker {
		grace := o.grace
		if grace == 0 {
			grace = 2 * time.Second
		}
		r.lw = NewLocalWorker(conn, 8, grace, func(ctx context.Context) (WorkerProcess, error) {
			rdb, err := conn.Client(ctx)
			if err != nil {
				return WorkerProcess{}, err
			}
			var source worker.ChannelSource = r.rec
			if o.source != nil {
				source = o.source
			}
			w := worker.New(rdb, worker.Config{ID: "test-worker", Concurrency: 8, ShutdownGrace: grace, Channels: source})
			return WorkerProcess{Run: w.Run,
				InFlight:  func() int64 { return w.Stats().InFlight },
				Processed: func() int64 { return w.Stats().Processed }}, nil
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = r.lw.Run(ctx)
		}()
	}
	t.Cleanup(func() {
		r.rec.release() // a test that failed may have left deliveries held
		cancel()
		wg.Wait()
		_ = conn.Close()
	})
	return r
}

// common is a session's Common on the rig.
func (r *sendRig) common() *Common {
	return NewCommon(r.st, "tester", queue.IdleStatus("")).WithSending(r.svc, r.hub, r.lw)
}

// startAppWith is startApp for a Common of the test's making. The program
// ends, and the App closes its subscriptions, before the rig stops.
func startAppWith(t *testing.T, c *Common, w, h int) *testScreen {
	t.Helper()
	app := NewApp(c)
	s := &testScreen{t: t, app: app, emu: vt.NewEmulator(w, h), stop: make(chan struct{}), copied: make(chan struct{})}
	go func() { _, _ = io.Copy(io.Discard, s.emu) }()
	s.tm = teatest.NewTestModel(t, app, teatest.WithInitialTermSize(w, h))
	go s.copyOutput()
	t.Cleanup(func() {
		s.quit()
		app.Close()
	})
	return s
}

// recorder is a delivery channel that records what it delivers. Addresses
// in fail fail permanently with their reason; while held, deliveries wait.
type recorder struct {
	mu        sync.Mutex
	delivered map[string]int // by address
	fail      map[string]string
	attempts  atomic.Int64
	hold      chan struct{}
	releaseMu sync.Once
	held      map[string]chan struct{} // deliveries to these addresses wait until closed
}

func newRecorder() *recorder {
	return &recorder{delivered: map[string]int{}, fail: map[string]string{}}
}

// holding makes deliveries wait until release.
func holdingRecorder() *recorder {
	r := newRecorder()
	r.hold = make(chan struct{})
	return r
}

func (r *recorder) release() {
	if r.hold != nil {
		r.releaseMu.Do(func() { close(r.hold) })
	}
}

func (r *recorder) Get(string) (worker.Channel, error) { return r, nil }
func (r *recorder) Close() error                       { return nil }

func (r *recorder) Deliver(ctx context.Context, d worker.Delivery) error {
	r.attempts.Add(1)
	if r.hold != nil {
		select {
		case <-r.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	wait := r.held[d.Job.To]
	r.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if reason, ok := r.fail[d.Job.To]; ok {
		return worker.Permanent("%s", reason)
	}
	r.delivered[d.Job.To]++
	return nil
}

func (r *recorder) setFail(addr, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reason == "" {
		delete(r.fail, addr)
		return
	}
	r.fail[addr] = reason
}

// holdAddr makes deliveries to addr wait until the returned release.
func (r *recorder) holdAddr(addr string) (release func()) {
	ch := make(chan struct{})
	r.mu.Lock()
	if r.held == nil {
		r.held = map[string]chan struct{}{}
	}
	r.held[addr] = ch
	r.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (r *recorder) count() (total, distinct int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.delivered {
		total += n
	}
	return total, len(r.delivered)
}

// connListener stands where Redis would be. It counts the connections made
// to it; silent ones are accepted and never answered (a dial that hangs),
// the others closed at once.
type connListener struct {
	ln     net.Listener
	count  atomic.Int64
	mu     sync.Mutex
	held   []net.Conn
	silent bool
}

func newConnListener(t *testing.T, silent bool) *connListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &connListener{ln: ln, silent: silent}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.count.Add(1)
			if !silent {
				c.Close()
				continue
			}
			l.mu.Lock()
			l.held = append(l.held, c)
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, c := range l.held {
			c.Close()
		}
	})
	return l
}

func (l *connListener) url() string { return "redis://" + l.ln.Addr().String() + "/0" }

// closedPortURL is a Redis URL where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "redis://" + addr + "/0"
}

// sendContactsCSV is n contacts u000@example.com… with a name and a city.
func sendContactsCSV(n int) string {
	var b strings.Builder
	b.WriteString("email,name,city\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "u%03d@example.com,User %d,City %d\n", i, i, i%5)
	}
	return b.String()
}

// seedSend stores a draft on the file channel with a rate.
func seedSend(t *testing.T, st *store.Store, name string, rate int) store.Campaign {
	t.Helper()
	c, err := st.CreateCampaign("tester", store.Campaign{Name: name, Channel: store.ChannelFile,
		Subject: "Hello {{.name}}", Body: "Hi {{.name}} in {{.city}}.", Rate: rate})
	if err != nil {
		t.Fatalf("seed campaign %q: %v", name, err)
	}
	return c
}

// campaignByID reads a campaign, failing the test if it cannot.
func campaignByID(t *testing.T, st *store.Store, id uint64) store.Campaign {
	t.Helper()
	c, err := st.Campaign(id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitStored polls the store until cond holds for the campaign.
func waitStored(t *testing.T, st *store.Store, id uint64, what string, cond func(store.Campaign, store.SendState) bool) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		c, _ := st.Campaign(id)
		ss, _ := st.SendState(id)
		if cond(c, ss) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: campaign %+v, send %+v", what, c, ss)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sendFromList presses s on the selected campaign and confirms with y.
func (s *testScreen) sendFromList(name string, recipients int) {
	s.t.Helper()
	s.press("s")
	s.waitFor(fmt.Sprintf("Send '%s' to %s?", name, english.Count(recipients, "recipient", "recipients")))
	s.press("y")
}
