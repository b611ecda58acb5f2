package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"tui/internal/redistest"
	"tui/internal/testkit"
	"tui/message"
	"tui/store"
)

// mailServer is an in-process SMTP server (go-smtp) that keeps every
// message it accepts and refuses gone@… with 550 5.1.1, as a mailbox
// provider refuses an address that does not exist.
type mailServer struct {
	addr string
	mu   sync.Mutex
	msgs []receivedMail
}

type receivedMail struct {
	from, to string
	data     []byte
}

func startMailServer(t *testing.T) *mailServer {
	t.Helper()
	s := &mailServer{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &mailSession{srv: s}, nil
	}))
	srv.Domain = "127.0.0.1"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); ln.Close(); <-done })
	return s
}

func (s *mailServer) messages() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.msgs...)
}

// waitFor waits until a message to addr has arrived, and returns it.
func (s *mailServer) waitFor(t *testing.T, addr string) receivedMail {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range s.messages() {
			if m.to == addr {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no message to %s arrived; got %d messages", addr, len(s.messages()))
	return receivedMail{}
}

type mailSession struct {
	srv      *mailServer
	from, to string
}

func (m *mailSession) Mail(from string, _ *gosmtp.MailOptions) error { m.from = from; return nil }
func (m *mailSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if strings.HasPrefix(to, "gone@") {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "user unknown"}
	}
	m.to = to
	return nil
}
func (m *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.srv.mu.Lock()
	m.srv.msgs = append(m.srv.msgs, receivedMail{from: m.from, to: m.to, data: b})
	m.srv.mu.Unlock()
	return nil
}
func (m *mailSession) Reset()        { m.from, m.to = "", "" }
func (m *mailSession) Logout() error { return nil }

// parsedMail is a received message taken apart with net/mail and
// mime/multipart.
type parsedMail struct {
	header     mail.Header
	rawHeader  string
	text, html string
	textType   string
	htmlType   string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v\n%s", err, data)
	}
	p := parsedMail{header: msg.Header}
	if i := bytes.Index(data, []byte("\r\n\r\n")); i > 0 {
		p.rawHeader = string(data[:i])
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var order []string
	for {
		part, err := mr.NextRawPart() // keeps Content-Transfer-Encoding: decoded below
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct := part.Header.Get("Content-Type")
		pt, pp, _ := mime.ParseMediaType(ct)
		if !strings.EqualFold(pp["charset"], "utf-8") {
			t.Errorf("part %s has charset %q, want UTF-8", pt, pp["charset"])
		}
		if cte := part.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
			t.Errorf("part %s has Content-Transfer-Encoding %q, want quoted-printable", pt, cte)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(part))
		if err != nil {
			t.Fatalf("part %s is not valid quoted-printable: %v", pt, err)
		}
		order = append(order, pt)
		body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
		switch pt {
		case "text/plain":
			p.text, p.textType = string(body), ct
		case "text/html":
			p.html, p.htmlType = string(body), ct
		}
	}
	// RFC 2046: the richest alternative comes last.
	if strings.Join(order, ",") != "text/plain,text/html" {
		t.Fatalf("parts %v, want text/plain then text/html", order)
	}
	return p
}

// unsubscribeLink reads List-Unsubscribe: the HTTPS-style link and the mailto.
func unsubscribeLink(t *testing.T, h mail.Header) (link, mailto string) {
	t.Helper()
	v := h.Get("List-Unsubscribe")
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if !strings.HasPrefix(f, "<") || !strings.HasSuffix(f, ">") {
			t.Fatalf("List-Unsubscribe %q: each URI must be in angle brackets", v)
		}
		u := strings.Trim(f, "<>")
		switch {
		case strings.HasPrefix(u, "mailto:"):
			mailto = u
		default:
			link = u
		}
	}
	return link, mailto
}

const testUnsubSecret = "correct horse battery staple 42"

