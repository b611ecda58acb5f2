package ui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"tui/internal/redistest"
	"tui/store"
	"tui/worker"
)

// The pane's render cost per frame: 50 failures, 10 workers, 120×40.
func BenchmarkProgressPaneView(b *testing.B) {
	p, _, _ := paneFixture(nil, 50, 10)
	p.setSize(120, 37)
	b.Run("pane", func(b *testing.B) {
		for b.Loop() {
			if v := p.View(); !strings.Contains(v, "Spring sale") {
				b.Fatal("the pane lost its title")
			}
		}
	})
	b.Run("whole-frame", func(b *testing.B) {
		app := NewApp(NewCommon(nil, "bench", p.c.Redis))
		app.campaigns.sends = p.board
		p.c = app.c
		app.campaigns.push(app.campaigns.paneLayer(p))
		app.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
		for b.Loop() {
			if v := app.View(); !strings.Contains(v.Content, "Spring sale") {
				b.Fatal("the frame lost the pane")
			}
		}
	})
}

// Delivery-to-screen latency: from a delivery by a real worker, through
// Redis, the hub's fold into the ledger and the session's subscription, to
// the terminal write of the first frame whose pane shows it. Reported as
// p50 and p99 over every delivery of a send at the given rate.
func BenchmarkDeliveryToScreen(b *testing.B) {
	for _, c := range []struct{ rate, recipients int }{{1000, 4000}, {5000, 15000}} {
		b.Run(fmt.Sprintf("%d-per-s", c.rate), func(b *testing.B) {
			for b.Loop() {
				r := deliveryToScreen(b, c.rate, c.recipients)
				b.ReportMetric(ms(r.screen[0]), "p50-ms")
				b.ReportMetric(ms(r.screen[1]), "p99-ms")
				b.ReportMetric(ms(r.fold[0]), "fold-p50-ms")
				b.ReportMetric(ms(r.fold[1]), "fold-p99-ms")
				b.ReportMetric(ms(r.steady[0]), "steady-p50-ms")
				b.ReportMetric(ms(r.steady[1]), "steady-p99-ms")
				b.ReportMetric(float64(r.n), "deliveries")
			}
		})
	}
}

// timedRecorder notes when each delivery finished.
type timedRecorder struct {
	*recorder
	mu    sync.Mutex
	times []time.Time
}

func (r *timedRecorder) Deliver(ctx context.Context, d worker.Delivery) error {
	if err := r.recorder.Deliver(ctx, d); err != nil {
		return err
	}
	r.mu.Lock()
	r.times = append(r.times, time.Now())
	r.mu.Unlock()
	return nil
}

func (r *timedRecorder) Get(string) (worker.Channel, error) { return r, nil }

// frameWriter notes when the program writes a frame to the terminal.
type frameWriter struct {
	mu     sync.Mutex
	writes []time.Time
}

func (w *frameWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, time.Now())
	w.mu.Unlock()
	return len(p), nil
}

// probe is the App with its views timed: the sent count each view shows.
type probe struct {
	app   *App
	id    uint64
	mu    sync.Mutex
	shown []shownAt
}

type shownAt struct {
	n  int
	at time.Time
}

func (p *probe) Init() tea.Cmd { return p.app.Init() }
func (p *probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if f, ok := msg.(inspectMsg); ok {
		f()
		return p, nil
	}
	_, cmd := p.app.Update(msg)
	return p, cmd
}

// inspectMsg runs in the program's loop, between two updates.
type inspectMsg func()

