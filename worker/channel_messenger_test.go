package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"tui/queue"
)

const testPageToken = "EAAGtestPAGEtoken123"

// fakeSendAPI is a local stand-in for the Messenger Send API: it checks the
// request the way Graph would (path, bearer token, JSON shape) and answers
// according to the recipient ID.
type fakeSendAPI struct {
	*httptest.Server
	mu   sync.Mutex
	sent []map[string]any
	path []string
}

func newFakeSendAPI(t *testing.T) *fakeSendAPI {
	f := &fakeSendAPI{}
	graphErr := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/me/messages") {
			graphErr(w, 404, `{"error":{"message":"Unknown path components","type":"OAuthException","code":2500}}`)
			return
		}
		if r.URL.Query().Has("access_token") {
			t.Errorf("the page token went into the URL: %s", r.URL)
		}
		if r.Header.Get("Authorization") != "Bearer "+testPageToken {
			graphErr(w, 401, `{"error":{"message":"Invalid OAuth access token - Cannot parse access token `+
				strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+`","type":"OAuthException","code":190,"fbtrace_id":"AbC"}}`)
			return
		}
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Header.Get("Content-Type") != "application/json" {
			graphErr(w, 400, `{"error":{"message":"Invalid JSON","type":"OAuthException","code":100}}`)
			return
		}
		f.mu.Lock()
		f.sent = append(f.sent, req)
		f.path = append(f.path, r.URL.Path)
		f.mu.Unlock()
		id, _ := req["recipient"].(map[string]any)["id"].(string)
		switch id {
		case "app-limit":
			graphErr(w, 400, `{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613,"fbtrace_id":"X1"}}`)
		case "page-limit":
			w.Header().Set("Retry-After", "30")
			graphErr(w, 400, `{"error":{"message":"(#32) Page request limit reached","type":"OAuthException","code":32,"is_transient":true}}`)
		case "send-limit":
			graphErr(w, 400, `{"error":{"message":"(#4) Too many send requests to phone numbers","type":"OAuthException","code":4,"error_subcode":2018022}}`)
		case "unavailable":
			graphErr(w, 400, `{"error":{"message":"(#551) This person isn't available right now.","type":"OAuthException","code":551,"error_subcode":1545041}}`)
		case "no-user":
			graphErr(w, 400, `{"error":{"message":"(#100) No matching user found","type":"OAuthException","code":100,"error_subcode":2018001}}`)
		case "graph-down":
			graphErr(w, 500, `{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","code":2,"is_transient":true}}`)
		case "temp-send":
			graphErr(w, 400, `{"error":{"message":"(#1200) Temporary send message failure. Please try again later","type":"OAuthException","code":1200}}`)
		case "proxy-502":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body>Bad Gateway</body></html>")
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"recipient_id":%q,"message_id":"m_1"}`, id)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func messengerJob(to, subject string) queue.Job {
	return queue.Job{CampaignID: 3, ContactID: 4, To: to, Channel: "messenger", Subject: subject, Body: "Doors open at 9."}
}

func TestMessengerSendsTextWithBearerToken(t *testing.T) {
	api := newFakeSendAPI(t)
	ch, err := NewMessengerChannel(MessengerConfig{Token: testPageToken, BaseURL: api.URL, Version: "v99.0"})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	ctx := context.Background()
	if err := ch.Deliver(ctx, Delivery{Job: messengerJob("2401", "Spring sale"), Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Deliver(ctx, Delivery{Job: messengerJob("2402", ""), Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	// A job URL on the configured origin may add a path prefix (a proxy).
	job := messengerJob("2403", "")
	job.URL = api.URL + "/graph-proxy"
	if err := ch.Deliver(ctx, Delivery{Job: job, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	wantPaths := []string{"/v99.0/me/messages", "/v99.0/me/messages", "/graph-proxy/v99.0/me/messages"}
	if fmt.Sprint(api.path) != fmt.Sprint(wantPaths) {
		t.Fatalf("paths %v, want %v", api.path, wantPaths)
	}
	want := []string{
		`{"message":{"text":"Spring sale\n\nDoors open at 9."},"messaging_type":"UPDATE","recipient":{"id":"2401"}}`,
		`{"message":{"text":"Doors open at 9."},"messaging_type":"UPDATE","recipient":{"id":"2402"}}`,
	}
	for i, w := range want {
		got, _ := json.Marshal(api.sent[i]) // map keys come out sorted
		if string(got) != w {
			t.Fatalf("request %d body\n got %s\nwant %s", i+1, got, w)
		}
	}
}

func TestMessengerClassifiesGraphErrors(t *testing.T) {
	api := newFakeSendAPI(t)
	ch, err := NewMessengerChannel(MessengerConfig{Token: testPageToken, BaseURL: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	cases := []struct {
		to                   string
		transient, throttled bool
		reason               string
	}{
		{"app-limit", true, true, "Graph error 613 (OAuthException): (#613) Calls to this api have exceeded the rate limit. [fbtrace_id X1]"},
		{"page-limit", true, true, "Graph error 32"},
		{"send-limit", true, true, "Graph error 4/2018022"},
		{"graph-down", true, false, "Graph error 2"},
		{"temp-send", true, false, "Graph error 1200"},
		{"proxy-502", true, false, "HTTP 502 Bad Gateway: <html><body>Bad Gateway</body></html>"},
		{"unavailable", false, false, "Graph error 551/1545041 (OAuthException): (#551) This person isn't available right now."},
		{"no-user", false, false, "No matching user found"},
	}
	for _, tc := range cases {
		t.Run(tc.to, func(t *testing.T) {
			de := Classify(ch.Deliver(context.Background(), Delivery{Job: messengerJob(tc.to, "s"), Attempt: 1}))
			if de == nil {
				t.Fatal("want a failure, got success")
			}
			t.Log(de.Reason)
			if de.Transient != tc.transient || de.Throttled != tc.throttled {
				t.Fatalf("transient=%v throttled=%v, want %v %v: %s", de.Transient, de.Throttled, tc.transient, tc.throttled, de.Reason)
			}
			if !strings.Contains(de.Reason, tc.reason) {
				t.Fatalf("reason %q does not contain %q", de.Reason, tc.reason)
			}
			if tc.to == "page-limit" && de.RetryAfter.Seconds() != 30 {
				t.Fatalf("RetryAfter %v, want 30s", de.RetryAfter)
			}
		})
	}
}

func TestMessengerBadTokenIsPermanentAndNeverInTheReason(t *testing.T) {
	api := newFakeSendAPI(t)
	const wrong = "EAAGwrongTOKEN"
	ch, err := NewMessengerChannel(MessengerConfig{Token: wrong, BaseURL: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	de := Classify(ch.Deliver(context.Background(), Delivery{Job: messengerJob("2401", ""), Attempt: 1}))
	if de == nil || de.Transient || !strings.Contains(de.Reason, "Graph error 190") {
		t.Fatalf("bad token: %#v, want a permanent Graph error 190", de)
	}
	// The fake echoes the token back, as a careless proxy might.
	if strings.Contains(de.Reason, wrong) || !strings.Contains(de.Reason, "[page token]") {
		t.Fatalf("the reason leaks the token: %q", de.Reason)
	}
}

func TestMessengerSendsTheTokenOnlyToTheConfiguredOrigin(t *testing.T) {
	api := newFakeSendAPI(t)
	var stolen atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stolen.Add(1) }))
	defer thief.Close()
	ch, err := NewMessengerChannel(MessengerConfig{Token: testPageToken, BaseURL: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	job := messengerJob("2401", "")
	job.URL = thief.URL
	de := Classify(ch.Deliver(context.Background(), Delivery{Job: job, Attempt: 1}))
	if de == nil || de.Transient || !strings.Contains(de.Reason, "MESSENGER_API_BASE") {
		t.Fatalf("job URL on another origin: %#v, want a permanent failure naming MESSENGER_API_BASE", de)
	}
	if n := stolen.Load(); n != 0 {
		t.Fatalf("the other origin got %d requests", n)
	}
}

func TestMessengerConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  MessengerConfig
		want string
	}{
		{MessengerConfig{}, "MESSENGER_PAGE_TOKEN"},
		{MessengerConfig{Token: "a b"}, "white space"},
		{MessengerConfig{Token: "t", BaseURL: "graph.facebook.com"}, "MESSENGER_API_BASE"},
		{MessengerConfig{Token: "t", Version: "v1/../../x"}, "MESSENGER_API_VERSION"},
	} {
		_, err := NewMessengerChannel(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
	ch, err := NewMessengerChannel(MessengerConfig{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := ch.endpoint(""); u.String() != "https://graph.facebook.com/v21.0/me/messages" {
		t.Fatalf("default endpoint %s", u)
	}
}
