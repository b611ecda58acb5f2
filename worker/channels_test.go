package worker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testEnv is a worker environment that counts lookups.
type testEnv struct {
	mu      sync.Mutex
	vars    map[string]string
	lookups map[string]int
}

func (e *testEnv) get(k string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lookups[k]++
	return e.vars[k]
}

func TestChannelsBuildOnFirstUseAndRouteByJob(t *testing.T) {
	secret := "hook-secret"
	var verified, hooks int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, problem := verifyWebhook(r, []byte(secret), time.Now())
		mu.Lock()
		hooks++
		if problem == "" {
			verified++
		}
		mu.Unlock()
	}))
	defer srv.Close()

	dir := t.TempDir()
	env := &testEnv{vars: map[string]string{"WEBHOOK_SECRET": secret, "TUI_OUTBOX": filepath.Join(dir, "from-env.jsonl")},
		lookups: map[string]int{}}
	cs := NewChannels(env.get, "")
	ctx := context.Background()
	if len(env.lookups) != 0 {
		t.Fatalf("NewChannels read the environment: %v", env.lookups)
	}

	fileJob := fileJob(1, 2, "hi")
	if err := cs.Deliver(ctx, Delivery{Job: fileJob, Attempt: 1, Worker: "w"}); err != nil {
		t.Fatal(err)
	}
	hook := webhookJob(srv.URL)
	if err := cs.Deliver(ctx, Delivery{Job: hook, Attempt: 1}); err != nil {
		t.Fatal(err)
	}

	// A worker without SMTP_URL or a page token still delivers the rest,
	// and fails those jobs for good, saying what to set.
	for _, tc := range []struct{ channel, want string }{
		{"smtp", "the smtp channel needs SMTP_URL in the worker's environment"},
		{"messenger", "MESSENGER_PAGE_TOKEN"},
		{"pigeon", `unknown channel "pigeon"`},
		{"", "names no channel"},
	} {
		for range 2 {
			job := fileJob
			job.Channel = tc.channel
			de := Classify(cs.Deliver(ctx, Delivery{Job: job, Attempt: 1}))
			if de == nil || de.Transient || !strings.Contains(de.Reason, tc.want) {
				t.Fatalf("channel %q: %#v, want a permanent failure saying %q", tc.channel, de, tc.want)
			}
		}
	}
	if n := env.lookups["SMTP_URL"]; n != 1 {
		t.Fatalf("SMTP_URL was read %d times, want once (the failure is kept)", n)
	}
	ch1, _ := cs.Get("file")
	ch2, _ := cs.Get("file")
	if ch1 == nil || ch1 != ch2 {
		t.Fatal("Get does not return the same file channel every time")
	}

	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	if de := Classify(cs.Deliver(ctx, Delivery{Job: fileJob, Attempt: 1})); de == nil || !de.Transient {
		t.Fatalf("after Close: %#v, want a transient failure", de)
	}
	if lines := readOutbox(t, filepath.Join(dir, "from-env.jsonl")); len(lines) != 1 || lines[0].Key != "1:2" {
		t.Fatalf("outbox from TUI_OUTBOX holds %+v, want the one file delivery", lines)
	}
	mu.Lock()
	defer mu.Unlock()
	if hooks != 1 || verified != 1 {
		t.Fatalf("webhook got %d requests, %d with a valid signature; want 1 and 1", hooks, verified)
	}
}

func TestChannelsOutboxFlagWinsOverEnv(t *testing.T) {
	dir := t.TempDir()
	env := &testEnv{vars: map[string]string{"TUI_OUTBOX": filepath.Join(dir, "env.jsonl")}, lookups: map[string]int{}}
	cs := NewChannels(env.get, filepath.Join(dir, "flag.jsonl"))
	ch, err := cs.Get("file")
	if err != nil {
		t.Fatal(err)
	}
	if p := ch.(*FileChannel).Path(); p != filepath.Join(dir, "flag.jsonl") {
		t.Fatalf("outbox %s, want the --outbox path", p)
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	// Without either, the file channel fails and says how to fix it.
	cs = NewChannels(func(string) string { return "" }, "")
	if _, err := cs.Get("file"); err == nil || !strings.Contains(err.Error(), "--outbox") {
		t.Fatalf("no outbox: %v, want a failure naming --outbox", err)
	}
	cs.Close()

	// With a default, the file channel makes its directory on first use,
	// and only then; the flag and the environment still win over it.
	def := filepath.Join(dir, "data", "tui", "outbox.jsonl")
	cs = NewChannels(func(string) string { return "" }, "").WithDefaultOutbox(def)
	defer cs.Close()
	if _, err := os.Stat(filepath.Dir(def)); !os.IsNotExist(err) {
		t.Fatalf("the default outbox's directory exists before any file job: %v", err)
	}
	ch, err = cs.Get("file")
	if err != nil {
		t.Fatal(err)
	}
	if p := ch.(*FileChannel).Path(); p != def || cs.OutboxPath() != def {
		t.Fatalf("outbox %s (%s), want the default %s", p, cs.OutboxPath(), def)
	}
	if fi, err := os.Stat(filepath.Dir(def)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the default outbox's directory: %v %v, want mode 0700", fi, err)
	}
	if p := NewChannels(env.get, "").WithDefaultOutbox(def).OutboxPath(); p != filepath.Join(dir, "env.jsonl") {
		t.Fatalf("TUI_OUTBOX lost to the default: %s", p)
	}
}
