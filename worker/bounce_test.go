package worker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"tui/message"
	"tui/queue"
)

func TestBouncesAreRefusalsOfTheAddressOnly(t *testing.T) {
	cases := []struct {
		stage string
		code  int
		msg   string
		want  bool
	}{
		{"RCPT TO", 550, "5.1.1 <x@example.com>: Recipient address rejected: User unknown", true},
		{"RCPT TO", 550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", true},
		{"RCPT TO", 550, "5.2.1 The email account that you tried to reach is disabled.", true},
		{"RCPT TO", 556, "5.1.10 Recipient address has null MX", true},
		{"RCPT TO", 550, "5.1.2 Host unknown", true},
		{"end of DATA", 550, "5.1.1 user unknown", true},
		{"RCPT TO", 550, "No such user here", true},
		{"RCPT TO", 552, "5.2.2 Mailbox full", false},
		{"RCPT TO", 550, "5.7.1 Message rejected as spam", false},
		{"end of DATA", 554, "5.7.26 Unauthenticated email is not accepted (DMARC)", false},
		{"MAIL FROM", 550, "5.1.8 Sender address rejected", false},
		{"RCPT TO", 450, "4.1.1 try again later", false},
		{"RCPT TO", 421, "4.7.0 too many connections", false},
		{"end of DATA", 550, "Message content rejected", false},
	}
	for _, c := range cases {
		if got := isBounce(c.stage, &textproto.Error{Code: c.code, Msg: c.msg}); got != c.want {
			t.Errorf("%s %d %s: bounce %v, want %v", c.stage, c.code, c.msg, got, c.want)
		}
	}
	// The SMTP channel marks the failure, and only a permanent one.
	s := startSMTPServer(t, plainSMTP)
	ch := newSMTPChannel(t, s.url("smtp", ""))
	de := Classify(ch.Deliver(context.Background(), Delivery{Job: smtpJob(1, "gone@example.com"), Attempt: 1}))
	if de == nil || de.Transient || !de.Bounce {
		t.Fatalf("550 at RCPT TO: %+v, want a permanent bounce", de)
	}
	de = Classify(ch.Deliver(context.Background(), Delivery{Job: smtpJob(2, "later@example.com"), Attempt: 1}))
	if de == nil || de.Bounce {
		t.Fatalf("451: %+v, want no bounce", de)
	}
}

func TestUnsubscribeListener(t *testing.T) {
	signer, _ := message.NewSigner("listener test secret 123")
	var got []queue.Unsubscribe
	fail := false
	h := NewUnsubscribeHandler(signer, func(_ context.Context, u queue.Unsubscribe) error {
		if fail {
			return errors.New("redis: connection refused")
		}
		got = append(got, u)
		return nil
	}, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	tok := signer.Sign(message.Token{Campaign: 4, Contact: 9})
	link := srv.URL + "/prefix/u/" + tok
	do := func(method, u, body string) (int, string, http.Header) {
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	oneClick := url.Values{"List-Unsubscribe": {"One-Click"}}.Encode()

	if code, page, _ := do("GET", link, ""); code != 200 || !strings.Contains(page, `<form method="post">`) || len(got) != 0 {
		t.Fatalf("GET: %d, %d recorded\n%s", code, len(got), page)
	}
	if code, _, _ := do("POST", srv.URL+"/u/"+tok[:len(tok)-1]+"x", oneClick); code != 404 || len(got) != 0 {
		t.Fatalf("tampered POST: %d, %d recorded", code, len(got))
	}
	if code, page, hdr := do("POST", link, oneClick); code != 200 || len(got) != 1 || !strings.Contains(page, "unsubscribed") ||
		hdr.Get("Cache-Control") != "no-store" || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("one-click POST: %d, %d recorded, headers %v", code, len(got), hdr)
	}
	if u := got[0]; u.Campaign != 4 || u.Contact != 9 || u.Via != "one-click" || u.At.IsZero() || u.DB != "" {
		t.Fatalf("recorded %+v", u)
	}
	// The page's button says so.
	if code, _, _ := do("POST", link, oneClick+"&confirm=1"); code != 200 || got[1].Via != "page" {
		t.Fatalf("page POST: %d, %+v", code, got)
	}
	test := srv.URL + "/u/" + signer.Sign(message.Token{Campaign: 4, Contact: 9, Test: true})
	if code, page, _ := do("POST", test, oneClick); code != 200 || len(got) != 2 || !strings.Contains(page, "nobody was unsubscribed") {
		t.Fatalf("test token: %d, %d recorded\n%s", code, len(got), page)
	}
	// A database's tag before the token goes with the request; a tag made
	// for another token is the proxy's prefix, as before tags.
	tag, _ := signer.SignDatabase("0a1b2c3d4e5f6071", tok)
	if code, _, _ := do("POST", srv.URL+"/u/"+tag+"/"+tok, oneClick); code != 200 || len(got) != 3 || got[2].DB != "0a1b2c3d4e5f6071" {
		t.Fatalf("tagged POST: %d, %+v", code, got)
	}
	wrong, _ := signer.SignDatabase("0a1b2c3d4e5f6071", signer.Sign(message.Token{Campaign: 4, Contact: 10}))
	if code, _, _ := do("POST", srv.URL+"/u/"+wrong+"/"+tok, oneClick); code != 200 || len(got) != 4 || got[3].DB != "" || got[3].Contact != 9 {
		t.Fatalf("POST with another link's tag: %d, %+v", code, got)
	}
	fail = true
	if code, _, hdr := do("POST", link, oneClick); code != 503 || hdr.Get("Retry-After") == "" {
		t.Fatalf("Redis down: %d %v, want 503 with Retry-After", code, hdr)
	}
	if code, _, _ := do("DELETE", link, ""); code != 405 {
		t.Fatalf("DELETE: %d", code)
	}
	if code, body, _ := do("GET", srv.URL+"/healthz", ""); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
}