// TestMailboxProviderRequirementsEndToEnd sends a Markdown campaign through
// a real worker process to a real SMTP server and checks what providers
// require, then follows one-click unsubscribe and a bounce through the whole
// path into the next preflight, and a test send that leaves the ledger as
// it was.
func TestMailboxProviderRequirementsEndToEnd(t *testing.T) {
	srv := redistest.Start(t)
	smtp := startMailServer(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "tui.db")
	listen := testkit.FreeAddr(t)
	base := "http://" + listen + "/u"

	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	csv := "email,name,city\nann@example.com,Ann,Paris\nbob@example.com,Bob,Oslo\ngone@example.com,Gone,Nowhere\n"
	if _, err := st.ImportCSV(context.Background(), strings.NewReader(csv), store.ImportOptions{Tags: []string{"news"}}); err != nil {
		t.Fatal(err)
	}
	body := "# Spring sale\n\nHello **{{.name}}** from {{.city}} — see [the shop](https://shop.example.com).\n\n" +
		"[Unsubscribe]({{.unsubscribe_url}})\n"
	mk := func(name string) store.Campaign {
		c, err := st.CreateCampaign("test", store.Campaign{Name: name, Channel: store.ChannelSMTP, From: "news@example.com",
			Tags: []string{"news"}, Subject: "Sale for {{.name}} ✓", Body: body, Format: "markdown"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first, second := mk("Spring sale"), mk("Summer sale")
	ann, err := st.ContactByAddress("ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	ownerEnv := []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL(), "TUI_UNSUBSCRIBE_URL=" + base,
		"TUI_UNSUBSCRIBE_SECRET=" + testUnsubSecret, "TUI_UNSUBSCRIBE_MAILTO=unsubscribe@example.com"}
	w := startWorkerProcEnv(t, []string{"REDIS_URL=" + srv.URL(), "SMTP_URL=smtp://" + smtp.addr + "?starttls=none",
		"TUI_UNSUBSCRIBE_SECRET=" + testUnsubSecret}, filepath.Join(dir, "outbox.jsonl"), "--listen", listen)
	waitHTTP(t, "http://"+listen+"/healthz", w)

	// 1. The campaign reaches the server: two delivered, gone@ bounced.
	code, _, stderr := runBinary(t, ownerEnv, "campaign", "send", fmt.Sprint(first.ID), "--wait")
	if code != 1 || !strings.Contains(stderr, "2 sent, 1 failed") {
		t.Fatalf("campaign send --wait: exit %d (want 1: one recipient bounced)\n%s", code, stderr)
	}
	signer, _ := message.NewSigner(testUnsubSecret)
	var annLink string
	for _, to := range []string{"ann@example.com", "bob@example.com"} {
		p := parseMail(t, smtp.waitFor(t, to).data)
		if to == "ann@example.com" {
			t.Logf("headers of the message to %s as received:\n%s", to, p.rawHeader)
		}
		h := p.header
		if got, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); got != "Sale for "+map[string]string{"ann@example.com": "Ann", "bob@example.com": "Bob"}[to]+" ✓" {
			t.Errorf("Subject %q", got)
		}
		if h.Get("MIME-Version") != "1.0" || h.Get("Message-ID") == "" || h.Get("Date") == "" {
			t.Errorf("MIME-Version %q, Message-ID %q, Date %q", h.Get("MIME-Version"), h.Get("Message-ID"), h.Get("Date"))
		}
		if got := h.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
			t.Errorf("List-Unsubscribe-Post = %q", got)
		}
		link, mailto := unsubscribeLink(t, h)
		// base/TAG/TOKEN: the tag names the database the message is from.
		tag, tok, _ := strings.Cut(strings.TrimPrefix(link, base+"/"), "/")
		if !strings.HasPrefix(link, base+"/") || tok == "" {
			t.Fatalf("List-Unsubscribe link %q is not on %s, or has no database tag", link, base)
		}
		if id, ok := signer.VerifyDatabase(tag, tok); !ok || len(id) != 16 {
			t.Errorf("the link's tag %q names database %q (%v)", tag, id, ok)
		}
		if mailto != "mailto:unsubscribe@example.com?subject=unsubscribe%20"+tok {
			t.Errorf("List-Unsubscribe mailto %q", mailto)
		}
		named, err := signer.Verify(tok)
		if err != nil || named.Campaign != first.ID || named.Test {
			t.Fatalf("token %q: %+v, %v", tok, named, err)
		}
		if to == "ann@example.com" {
			annLink = link
			if named.Contact != ann.ID {
				t.Errorf("the token names contact %d, want Ann (%d)", named.Contact, ann.ID)
			}
		}
		// The same link in the body, from one Markdown source in both parts.
		if !strings.Contains(p.text, "Unsubscribe ("+link+")") || !strings.Contains(p.text, "the shop (https://shop.example.com)") ||
			strings.Contains(p.text, "**") || !strings.Contains(p.text, "Spring sale\n===") {
			t.Errorf("text part:\n%s", p.text)
		}
		if !strings.Contains(p.html, `<a href="`+link+`">Unsubscribe</a>`) || !strings.Contains(p.html, "<strong>") ||
			!strings.Contains(p.html, "<h1>Spring sale</h1>") {
			t.Errorf("HTML part:\n%s", p.html)
		}
	}

	// 2. The bounce is in the suppression list, with where it came from.
	sups := suppressions(t, db)
	if s, ok := sups["gone@example.com"]; !ok || s.Source != store.SourceBounce || !strings.Contains(s.Reason, "5.1.1") || s.Campaign != first.ID {
		t.Fatalf("gone@ after a 550 5.1.1: %+v (all: %v)", s, sups)
	}

	// 3. A tampered token is refused, and records nothing.
	tampered := []byte(annLink)
	i := len(tampered) - 3
	tampered[i] ^= 1
	if tampered[i] == annLink[i] || !strings.HasPrefix(string(tampered), base) {
		t.Fatal("the token was not changed")
	}
	if code := postOneClick(t, string(tampered)); code != http.StatusNotFound {
		t.Fatalf("a tampered token: HTTP %d, want 404", code)
	}
	// A GET shows the confirmation page and unsubscribes nobody.
	resp, err := http.Get(annLink)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `<form method="post">`) {
		t.Fatalf("GET of the link: HTTP %d\n%s", resp.StatusCode, page)
	}
	if n, err := srv.Do("XLEN", "tui:unsubscribes"); err != nil || n != "0" {
		t.Fatalf("after a tampered POST and a GET the unsubscribe stream holds %s (%v), want 0", n, err)
	}

	// 4. The provider's one-click POST, twice (providers retry): recorded in
	// Redis while no owner runs, folded by the next one.
	for range 2 {
		if code := postOneClick(t, annLink); code != http.StatusOK {
			t.Fatalf("one-click POST: HTTP %d", code)
		}
	}
	if _, ok := suppressions(t, db)["ann@example.com"]; ok {
		t.Fatal("ann@ is suppressed before any owner ran: the listener must not touch the database")
	}

	t.Logf("%s: second send", time.Now().Format("15:04:05.000"))
	// 5. The next preflight leaves Ann and gone@ out and says why.
	code, _, stderr = runBinary(t, ownerEnv, "campaign", "send", fmt.Sprint(second.ID), "--wait")
	if code != 0 {
		t.Fatalf("second send: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"Recipients: 1\n", "Excluded: 2 left out by the suppression list (1 unsubscribed, 1 bounced)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the second preflight does not say %q:\n%s", want, stderr)
		}
	}
	sups = suppressions(t, db)
	if s := sups["ann@example.com"]; s.Source != store.SourceUnsubscribe || !strings.Contains(s.Reason, "one-click") || s.Campaign != first.ID {
		t.Fatalf("ann@ after one-click: %+v", s)
	}
	if len(sups) != 2 {
		t.Fatalf("suppression list %v, want ann@ and gone@ once each", sups)
	}
	bobs := 0
	for _, m := range smtp.messages() {
		if m.to == "ann@example.com" && strings.Contains(string(m.data), "Summer") {
			t.Fatal("Ann got the second campaign after unsubscribing")
		}
		if m.to == "bob@example.com" {
			bobs++
		}
	}
	if bobs != 2 {
		t.Fatalf("bob@ got %d messages, want 2", bobs)
	}
	if n, _ := srv.Do("XLEN", "tui:unsubscribes"); n != "0" {
		t.Errorf("the folded unsubscribes are still in Redis: XLEN %s", n)
	}

	t.Logf("%s: the second send is done", time.Now().Format("15:04:05.000"))
	// 6. A test send reaches the server, marked, and the ledger and status
	// stay as they were.
	before := campaignState(t, ownerEnv, first.ID)
	t.Logf("%s: test send", time.Now().Format("15:04:05.000"))
	code, stdout, stderr := runBinary(t, ownerEnv, "campaign", "test", fmt.Sprint(first.ID), "--to", "me@example.com", "--contact", "bob@example.com")
	if code != 0 || !strings.Contains(stdout, "✓ me@example.com: delivered") {
		t.Fatalf("campaign test: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	p := parseMail(t, smtp.waitFor(t, "me@example.com").data)
	subj, _ := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
	if subj != "[TEST] Sale for Bob ✓" || p.header.Get("X-Tui-Test") != "1" {
		t.Errorf("test message: Subject %q, X-Tui-Test %q", subj, p.header.Get("X-Tui-Test"))
	}
	link, _ := unsubscribeLink(t, p.header)
	if tok, err := signer.Verify(link[strings.LastIndexByte(link, '/')+1:]); err != nil || !tok.Test {
		t.Fatalf("the test's link %q: %+v %v, want a test token", link, tok, err)
	}
	if code := postOneClick(t, link); code != http.StatusOK {
		t.Fatalf("POST of a test link: HTTP %d", code)
	}
	if after := campaignState(t, ownerEnv, first.ID); after != before {
		t.Fatalf("the test send changed the campaign:\nbefore %s\nafter  %s", before, after)
	}
	if n, _ := srv.Do("XLEN", "tui:unsubscribes"); n != "0" {
		t.Errorf("a test link recorded an unsubscribe: XLEN %s", n)
	}
}

// postOneClick does what a mailbox provider does for RFC 8058.
func postOneClick(t *testing.T, link string) int {
	t.Helper()
	resp, err := http.Post(link, "application/x-www-form-urlencoded", strings.NewReader(url.Values{"List-Unsubscribe": {"One-Click"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func waitHTTP(t *testing.T, u string, w *workerProc) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-w.done:
			t.Fatalf("the worker exited: %v\n%s", w.err, w.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s never answered", u)
}

func suppressions(t *testing.T, db string) map[string]store.Suppression {
	t.Helper()
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.Suppressions()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Suppression{}
	for _, s := range list {
		out[s.Address] = s
	}
	return out
}

// campaignState is the campaign's status, ledger export and version.
func campaignState(t *testing.T, env []string, id uint64) string {
	t.Helper()
	code, show, stderr := runBinary(t, env, "campaign", "show", fmt.Sprint(id), "--json")
	if code != 0 {
		t.Fatalf("campaign show: %s", stderr)
	}
	var c struct {
		Status  string         `json:"status"`
		Version uint64         `json:"version"`
		Ledger  map[string]int `json:"ledger"`
	}
	if err := json.Unmarshal([]byte(show), &c); err != nil {
		t.Fatal(err)
	}
	_, csv, _ := runBinary(t, env, "campaign", "export", fmt.Sprint(id), "-")
	return fmt.Sprintf("%s v%d %v\n%s", c.Status, c.Version, c.Ledger, csv)
}
