package sending

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tui/internal/redistest"
	"tui/internal/testkit/seed"
	"tui/message"
	"tui/queue"
	"tui/store"
)

func testLinks(t testing.TB) *Links {
	t.Helper()
	l, err := LinksFromEnv(envMap{"TUI_UNSUBSCRIBE_URL": "https://news.example.com/u/",
		"TUI_UNSUBSCRIBE_SECRET": "campaign test secret!"}.get)
	if err != nil || l == nil {
		t.Fatal(l, err)
	}
	return l
}

type envMap map[string]string

func (m envMap) get(k string) string { return m[k] }

func TestLinksSettingsAreChecked(t *testing.T) {
	for env, want := range map[*envMap]string{
		{"TUI_UNSUBSCRIBE_URL": "http://news.example.com/u", "TUI_UNSUBSCRIBE_SECRET": "0123456789abcdef"}: "must use https",
		{"TUI_UNSUBSCRIBE_URL": "https://news.example.com/u"}:                                              "TUI_UNSUBSCRIBE_SECRET is not",
		{"TUI_UNSUBSCRIBE_URL": "https://news.example.com/u", "TUI_UNSUBSCRIBE_SECRET": "short"}:           "at least 16",
		{"TUI_UNSUBSCRIBE_URL": "news.example.com", "TUI_UNSUBSCRIBE_SECRET": "0123456789abcdef"}:          "public HTTPS address",
		{"TUI_UNSUBSCRIBE_URL": "https://n.example.com/u", "TUI_UNSUBSCRIBE_SECRET": "0123456789abcdef",
			"TUI_UNSUBSCRIBE_MAILTO": "Ann <a@example.com>"}: "plain email address",
	} {
		_, err := LinksFromEnv(env.get)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("%v: %v, want %q (and never the secret)", *env, err, want)
		}
	}
	if l, err := LinksFromEnv(envMap{}.get); l != nil || err != nil {
		t.Fatalf("no settings: %v %v", l, err)
	}
}

// The link goes where {{.unsubscribe_url}} stands, in any of its spellings,
// and errors elsewhere in the template keep their true columns.
func TestRendererPutsEachRecipientsLink(t *testing.T) {
	links := testLinks(t)
	c := &store.Campaign{ID: 5, Subject: "Hi {{.name}}", Format: "markdown",
		Body: "A {{.unsubscribe_url}} B {{ .unsubscribe_url }} C {{.unsubscribe_url | printf \"%s\"}} {{if .name}}[x]({{.unsubscribe_url}}){{end}}"}
	r, err := NewRenderer(c, links)
	if err != nil {
		t.Fatal(err)
	}
	ct := &store.Contact{ID: 77, Address: "a@example.com", Name: "Ann"}
	msg, err := r.Render(ct)
	if err != nil {
		t.Fatal(err)
	}
	link, mailto := links.For(5, 77, false)
	want := "A " + link + " B " + link + " C " + link + " [x](" + link + ")"
	if msg.Body != want || msg.Unsubscribe != link || mailto != "" || msg.Format != "markdown" {
		t.Fatalf("got %q (%q)\nwant %q", msg.Body, msg.Unsubscribe, want)
	}
	signer, _ := message.NewSigner("campaign test secret!")
	if tok, err := signer.Verify(strings.TrimPrefix(link, "https://news.example.com/u/")); err != nil || tok.Contact != 77 || tok.Campaign != 5 {
		t.Fatalf("link %q: %+v %v", link, tok, err)
	}
	test, err := r.ForTest().Render(ct)
	if err != nil || !strings.HasPrefix(test.Subject, TestSubjectPrefix) {
		t.Fatalf("test: %+v %v", test, err)
	}
	if tok, _ := signer.Verify(strings.TrimPrefix(test.Unsubscribe, "https://news.example.com/u/")); !tok.Test {
		t.Fatal("a test's link must carry a test token")
	}

	// A missing field after the link is reported at its own column.
	bad := &store.Campaign{ID: 5, Subject: "s", Body: "{{.unsubscribe_url}} {{.nope}}"}
	r, err = NewRenderer(bad, links)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Render(ct)
	var fe *store.FieldError
	if !asFieldError(err, &fe) || fe.Line != 1 || fe.Col != 24 {
		t.Fatalf("error %v (%+v), want line 1 column 24, where .nope stands", err, fe)
	}
	// Without a listener, the link is an error where it stands.
	_, err = NewRenderer(&store.Campaign{Subject: "s", Body: "Hi\n  see {{.unsubscribe_url}}"}, nil)
	if !asFieldError(err, &fe) || fe.Line != 2 || fe.Col != 9 || !strings.Contains(fe.Msg, "TUI_UNSUBSCRIBE_URL") {
		t.Fatalf("without links: %v (%+v)", err, fe)
	}
}