func (p *probe) View() tea.View {
	v := p.app.View()
	if l := p.app.campaigns.sends.get(p.id); l != nil {
		n := l.count(store.RecipientSent)
		p.mu.Lock()
		if len(p.shown) == 0 || p.shown[len(p.shown)-1].n < n {
			p.shown = append(p.shown, shownAt{n: n, at: time.Now()})
		}
		p.mu.Unlock()
	}
	return v
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// latencies are p50 and p99 from a delivery to the screen, and to the
// hub's publication of the fold that holds it.
type latencies struct {
	screen, fold [2]time.Duration
	// steady leaves out the first second of deliveries: the hub looks for
	// new sends once a second, so those wait for it.
	steady [2]time.Duration
	n      int
}

// percentiles matches each delivery (the k-th in time) with the first
// moment a count of at least k was seen.
func percentiles(times []time.Time, seen []shownAt, flushAt func(time.Time) time.Time, from int) [2]time.Duration {
	lat := make([]time.Duration, 0, len(times))
	si := 0
	for k, at := range times {
		for si < len(seen) && seen[si].n < k+1 {
			si++
		}
		if si == len(seen) {
			break
		}
		if k >= from {
			lat = append(lat, max(flushAt(seen[si].at).Sub(at), 0))
		}
	}
	if len(lat) == 0 {
		return [2]time.Duration{}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return [2]time.Duration{lat[len(lat)/2], lat[len(lat)*99/100]}
}

func deliveryToScreen(b *testing.B, rate, recipients int) latencies {
	b.Helper()
	srv := redistest.Start(b)
	st, err := store.Open(b.TempDir() + "/tui.db")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var csv strings.Builder
	csv.WriteString("email,name,city\n")
	for i := 0; i < recipients; i++ {
		fmt.Fprintf(&csv, "r%06d@example.com,R %d,C\n", i, i)
	}
	if _, err := st.ImportCSV(context.Background(), strings.NewReader(csv.String()), store.ImportOptions{Actor: "bench", Name: "bench.csv"}); err != nil {
		b.Fatal(err)
	}
	camp, err := st.CreateCampaign("bench", store.Campaign{Name: "Bench", Channel: store.ChannelFile, Subject: "s", Body: "b", Rate: rate})
	if err != nil {
		b.Fatal(err)
	}
	rec := &timedRecorder{recorder: newRecorder()}
	rig := newSendRig(b, st, srv.URL(), rigOptions{worker: true, source: rec})
	var folds []shownAt
	var foldMu sync.Mutex
	sub := rig.hub.Subscribe()
	subCtx, stopSub := context.WithCancel(context.Background())
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		for {
			ups, err := sub.Next(subCtx)
			if err != nil {
				return
			}
			now := time.Now()
			for _, u := range ups {
				if u.Campaign.ID == camp.ID {
					foldMu.Lock()
					folds = append(folds, shownAt{n: u.Send.Counts[store.RecipientSent], at: now})
					foldMu.Unlock()
				}
			}
		}
	}()
	defer func() { stopSub(); <-subDone; sub.Close() }()
	app := NewApp(rig.common())
	pr := &probe{app: app, id: camp.ID}
	out := &frameWriter{}
	prog := tea.NewProgram(pr, tea.WithOutput(out), tea.WithInput(nil), tea.WithWindowSize(120, 40))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = prog.Run()
	}()
	defer func() {
		prog.Quit()
		<-done
		app.Close()
	}()
	prog.Send(tea.WindowSizeMsg{Width: 120, Height: 40})
	// Start the send as the person would: s, then y on the confirmation.
	deadline := time.Now().Add(30 * time.Second)
	waitFor := func(what string, cond func() bool) {
		for !cond() {
			if time.Now().After(deadline) {
				b.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("the campaign list", func() bool { return rowsLoaded(prog, app) })
	prog.Send(tea.KeyPressMsg{Code: 's', Text: "s"})
	waitFor("the confirmation", func() bool { return flowStage(prog, app) == sendConfirming })
	prog.Send(tea.KeyPressMsg{Code: 'y', Text: "y"})
	waitFor("every delivery on screen", func() bool {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		return len(pr.shown) > 0 && pr.shown[len(pr.shown)-1].n >= recipients
	})

	rec.mu.Lock()
	times := append([]time.Time(nil), rec.times...)
	rec.mu.Unlock()
	pr.mu.Lock()
	shown := append([]shownAt(nil), pr.shown...)
	pr.mu.Unlock()
	out.mu.Lock()
	writes := append([]time.Time(nil), out.writes...)
	out.mu.Unlock()
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	// A frame reaches the terminal with the first write after its view.
	flushed := func(view time.Time) time.Time {
		if wi := sort.Search(len(writes), func(i int) bool { return !writes[i].Before(view) }); wi < len(writes) {
			return writes[wi]
		}
		return view
	}
	foldMu.Lock()
	folded := append([]shownAt(nil), folds...)
	foldMu.Unlock()
	same := func(t time.Time) time.Time { return t }
	r := latencies{screen: percentiles(times, shown, flushed, 0), fold: percentiles(times, folded, same, 0), n: len(times)}
	if len(times) > 0 {
		// Steady state: after the first second, by when the hub has found
		// the send.
		from := sort.Search(len(times), func(i int) bool { return times[i].After(times[0].Add(time.Second)) })
		r.steady = percentiles(times, shown, flushed, from)
	}
	if r.screen[1] == 0 {
		b.Fatal("no delivery reached the screen")
	}
	return r
}

// rowsLoaded and flowStage read the App's state between messages, through
// the program, so they never race with Update.
func rowsLoaded(prog *tea.Program, app *App) bool {
	ch := make(chan bool, 1)
	prog.Send(inspectMsg(func() { ch <- app.campaigns.loaded && len(app.campaigns.all) > 0 }))
	return <-ch
}

func flowStage(prog *tea.Program, app *App) sendStage {
	ch := make(chan sendStage, 1)
	prog.Send(inspectMsg(func() {
		f := app.campaigns.sendFlow()
		if f == nil {
			ch <- -1
			return
		}
		ch <- f.stage
	}))
	return <-ch
}
