package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tui/internal/graphtest"
	"tui/internal/redistest"
	"tui/internal/smtptest"
	"tui/internal/testkit"
	"tui/internal/testkit/seed"
	"tui/store"
)

// A worker whose channel fails as a whole — a revoked page token, a refused
// SMTP login, a certificate it does not trust — fails nobody: it gives the
// jobs back and stops reading the send, its log, its heartbeat and
// `send --wait` say why, and a worker without the fault then delivers to
// everyone, nobody failed.

// envWorker is a headless worker process with its own environment.
type envWorker struct {
	cmd  *exec.Cmd
	log  *testkit.LockedBuffer
	done chan struct{}
}

func startEnvWorker(t *testing.T, redisURL string, env ...string) *envWorker {
	t.Helper()
	cmd := exec.Command(tuiBinary(t), "--headless-worker", "--outbox", filepath.Join(t.TempDir(), "outbox.jsonl"))
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "REDIS_URL=" + redisURL}, env...)
	w := &envWorker{cmd: cmd, log: &testkit.LockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = w.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.done
		if t.Failed() {
			t.Logf("worker %d log:\n%s", cmd.Process.Pid, w.log.String())
		}
	})
	return w
}

// sendWithAFaultyWorker runs the story: the send is waited for with a
// faulty worker running; --wait says no worker can deliver it and why, and
// nobody has failed or been sent to; then a good worker starts and a new
// --wait exits 0 with everyone sent.
func sendWithAFaultyWorker(t *testing.T, db, redisURL string, id uint64, n int, faulty, good []string, why ...string) {
	t.Helper()
	bad := startEnvWorker(t, redisURL, faulty...)
	cmd, stderr := startWait(t, db, redisURL, id, "No running worker can deliver this send", 45*time.Second)
	for _, w := range why {
		if !strings.Contains(stderrText(stderr), w) {
			t.Errorf("--wait does not say %q:\n%s", w, stderrText(stderr))
		}
	}
	// Stopping the wait lets this test open the database.
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if s := statusOf(t, db, redisURL, id); s.Counts[store.RecipientFailed] != 0 || s.Counts[store.RecipientSent] != 0 ||
		s.Counts[store.RecipientQueued] != n || s.Status != store.StatusSending {
		t.Fatalf("the faulty worker changed the send: %+v", s)
	}
	if log := bad.log.String(); !strings.Contains(log, "cannot deliver this campaign here") || !strings.Contains(log, why[0]) {
		t.Errorf("the faulty worker's log does not say why:\n%s", log)
	}
	startEnvWorker(t, redisURL, good...)
	code, _, errOut := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + redisURL}, "campaign", "send", fmt.Sprint(id), "--wait")
	if code != 0 || !strings.Contains(errOut, fmt.Sprintf("Done: all %d recipients", n)) {
		t.Fatalf("send --wait with a good worker: exit %d\n%s", code, errOut)
	}
	s := statusOf(t, db, redisURL, id)
	if s.Status != store.StatusCompleted || s.Counts[store.RecipientSent] != n || s.Counts[store.RecipientFailed] != 0 {
		t.Fatalf("status %+v", s)
	}
	_ = bad.cmd.Process.Signal(syscall.SIGTERM)
}

