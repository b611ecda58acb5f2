package worker

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tui/queue"
)

// verifyWebhook checks a request exactly as the WebhookChannel doc comment
// tells receivers to: raw body, HMAC over timestamp "." body, constant-time
// comparison, five-minute window.
func verifyWebhook(r *http.Request, secret []byte, now time.Time) ([]byte, string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, "read body: " + err.Error()
	}
	ts := r.Header.Get("X-Tui-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, "bad timestamp " + ts
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return nil, "stale timestamp " + ts
	}
	got, ok := strings.CutPrefix(r.Header.Get("X-Tui-Signature"), "sha256=")
	if !ok {
		return nil, "no sha256= signature"
	}
	gotMAC, err := hex.DecodeString(got)
	if err != nil {
		return nil, "signature is not hex"
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "." + string(body)))
	if !hmac.Equal(gotMAC, m.Sum(nil)) {
		return nil, "signature mismatch"
	}
	return body, ""
}

func webhookJob(url string) queue.Job {
	return queue.Job{CampaignID: 12, ContactID: 345, To: "ana@example.com", Channel: "webhook", URL: url,
		Subject: "Spring sale", Body: "Hello Ana,\n\"everything\" must go <now> & later"}
}

func TestWebhookSignedPostWithIdempotencyKey(t *testing.T) {
	secret := []byte("s3cret-for-tests")
	type received struct {
		payload map[string]any
		key     string
		ctype   string
		problem string
	}
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := received{key: r.Header.Get("Idempotency-Key"), ctype: r.Header.Get("Content-Type")}
		if r.Method != http.MethodPost || r.URL.Path != "/hooks/tui" {
			rec.problem = r.Method + " " + r.URL.Path
		}
		body, problem := verifyWebhook(r, secret, time.Now())
		if problem == "" {
			if err := json.Unmarshal(body, &rec.payload); err != nil {
				problem = err.Error()
			}
		}
		if rec.problem == "" {
			rec.problem = problem
		}
		mu.Lock()
		got = append(got, rec)
		mu.Unlock()
		if rec.problem != "" {
			http.Error(w, rec.problem, http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	ch := NewWebhookChannel(string(secret))
	defer ch.Close()
	job := webhookJob(srv.URL + "/hooks/tui")
	for attempt := 1; attempt <= 2; attempt++ {
		if err := ch.Deliver(context.Background(), Delivery{Job: job, Attempt: attempt, Worker: "w1"}); err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
	}
	mu.Lock()
	reqs := slices.Clone(got)
	mu.Unlock()
	if len(reqs) != 2 {
		t.Fatalf("server got %d requests, want 2", len(reqs))
	}
	for i, rec := range reqs {
		if rec.problem != "" {
			t.Fatalf("request %d: %s", i+1, rec.problem)
		}
		if rec.key != "12:345" || rec.ctype != "application/json" {
			t.Fatalf("request %d: Idempotency-Key %q, Content-Type %q", i+1, rec.key, rec.ctype)
		}
		want := map[string]any{"campaign": 12.0, "contact": 345.0, "to": job.To, "subject": job.Subject,
			"body": job.Body, "key": "12:345", "attempt": float64(i + 1)}
		if len(rec.payload) != len(want) {
			t.Fatalf("request %d payload %v, want %v", i+1, rec.payload, want)
		}
		for k, v := range want {
			if rec.payload[k] != v {
				t.Fatalf("request %d payload[%s] = %v, want %v", i+1, k, rec.payload[k], v)
			}
		}
	}

	// The same receiver refuses a request signed with another secret, and
	// the refusal (401) is permanent.
	wrong := NewWebhookChannel("not-the-secret")
	defer wrong.Close()
	de := Classify(wrong.Deliver(context.Background(), Delivery{Job: job, Attempt: 1}))
	if de == nil || de.Transient || !strings.Contains(de.Reason, "401") || !strings.Contains(de.Reason, "signature mismatch") {
		t.Fatalf("wrong secret: %#v, want a permanent 401 quoting the receiver", de)
	}
}

func TestWebhookWithoutSecretSendsNoSignature(t *testing.T) {
	var sig, ts string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sig, ts = r.Header.Get("X-Tui-Signature"), r.Header.Get("X-Tui-Timestamp")
	}))
	defer srv.Close()
	ch := NewWebhookChannel("")
	defer ch.Close()
	if err := ch.Deliver(context.Background(), Delivery{Job: webhookJob(srv.URL), Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if sig != "" || ts == "" {
		t.Fatalf("X-Tui-Signature %q (want none), X-Tui-Timestamp %q (want one)", sig, ts)
	}
}

func TestWebhookClassifiesAnswers(t *testing.T) {
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusAccepted)
		case "/429":
			w.Header().Set("Retry-After", "7")
			http.Error(w, "slow down please", http.StatusTooManyRequests)
		case "/503-date":
			w.Header().Set("Retry-After", httpDate)
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/500":
			http.Error(w, "database\n\n   exploded", http.StatusInternalServerError)
		case "/408":
			w.WriteHeader(http.StatusRequestTimeout)
		case "/400":
			http.Error(w, `{"error":"unknown recipient ana@example.com"}`+strings.Repeat(" padding", 200), http.StatusBadRequest)
		case "/404":
			http.NotFound(w, r)
		case "/elsewhere":
			http.Redirect(w, r, "http://example.invalid/hook", http.StatusTemporaryRedirect)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusPermanentRedirect)
		case "/see-other":
			http.Redirect(w, r, "/ok", http.StatusSeeOther)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		}
	}))
	defer srv.Close()
	ch := NewWebhookChannel("k")
	defer ch.Close()

	cases := []struct {
		path                 string
		ok                   bool
		transient, throttled bool
		retryAfter           time.Duration // -1: any positive
		reason               []string
	}{
		{path: "/ok", ok: true},
		{path: "/moved", ok: true}, // same host, POST kept
		{path: "/429", transient: true, throttled: true, retryAfter: 7 * time.Second, reason: []string{"429", "slow down please"}},
		{path: "/503-date", transient: true, throttled: true, retryAfter: -1, reason: []string{"503"}},
		{path: "/500", transient: true, reason: []string{"500", "database exploded"}},
		{path: "/408", transient: true, reason: []string{"408"}},
		{path: "/400", reason: []string{"400", "unknown recipient ana@example.com", "…"}},
		{path: "/404", reason: []string{"404", "404 page not found"}},
		{path: "/elsewhere", reason: []string{"307", "example.invalid", "not followed"}},
		{path: "/see-other", reason: []string{"303", "not followed"}},
	}
	for _, tc := range cases {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			err := ch.Deliver(context.Background(), Delivery{Job: webhookJob(srv.URL + tc.path), Attempt: 1})
			if tc.ok {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			de := Classify(err)
			if de == nil {
				t.Fatal("want a failure, got success")
			}
			t.Log(de.Reason)
			if de.Transient != tc.transient || de.Throttled != tc.throttled {
				t.Fatalf("transient=%v throttled=%v, want %v %v (%s)", de.Transient, de.Throttled, tc.transient, tc.throttled, de.Reason)
			}
			switch {
			case tc.retryAfter == -1 && (de.RetryAfter < 80*time.Second || de.RetryAfter > 100*time.Second):
				t.Fatalf("RetryAfter %v, want about 90s from the HTTP date", de.RetryAfter)
			case tc.retryAfter >= 0 && de.RetryAfter != tc.retryAfter:
				t.Fatalf("RetryAfter %v, want %v", de.RetryAfter, tc.retryAfter)
			}
			for _, s := range tc.reason {
				if !strings.Contains(de.Reason, s) {
					t.Fatalf("reason %q does not contain %q", de.Reason, s)
				}
			}
			if len(de.Reason) > 400 {
				t.Fatalf("reason is %d bytes long: %q", len(de.Reason), de.Reason)
			}
		})
	}
}

