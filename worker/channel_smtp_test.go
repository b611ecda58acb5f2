package worker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/wneessen/go-mail/smtp"

	"tui/queue"
)

const (
	smtpTestUser = "mailer"
	smtpTestPass = "p@ss:w/rd"
)

// received is one message as the test server stored it.
type received struct {
	from, to string
	data     []byte
	tls      bool
}

// smtpServer is an in-process go-smtp server that requires AUTH PLAIN with
// the test credentials, stores what it accepts, and answers by recipient:
// busy@ 421, later@ 451, gone@ 550, slow@ waits in DATA until released.
type smtpServer struct {
	addr    string
	release chan struct{}
	inData  chan struct{} // a slow@ message reached DATA

	mu    sync.Mutex
	conns map[*gosmtp.Conn]bool
	msgs  []received
}

type smtpTLSMode int

const (
	plainSMTP smtpTLSMode = iota
	startTLS
	implicitTLS
)

func startSMTPServer(t *testing.T, mode smtpTLSMode) *smtpServer {
	t.Helper()
	s := &smtpServer{conns: map[*gosmtp.Conn]bool{}, release: make(chan struct{}), inData: make(chan struct{}, 1)}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		return &smtpSession{srv: s, conn: c}, nil
	}))
	srv.Domain = "127.0.0.1"
	srv.AllowInsecureAuth = mode == plainSMTP
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if mode != plainSMTP {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSignedCert(t)}}
	}
	if mode == implicitTLS {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	s.addr = l.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		srv.Close()
		// Close misses a listener that Serve has not registered yet.
		l.Close()
		<-done
	})
	return s
}

// url is SMTP_URL for this server with the test credentials.
func (s *smtpServer) url(scheme, query string) string {
	u := url.URL{Scheme: scheme, User: url.UserPassword(smtpTestUser, smtpTestPass), Host: s.addr, RawQuery: query}
	return u.String()
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *smtpServer) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// dropConnections closes every client connection from the server's side,
// as a server does to idle clients.
func (s *smtpServer) dropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

