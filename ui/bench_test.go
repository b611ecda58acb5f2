package ui

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"tui/queue"
	"tui/store"
)

// The benchmarks of issue 2: with 10,000 campaigns and 1,000,000 contacts,
// the first frame after start (target < 200 ms) and one keystroke in the
// campaign list (target < 16 ms).

const (
	benchCampaigns = 10_000
	benchContacts  = 1_000_000
	benchSegments  = 10 // contacts are split across this many tags
)

// contactsCSV generates n contact rows without holding them in memory.
type contactsCSV struct {
	from, n, i int
	buf        []byte
	header     bool
}

func (r *contactsCSV) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) && r.i < r.n {
		if !r.header {
			r.buf = append(r.buf, "email,name,city,plan\n"...)
			r.header = true
		}
		k := r.from + r.i
		r.buf = fmt.Appendf(r.buf, "user%07d@example.com,User %d,City %d,plan-%d\n", k, k, k%977, k%3)
		r.i++
	}
	if len(r.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// benchFixture builds the store once per benchmark run. It lives on tmpfs
// when there is one: building it is not what is measured, and a million
// fsynced rows on a slow disk would dominate the run.
func benchFixture(b *testing.B) *store.Store {
	b.Helper()
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "tui-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	st, err := store.Open(filepath.Join(dir, "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })

	start := time.Now()
	per := benchContacts / benchSegments
	for seg := 0; seg < benchSegments; seg++ {
		rep, err := st.ImportCSV(context.Background(), &contactsCSV{from: seg * per, n: per},
			store.ImportOptions{Actor: "bench", Name: "bench.csv", Tags: []string{fmt.Sprintf("segment-%d", seg)}})
		if err != nil || rep.Created != per {
			b.Fatalf("import segment %d: created %d, err %v", seg, rep.Created, err)
		}
	}
	contactsTook := time.Since(start)

	start = time.Now()
	for i := 0; i < benchCampaigns; i++ {
		c := store.Campaign{
			Name:    fmt.Sprintf("Campaign %05d %s", i, []string{"spring", "summer", "autumn", "winter"}[i%4]),
			Channel: store.Channels[i%len(store.Channels)],
			Subject: "Hello {{.name}}",
			Body:    "Hi {{.name}},\nnews from {{.city}} for your {{.plan}} plan.\n",
			URL:     "https://hooks.example.com/x",
			From:    "news@example.com",
		}
		if i%3 != 0 {
			c.Tags = []string{fmt.Sprintf("segment-%d", i%benchSegments)}
		}
		if _, err := st.CreateCampaign("bench", c); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("fixture in %s: %d contacts imported in %s, %d campaigns created in %s",
		dir, benchContacts, contactsTook.Round(time.Millisecond), benchCampaigns, time.Since(start).Round(time.Millisecond))
	return st
}

// runInit executes a batch of commands once and feeds their messages to the
// app, as the program would; the commands those messages start (audience
// counts that walk a million contacts) are left out: the frame shows "…"
// for them until they arrive.
func runInit(app *App, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	msg := cmd()
	if batch, ok := msg.(tea.BatchMsg); ok {
		for _, c := range batch {
			runInit(app, c)
		}
		return
	}
	if msg != nil {
		app.Update(msg)
	}
}

// loadedApp is an App at w×h with all 10,000 campaigns in its list.
func loadedApp(b *testing.B, st *store.Store, w, h int) *App {
	b.Helper()
	app := NewApp(NewCommon(st, "bench", queue.IdleStatus(queue.DefaultURL)))
	app.Update(tea.WindowSizeMsg{Width: w, Height: h})
	runInit(app, app.Init())
	app.Update(app.campaigns.load()())
	if n := len(app.campaigns.all); n != benchCampaigns || app.campaigns.partial {
		b.Fatalf("%d campaigns loaded (partial %v), want %d", n, app.campaigns.partial, benchCampaigns)
	}
	return app
}

func BenchmarkCampaignList(b *testing.B) {
	st := benchFixture(b)

	b.Run("first-frame", func(b *testing.B) {
		for b.Loop() {
			app := NewApp(NewCommon(st, "bench", queue.IdleStatus(queue.DefaultURL)))
			app.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
			runInit(app, app.Init())
			if v := app.View().Content; !strings.Contains(v, "Campaign 09999") {
				b.Fatalf("the first frame lacks the newest campaign:\n%s", v)
			}
		}
	})

	// The first frame shows the newest campaigns; this is the time until
	// the whole list of 10,000 is in as well (filter, G, counts).
	b.Run("full-list", func(b *testing.B) {
		for b.Loop() {
			app := NewApp(NewCommon(st, "bench", queue.IdleStatus(queue.DefaultURL)))
			app.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
			runInit(app, app.Init())
			app.Update(app.campaigns.load()())
			if v := app.View().Content; !strings.Contains(v, "1/10,000") {
				b.Fatalf("the full list is not in:\n%s", v)
			}
		}
	})

	for _, size := range [][2]int{{80, 24}, {200, 60}} {
		b.Run(fmt.Sprintf("keystroke-%dx%d", size[0], size[1]), func(b *testing.B) {
			app := loadedApp(b, st, size[0], size[1])
			down := tea.KeyPressMsg{Code: tea.KeyDown}
			top := tea.KeyPressMsg{Code: 'g', Text: "g"}
			i := 0
			for b.Loop() {
				k := down
				if i++; i%(benchCampaigns-1) == 0 {
					k = top
				}
				app.Update(k)
				_ = app.View()
			}
		})
	}

	// How long a row shows "…" before its audience is known: the worst
	// case counts every one of the million contacts.
	b.Run("audience-count-everyone", func(b *testing.B) {
		for b.Loop() {
			if n, err := st.AudienceSize(&store.Campaign{}); err != nil || n != benchContacts {
				b.Fatalf("audience = %d, %v", n, err)
			}
		}
	})

	b.Run("filter-keystroke", func(b *testing.B) {
		app := loadedApp(b, st, 80, 24)
		app.Update(tea.KeyPressMsg{Code: '/', Text: "/"})
		typed := []tea.KeyPressMsg{{Code: 's', Text: "s"}, {Code: 'u', Text: "u"}, {Code: tea.KeyBackspace}, {Code: tea.KeyBackspace}}
		i := 0
		for b.Loop() {
			app.Update(typed[i%len(typed)])
			_ = app.View()
			i++
		}
	})
}