// A revoked page token (Graph error 190) fails nobody; a worker with a
// good token delivers to every PSID and phone number once, with the
// campaign's message tag. The whole way goes through the command line, as
// the README's Messenger section shows it.
func TestARevokedPageTokenFailsNobody(t *testing.T) {
	srv := redistest.Start(t)
	const good = "EAAGgoodPAGEtoken"
	graph := graphtest.Start(t, good)
	db := filepath.Join(t.TempDir(), "tui.db")
	csv := "name,email,phone,psid,last_interaction_at\n"
	var psids []string
	for i := 1; i <= 40; i++ {
		psid := fmt.Sprint(1254477777770000 + i)
		psids = append(psids, psid)
		csv += fmt.Sprintf("Fan %d,,,%s,2025-01-%02dT10:00:00Z\n", i, psid, 1+i%28)
	}
	csv += "Phone fan,,+14155550123,,\nMail only,ada@example.com,,,\n"
	out := tuiOK(t, db, "contacts", "import", writeFile(t, t.TempDir(), "fans.csv", csv), "--tag", "fans")
	if !strings.Contains(out, "42 created") {
		t.Fatalf("import: %s", out)
	}
	body := writeFile(t, t.TempDir(), "body.txt", "Hi {{.name}}, the card on your account expires this month. Update it in the app.\n")
	id := strings.TrimSpace(tuiOK(t, db, "campaign", "create", "--name", "Card expiry", "--channel", "messenger",
		"--body-file", body, "--tag", "fans", "--message-tag", "ACCOUNT_UPDATE"))
	var shown struct {
		MessagingType string `json:"messaging_type"`
		MessageTag    string `json:"message_tag"`
		Audience      int    `json:"audience"`
	}
	if err := json.Unmarshal([]byte(tuiOK(t, db, "campaign", "show", id, "--json")), &shown); err != nil ||
		shown.MessagingType != "MESSAGE_TAG" || shown.MessageTag != "ACCOUNT_UPDATE" || shown.Audience != 41 {
		t.Fatalf("campaign show: %+v %v", shown, err)
	}
	var cid uint64
	fmt.Sscan(id, &cid)
	sendWithAFaultyWorker(t, db, srv.URL(), cid, 41,
		[]string{"MESSENGER_PAGE_TOKEN=EAAGrevokedTOKEN", "MESSENGER_API_BASE=" + graph.URL},
		[]string{"MESSENGER_PAGE_TOKEN=" + good, "MESSENGER_API_BASE=" + graph.URL},
		"Graph error 190", "MESSENGER_PAGE_TOKEN")
	delivered := graph.Delivered()
	for _, p := range append(psids, "+14155550123") {
		if delivered[p] != 1 {
			t.Errorf("%s got %d messages, want 1", p, delivered[p])
		}
	}
	for _, r := range graph.Requests() {
		if r.MessagingType != "MESSAGE_TAG" || r.Tag != "ACCOUNT_UPDATE" || r.ByPhone != strings.HasPrefix(r.Recipient, "+") {
			t.Errorf("request %s", r.Body)
		}
	}
	if len(graph.Requests()) != 41 {
		t.Errorf("%d requests with the good token, want 41", len(graph.Requests()))
	}
}

// smtpCampaign seeds n email contacts and an smtp campaign.
func smtpCampaign(t *testing.T, n int) (db string, id uint64) {
	t.Helper()
	db, id = seed.Campaign(t, n)
	editCampaign(t, db, id, func(c *store.Campaign) { c.Channel, c.From = store.ChannelSMTP, "news@example.com" })
	return db, id
}

// An SMTP server that refuses the worker's login (535) fails nobody; a
// worker with the right password delivers to everyone.
func TestAnSMTPLoginFailureFailsNobody(t *testing.T) {
	srv := redistest.Start(t)
	mail := smtptest.Start(t, smtptest.Config{User: "mailer", Pass: "right-password"})
	db, id := smtpCampaign(t, 30)
	sendWithAFaultyWorker(t, db, srv.URL(), id, 30,
		[]string{"SMTP_URL=" + mail.URL("mailer", "wrong-password", "")},
		[]string{"SMTP_URL=" + mail.URL("mailer", "right-password", "")},
		"535", "SMTP_URL")
	if got := len(mail.Messages()); got != 30 {
		t.Fatalf("the server accepted %d messages, want 30", got)
	}
	if n := mail.FailedLogins(); n < 1 || n > 8 {
		t.Errorf("%d failed logins: the faulty worker should stop after its first few", n)
	}
}

// A server certificate the worker does not trust fails nobody; a worker
// told to trust it delivers to everyone, over TLS.
func TestAnUntrustedCertificateFailsNobody(t *testing.T) {
	srv := redistest.Start(t)
	mail := smtptest.Start(t, smtptest.Config{User: "mailer", Pass: "pw", StartTLS: true})
	db, id := smtpCampaign(t, 30)
	sendWithAFaultyWorker(t, db, srv.URL(), id, 30,
		[]string{"SMTP_URL=" + mail.URL("mailer", "pw", "starttls=required")},
		[]string{"SMTP_URL=" + mail.URL("mailer", "pw", "starttls=required&insecure_skip_verify=1")},
		"TLS certificate not trusted", "insecure_skip_verify")
	msgs := mail.Messages()
	if len(msgs) != 30 {
		t.Fatalf("the server accepted %d messages, want 30", len(msgs))
	}
	for _, m := range msgs {
		if !m.TLS {
			t.Fatalf("a message went without TLS: %s", m.To)
		}
	}
}