type smtpSession struct {
	srv    *smtpServer
	conn   *gosmtp.Conn
	authed bool
	from   string
	to     string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != smtpTestUser || pass != smtpTestPass {
			return gosmtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if !s.authed {
		return gosmtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	switch strings.SplitN(to, "@", 2)[0] {
	case "busy":
		return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Too many messages, slow down"}
	case "later":
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "Greylisted, try again later"}
	case "gone":
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	}
	s.to = to
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if strings.HasPrefix(s.to, "slow@") {
		s.srv.inData <- struct{}{}
		<-s.srv.release
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, received{from: s.from, to: s.to, data: data, tls: isTLS})
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.to = "", "" }
func (s *smtpSession) Logout() error { return nil }

func selfSignedCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tui test smtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func smtpJob(contact uint64, to string) queue.Job {
	return queue.Job{CampaignID: 77, ContactID: contact, To: to, Channel: "smtp", From: "Shop <news@shop.example>",
		Subject: "Frühling ☀ sale", Body: "Hallo Ana,\r\nüber 50% Rabatt — nur heute.\n" + strings.Repeat("long line ", 30)}
}

func newSMTPChannel(t *testing.T, rawURL string) *SMTPChannel {
	t.Helper()
	ch, err := NewSMTPChannel(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return ch
}

// parsed is a received message read back as a mail reader would.
type parsed struct {
	from, to, subject, messageID, body string
}

func parseReceived(t *testing.T, r received) parsed {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(r.data)))
	if err != nil {
		t.Fatalf("the server got a message that does not parse: %v\n%s", err, r.data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(m.Body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(strings.ToLower(ct), "utf-8") {
		t.Fatalf("Content-Type %q, want text/plain in UTF-8", ct)
	}
	return parsed{from: m.Header.Get("From"), to: m.Header.Get("To"), subject: subject,
		messageID: m.Header.Get("Message-Id"), body: strings.ReplaceAll(string(b), "\r\n", "\n")}
}

func TestSMTPDeliversOverPlainConnectionWithAuth(t *testing.T) {
	srv := startSMTPServer(t, plainSMTP)
	ch := newSMTPChannel(t, srv.url("smtp", ""))
	ctx := context.Background()
	job := smtpJob(1, "ana@example.org")
	for attempt := 1; attempt <= 2; attempt++ {
		if err := ch.Deliver(ctx, Delivery{Job: job, Attempt: attempt, Worker: "w"}); err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
	}
	if err := ch.Deliver(ctx, Delivery{Job: smtpJob(2, "bo@example.org"), Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 3 {
		t.Fatalf("server got %d messages, want 3", len(msgs))
	}
	first, retry, other := parseReceived(t, msgs[0]), parseReceived(t, msgs[1]), parseReceived(t, msgs[2])
	if msgs[0].from != "news@shop.example" || msgs[0].to != "ana@example.org" {
		t.Fatalf("envelope %s → %s", msgs[0].from, msgs[0].to)
	}
	if !strings.Contains(first.from, "news@shop.example") || first.to != "<ana@example.org>" {
		t.Fatalf("From %q, To %q", first.from, first.to)
	}
	if first.subject != job.Subject {
		t.Fatalf("Subject %q, want %q", first.subject, job.Subject)
	}
	// go-mail ends the body with a line break.
	if want := strings.ReplaceAll(job.Body, "\r\n", "\n"); strings.TrimSuffix(first.body, "\n") != want {
		t.Fatalf("body\n got %q\nwant %q", first.body, want)
	}
	wantID := "<" + MessageID(job.Key(), job.From) + ">"
	if first.messageID != wantID || retry.messageID != wantID {
		t.Fatalf("Message-IDs %q and %q across attempts, want both %q", first.messageID, retry.messageID, wantID)
	}
	if other.messageID == wantID || !strings.Contains(wantID, "77.1") || !strings.HasSuffix(wantID, "@shop.example>") {
		t.Fatalf("Message-ID %q (other recipient %q): want the key in it, at the sender's domain, distinct per recipient", wantID, other.messageID)
	}
	if n := srv.connCount(); n != 1 {
		t.Fatalf("three sequential deliveries used %d connections, want 1 (reuse)", n)
	}
}

func TestSMTPStartTLSAndImplicitTLS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   smtpTLSMode
		scheme string
		query  string
	}{
		{"starttls-opportunistic", startTLS, "smtp", "insecure_skip_verify=1"},
		{"starttls-required", startTLS, "smtp", "starttls=required&insecure_skip_verify=1"},
		{"smtps", implicitTLS, "smtps", "insecure_skip_verify=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSMTPServer(t, tc.mode)
			ch := newSMTPChannel(t, srv.url(tc.scheme, tc.query))
			if err := ch.Deliver(context.Background(), Delivery{Job: smtpJob(1, "ana@example.org"), Attempt: 1}); err != nil {
				t.Fatal(err)
			}
			msgs := srv.messages()
			if len(msgs) != 1 || !msgs[0].tls {
				t.Fatalf("got %d messages (tls=%v), want 1 over TLS", len(msgs), len(msgs) == 1 && msgs[0].tls)
			}
			if p := parseReceived(t, msgs[0]); p.subject != "Frühling ☀ sale" {
				t.Fatalf("subject %q", p.subject)
			}
		})
	}
}

func TestSMTPSetupFailuresArePermanentAndSayWhatToChange(t *testing.T) {
	plain := startSMTPServer(t, plainSMTP)
	tlsSrv := startSMTPServer(t, startTLS)
	wrongPass := url.URL{Scheme: "smtp", User: url.UserPassword(smtpTestUser, "wrong-password"), Host: plain.addr}
	for _, tc := range []struct {
		name, url string
		want      []string
	}{
		{"untrusted certificate", tlsSrv.url("smtp", ""), []string{"certificate", "insecure_skip_verify"}},
		{"starttls required but not offered", plain.url("smtp", "starttls=required"), []string{"STARTTLS", "starttls=required"}},
		{"wrong password", wrongPass.String(), []string{"535", "SMTP_URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newSMTPChannel(t, tc.url)
			de := Classify(ch.Deliver(context.Background(), Delivery{Job: smtpJob(1, "ana@example.org"), Attempt: 1}))
			if de == nil || de.Transient {
				t.Fatalf("%#v, want a permanent failure", de)
			}
			t.Log(de.Reason)
			for _, w := range tc.want {
				if !strings.Contains(de.Reason, w) {
					t.Fatalf("reason %q does not contain %q", de.Reason, w)
				}
			}
			if strings.Contains(de.Reason, smtpTestPass) || strings.Contains(de.Reason, "wrong-password") {
				t.Fatalf("reason leaks the password: %q", de.Reason)
			}
		})
	}
	if n := len(plain.messages()) + len(tlsSrv.messages()); n != 0 {
		t.Fatalf("%d messages went through a refused set-up", n)
	}
}

func TestSMTPClassifiesReplies(t *testing.T) {
	srv := startSMTPServer(t, plainSMTP)
	ch := newSMTPChannel(t, srv.url("smtp", ""))
	ctx := context.Background()
	for _, tc := range []struct {
		to                   string
		transient, throttled bool
		reason               string
	}{
		{"busy@example.org", true, true, "421 4.7.0 Too many messages, slow down"},
		{"later@example.org", true, false, "451 4.7.1 Greylisted, try again later"},
		{"gone@example.org", false, false, "550 5.1.1 No such user here"},
	} {
		de := Classify(ch.Deliver(ctx, Delivery{Job: smtpJob(9, tc.to), Attempt: 1}))
		if de == nil {
			t.Fatalf("%s: delivered, want a failure", tc.to)
		}
		t.Log(de.Reason)
		if de.Transient != tc.transient || de.Throttled != tc.throttled || !strings.Contains(de.Reason, tc.reason) {
			t.Fatalf("%s: transient=%v throttled=%v reason %q; want %v %v containing %q",
				tc.to, de.Transient, de.Throttled, de.Reason, tc.transient, tc.throttled, tc.reason)
		}
	}
	// After a refused recipient the connection is reset and reused: one
	// connection for 450/550 and the next good message, plus the one the
	// 421 closed.
	if err := ch.Deliver(ctx, Delivery{Job: smtpJob(10, "ana@example.org"), Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if n := srv.connCount(); n != 2 {
		t.Fatalf("used %d connections, want 2 (one dropped after the 421, one kept across 451, 550 and success)", n)
	}
	if got := srv.messages(); len(got) != 1 || got[0].to != "ana@example.org" {
		t.Fatalf("server stored %v, want only ana's message", got)
	}
}

func TestSMTPRedialsWhenTheServerDroppedAnIdleConnection(t *testing.T) {
	srv := startSMTPServer(t, plainSMTP)
	ch := newSMTPChannel(t, srv.url("smtp", ""))
	ctx := context.Background()
	if err := ch.Deliver(ctx, Delivery{Job: smtpJob(1, "ana@example.org"), Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	srv.dropConnections()
	if err := ch.Deliver(ctx, Delivery{Job: smtpJob(2, "bo@example.org"), Attempt: 1}); err != nil {
		t.Fatalf("delivery after the server dropped the pooled connection: %v", err)
	}
	if n := len(srv.messages()); n != 2 {
		t.Fatalf("server got %d messages, want 2", n)
	}
}

func TestSMTPConcurrentDeliveriesShareAFewConnections(t *testing.T) {
	srv := startSMTPServer(t, plainSMTP)
	ch := newSMTPChannel(t, srv.url("smtp", "max_conns=2"))
	const goroutines, each = 6, 5
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				job := smtpJob(uint64(g*each+i+1), fmt.Sprintf("c%d.%d@example.org", g, i))
				if err := ch.Deliver(context.Background(), Delivery{Job: job, Attempt: 1}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := len(srv.messages()); n != goroutines*each {
		t.Fatalf("server got %d messages, want %d", n, goroutines*each)
	}
	if n := srv.connCount(); n > 2 {
		t.Fatalf("max_conns=2 but the server saw %d connections", n)
	}
}

func TestSMTPCancelEndsADeliveryStuckInDATA(t *testing.T) {
	srv := startSMTPServer(t, plainSMTP)
	ch := newSMTPChannel(t, srv.url("smtp", ""))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ch.Deliver(ctx, Delivery{Job: smtpJob(1, "slow@example.org"), Attempt: 1}) }()
	select {
	case <-srv.inData:
	case err := <-done:
		t.Fatalf("the delivery ended before DATA: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery never reached DATA")
	}
	cancel()
	select {
	case err := <-done:
		de := Classify(err)
		if de == nil || !de.Transient {
			t.Fatalf("cancelled delivery: %#v, want transient", de)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled delivery did not return within 10s")
	}
}

func TestSMTPBadAddressesFailForGood(t *testing.T) {
	srv := startSMTPServer(t, plainSMTP)
	ch := newSMTPChannel(t, srv.url("smtp", ""))
	for _, job := range []queue.Job{
		{CampaignID: 1, ContactID: 1, To: "not an address", From: "news@shop.example"},
		{CampaignID: 1, ContactID: 2, To: "ana@example.org", From: ""},
		{CampaignID: 1, ContactID: 3, To: "ana@example.org", From: "nope"},
	} {
		de := Classify(ch.Deliver(context.Background(), Delivery{Job: job, Attempt: 1}))
		if de == nil || de.Transient {
			t.Fatalf("job %+v: %#v, want a permanent failure", job, de)
		}
	}
	if n := srv.connCount(); n != 0 {
		t.Fatalf("bad addresses opened %d connections", n)
	}
}

func TestSMTPURLErrors(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"", "needs SMTP_URL in the worker's environment"},
		{"http://u:hunter2@host", "smtp:// or smtps://"},
		{"smtp://u:hunter2@", "names no host"},
		{"smtp://u:hunter2@host:0", "port"},
		{"smtp://u:hunter2@host?starttls=maybe", "starttls"},
		{"smtps://u:hunter2@host?starttls=required", "does not apply to smtps"},
		{"smtp://u:hunter2@host?tls=1", "unknown parameter"},
		{"smtp://u:hunter2@host?timeout=-1s", "timeout"},
		{"smtp://u:hunter2@host?max_conns=0", "max_conns"},
		{"smtp://host?auth=plain", "needs a user name"},
		{"smtp://u:hunter2@host?auth=ntlm", "auth="},
		{"smtp://u:hun%zzter2@host", "not a valid URL"},
	} {
		_, err := NewSMTPChannel(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error containing %q", tc.url, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "hun%zzter2") {
			t.Errorf("%q: the error leaks the password: %v", tc.url, err)
		}
	}
	ch, err := NewSMTPChannel("smtp://relay.internal?starttls=none&timeout=5s&helo=worker1")
	if err != nil {
		t.Fatal(err)
	}
	if ch.cfg.port != 587 || ch.cfg.timeout != 5*time.Second || ch.cfg.hasUser {
		t.Fatalf("parsed %+v", ch.cfg)
	}
}

func TestSMTPNeverSendsAPasswordInTheClear(t *testing.T) {
	a := &smtpAuth{user: "u", pass: "secret"}
	_, _, err := a.Start(&smtp.ServerInfo{Name: "mail.example.com", TLS: false, Auth: []string{"PLAIN", "LOGIN"}})
	var mech *errSMTPAuthMech
	if !errors.As(err, &mech) || !strings.Contains(err.Error(), "smtps://") {
		t.Fatalf("PLAIN offered without TLS: %v, want a refusal pointing to smtps://", err)
	}
	proto, _, err := a.Start(&smtp.ServerInfo{Name: "mail.example.com", TLS: false, Auth: []string{"PLAIN", "CRAM-MD5"}})
	if err != nil || proto != "CRAM-MD5" {
		t.Fatalf("without TLS, CRAM-MD5 on offer: %q %v, want CRAM-MD5", proto, err)
	}
	forced := &smtpAuth{user: "u", pass: "secret", mech: "PLAIN"}
	if _, _, err := forced.Start(&smtp.ServerInfo{Name: "mail.example.com", Auth: []string{"PLAIN"}}); !errors.As(err, &mech) {
		t.Fatalf("auth=plain without TLS: %v, want a refusal", err)
	}
	proto, _, err = a.Start(&smtp.ServerInfo{Name: "mail.example.com", TLS: true, Auth: []string{"LOGIN", "PLAIN", "SCRAM-SHA-256"}})
	if err != nil || proto != "SCRAM-SHA-256" {
		t.Fatalf("over TLS: %q %v, want SCRAM-SHA-256", proto, err)
	}
}