func TestHTMLCampaignsEscapeContactValues(t *testing.T) {
	c := &store.Campaign{ID: 1, Subject: "Hi", Format: "html",
		Body: `<p>Hello {{.name}}</p><a href="{{.unsubscribe_url}}">Unsubscribe</a>`}
	r, err := NewRenderer(c, testLinks(t))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := r.Render(&store.Contact{ID: 3, Address: "a@example.com", Name: `<script>x</script>`})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(msg.Body, "<script>") || !strings.Contains(msg.Body, "&lt;script&gt;") || !strings.Contains(msg.Body, `href="https://news.example.com/u/`) {
		t.Fatalf("body %q", msg.Body)
	}
	_, err = r.Render(&store.Contact{ID: 3, Address: "a@example.com"})
	var fe *store.FieldError
	if !asFieldError(err, &fe) || fe.Line != 1 || !strings.Contains(fe.Msg, `no field "name"`) {
		t.Fatalf("a missing field: %v", err)
	}
}

func asFieldError(err error, fe **store.FieldError) bool {
	f, ok := err.(*store.FieldError)
	if ok {
		*fe = f
	}
	return ok
}

// The rule: an owner dials Redis for unsubscribes only once messages with
// unsubscribe links have gone out from its database.
func TestOwnerDialsForUnsubscribesOnlyOnceLinksWentOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var dials atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			c.Close()
		}
	}()
	st, _ := seed.Open(t)
	svc := New(st, newConn(t, "redis://"+ln.Addr().String()+"/0"))
	svc.Links = testLinks(t) // configured, but nothing sent yet
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.WatchUnsubscribes(ctx, 5*time.Millisecond, nil) }()
	// Many rounds of the watch pass without a dial.
	time.Sleep(100 * time.Millisecond)
	if n := dials.Load(); n != 0 {
		t.Fatalf("%d connections before any link went out", n)
	}
	if err := svc.CatchUpUnsubscribes(ctx); err != nil || dials.Load() != 0 {
		t.Fatalf("a preflight's catch-up dialled (%d, %v)", dials.Load(), err)
	}
	if err := st.NoteLinksSent(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for dials.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if dials.Load() == 0 {
		t.Fatal("links went out and the owner never looked for unsubscribes")
	}
}