func TestWebhookUnreachableAndBadURLs(t *testing.T) {
	ch := NewWebhookChannel("")
	defer ch.Close()
	// A server that is gone: connection refused is worth a retry.
	srv := httptest.NewServer(http.NotFoundHandler())
	gone := srv.URL
	srv.Close()
	if de := Classify(ch.Deliver(context.Background(), Delivery{Job: webhookJob(gone), Attempt: 1})); de == nil || !de.Transient {
		t.Fatalf("refused connection: %#v, want transient", de)
	}
	for _, u := range []string{"", "ftp://example.com/x", "not a url", "http://user:hunter2@/x"} {
		de := Classify(ch.Deliver(context.Background(), Delivery{Job: webhookJob(u), Attempt: 1}))
		if de == nil || de.Transient || !strings.Contains(de.Reason, "--url") || strings.Contains(de.Reason, "hunter2") {
			t.Fatalf("URL %q: %#v, want a permanent failure naming --url without the password", u, de)
		}
	}
}

func TestWebhookHonoursCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ch := NewWebhookChannel("")
	defer ch.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ch.Deliver(ctx, Delivery{Job: webhookJob(srv.URL), Attempt: 1}) }()
	cancel()
	select {
	case err := <-done:
		if de := Classify(err); de == nil || !de.Transient {
			t.Fatalf("cancelled delivery: %#v, want transient", de)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled delivery did not return within 10s")
	}
}

func TestWebhookParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-3":                            0,
		"120":                           2 * time.Minute,
		" 5 ":                           5 * time.Second,
		"soon":                          0,
		"Sun, 01 Mar 2026 12:00:30 GMT": 30 * time.Second,
		"Sun, 01 Mar 2026 11:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