// Unsubscribes recorded while no owner ran are folded by the next watch,
// once each (a repeated request and an unknown contact change nothing),
// trimmed from Redis, and counted by the next preflight.
func TestUnsubscribesFoldOnceIntoTheSuppressionList(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	seed.Contacts(t, st, 3, "all")
	c := create(t, st, store.Campaign{Name: "Links", Channel: store.ChannelFile, Tags: []string{"all"},
		Subject: "s", Body: "b {{.unsubscribe_url}}"})
	svc := New(st, newConn(t, srv.URL()))
	svc.Links = testLinks(t)
	ctx := context.Background()
	if _, err := svc.Start(ctx, "test", c.ID, c.Version, nil); err != nil {
		t.Fatal(err)
	}
	target, _ := st.ContactByAddress("c2@example.com")
	rdb := rdbFor(t, srv)
	for _, via := range []string{"one-click", "one-click", "page"} {
		if err := queue.RecordUnsubscribe(ctx, rdb, queue.Unsubscribe{Campaign: c.ID, Contact: target.ID, Via: via, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := queue.RecordUnsubscribe(ctx, rdb, queue.Unsubscribe{Campaign: 999, Contact: 999, Via: "one-click", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	folded := make(chan []store.Suppression, 4)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go svc.WatchUnsubscribes(wctx, 10*time.Millisecond, func(s []store.Suppression) { folded <- s })
	var added []store.Suppression
	select {
	case added = <-folded:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing folded")
	}
	if len(added) != 1 || added[0].Address != "c2@example.com" || added[0].Source != store.SourceUnsubscribe || !strings.Contains(added[0].Reason, `"Links"`) {
		t.Fatalf("added %+v", added)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, _ := rdb.XLen(ctx, queue.UnsubscribesKey()).Result()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests left in Redis after the fold", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	list, _ := st.Suppressions()
	if len(list) != 1 {
		t.Fatalf("suppression list %+v", list)
	}
	p, err := svc.Preflight(ctx, create(t, st, store.Campaign{Name: "Next", Channel: store.ChannelFile, Tags: []string{"all"}, Subject: "s", Body: "b"}).ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Recipients != 2 || p.Suppressed[store.SourceUnsubscribe] != 1 || !strings.Contains(p.SuppressedText(), "1 unsubscribed") {
		t.Fatalf("preflight: %d recipients, %v", p.Recipients, p.Suppressed)
	}
}

// A copy of the database (cp tui.db try.db) on the same Redis reads the
// same unsubscribes as the original. Its fold must not trim a request the
// original has not folded yet: each gets every request, and the stream is
// trimmed once both have it.
func TestACopyOfTheDatabaseTakesNoUnsubscribeFromTheOriginal(t *testing.T) {
	srv := redistest.Start(t)
	rdb := rdbFor(t, srv)
	ctx := context.Background()
	st, path := seed.Open(t)
	seed.Contacts(t, st, 3, "all")
	if err := st.NoteLinksSent(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Identity(); err != nil {
		t.Fatal(err)
	}
	c := create(t, st, store.Campaign{Name: "Links", Tags: []string{"all"}})
	cp := copyDatabase(t, st, path)
	orig, copied := New(st, newConn(t, srv.URL())), New(cp, newConn(t, srv.URL()))
	a, _ := st.Identity()
	b, _ := cp.Identity()
	if a.ID == b.ID {
		t.Fatalf("the copy kept the original's identity %s", a.ID)
	}
	fold := func(svc *Service) []store.Suppression {
		t.Helper()
		added, err := svc.FoldUnsubscribes(ctx, rdb)
		if err != nil {
			t.Fatal(err)
		}
		return added
	}
	// Both have looked once: each is a reader of the stream.
	fold(orig)
	fold(copied)

	target, _ := st.ContactByAddress("c2@example.com")
	if err := queue.RecordUnsubscribe(ctx, rdb, queue.Unsubscribe{Campaign: c.ID, Contact: target.ID, Via: "one-click", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := fold(copied); len(got) != 1 || got[0].Address != "c2@example.com" {
		t.Fatalf("the copy folded %+v", got)
	}
	if n := rdb.XLen(ctx, queue.UnsubscribesKey()).Val(); n != 1 {
		t.Fatalf("after the copy's fold, %d requests in Redis; the original has not read it yet", n)
	}
	if got := fold(orig); len(got) != 1 || got[0].Address != "c2@example.com" {
		t.Fatalf("the original folded %+v", got)
	}
	if n := rdb.XLen(ctx, queue.UnsubscribesKey()).Val(); n != 0 {
		t.Fatalf("after both folded, %d requests left in Redis", n)
	}
}

// Two unrelated databases on one Redis number their campaigns and contacts
// alike. A link carries its database's tag, and each owner takes only its
// own requests (and a copy those of the database it came from); a request
// from a link without a tag (a message sent before tags) goes to each.
func TestTaggedUnsubscribesGoToTheirDatabase(t *testing.T) {
	srv := redistest.Start(t)
	rdb := rdbFor(t, srv)
	ctx := context.Background()
	open := func() (*store.Store, string, *Service) {
		t.Helper()
		st, path := seed.Open(t)
		seed.Contacts(t, st, 3, "all")
		if err := st.NoteLinksSent(); err != nil {
			t.Fatal(err)
		}
		if c := create(t, st, store.Campaign{Name: "Links", Tags: []string{"all"}}); c.ID != 1 {
			t.Fatalf("campaign %d, want 1", c.ID)
		}
		svc := New(st, newConn(t, srv.URL()))
		svc.Links = testLinks(t)
		return st, path, svc
	}
	stA, pathA, a := open()
	_, _, b := open()
	idA, _ := stA.Identity()
	c := New(copyDatabase(t, stA, pathA), newConn(t, srv.URL()))
	idB, _ := b.Store.Identity()

	// A's links carry A's tag.
	link, _ := a.RenderLinks().For(1, 2, false)
	segs := strings.Split(strings.TrimPrefix(link, "https://news.example.com/u/"), "/")
	signer, _ := message.NewSigner("campaign test secret!")
	if db, ok := signer.VerifyDatabase(segs[0], segs[len(segs)-1]); len(segs) != 2 || !ok || db != idA.ID {
		t.Fatalf("A's link %s names database %q (%v), want %s", link, db, ok, idA.ID)
	}

	// Each has looked once, as a send's start does before its links go out.
	for _, svc := range []*Service{a, b, c} {
		if _, err := svc.FoldUnsubscribes(ctx, rdb); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []queue.Unsubscribe{
		{Campaign: 1, Contact: 2, DB: idA.ID},
		{Campaign: 1, Contact: 3, DB: idB.ID},
		{Campaign: 1, Contact: 1},
	} {
		u.Via, u.At = "one-click", time.Now()
		if err := queue.RecordUnsubscribe(ctx, rdb, u); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		svc  *Service
		want []string
	}{
		"A":        {a, []string{"c1@example.com", "c2@example.com"}},
		"B":        {b, []string{"c1@example.com", "c3@example.com"}},
		"A's copy": {c, []string{"c1@example.com", "c2@example.com"}},
	} {
		if _, err := tc.svc.FoldUnsubscribes(ctx, rdb); err != nil {
			t.Fatal(err)
		}
		list, _ := tc.svc.Store.Suppressions()
		var got []string
		for _, s := range list {
			got = append(got, s.Address)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s suppressed %v, want %v", name, got, tc.want)
		}
	}
	if n := rdb.XLen(ctx, queue.UnsubscribesKey()).Val(); n != 0 {
		t.Errorf("all three folded, and %d requests are left in Redis", n)
	}
}

// copyDatabase copies the database at path to try.db beside it, as
// `cp tui.db try.db` would, and opens the copy.
func copyDatabase(t *testing.T, st *store.Store, path string) *store.Store {
	t.Helper()
	copyPath := filepath.Join(filepath.Dir(path), "try.db")
	f, err := os.Create(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Backup(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cp, err := store.Open(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	return cp
}
