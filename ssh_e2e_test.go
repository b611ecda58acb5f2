package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	gossh "golang.org/x/crypto/ssh"

	"tui/internal/redistest"
	"tui/internal/testkit"
	"tui/queue"
	"tui/sending"
	"tui/store"
)

// `tui --ssh` as an operator runs it: the real binary, reached by OpenSSH's
// own client in a real terminal (tmux), and stopped with SIGTERM.

// sshKeyFiles writes a new ed25519 key pair as OpenSSH files (KEY, mode
// 0600, and KEY.pub) and returns the key's path and its signer.
func sshKeyFiles(tb testing.TB, dir, name string) (string, gossh.Signer) {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, name)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		tb.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path+".pub", gossh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path, signer
}

// sshServerProc is a running `tui --ssh`.
type sshServerProc struct {
	tb     testing.TB
	cmd    *exec.Cmd
	stderr *testkit.LockedBuffer
	addr   string
	done   chan struct{}
	err    error
}

var servingAddr = regexp.MustCompile(`msg="serving tui over SSH" addr=(\S+)`)

// startSSHServer runs bin --ssh 127.0.0.1:0 with args, and waits until it
// says where it listens.
func startSSHServer(tb testing.TB, bin string, env []string, args ...string) *sshServerProc {
	tb.Helper()
	cmd := exec.Command(bin, append([]string{"--ssh", "127.0.0.1:0"}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + tb.TempDir()}, env...)
	p := &sshServerProc{tb: tb, cmd: cmd, stderr: &testkit.LockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := servingAddr.FindStringSubmatch(p.log()); m != nil {
			p.addr = m[1]
			return p
		}
		select {
		case <-p.done:
			tb.Fatalf("tui --ssh exited (%v) before serving:\n%s", p.err, p.log())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("tui --ssh never said it was serving:\n%s", p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *sshServerProc) log() string { return p.stderr.String() }

func (p *sshServerProc) port() string {
	_, port, _ := net.SplitHostPort(p.addr)
	return port
}

// waitLog waits until the server's log has a line with every one of want.
func (p *sshServerProc) waitLog(want ...string) {
	p.tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, line := range strings.Split(p.log(), "\n") {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(line, w)
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("the server never logged a line with %q:\n%s", want, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and returns the exit code.
func (p *sshServerProc) stop() int {
	p.tb.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.tb.Fatalf("tui --ssh did not exit after SIGTERM:\n%s", p.log())
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if p.err != nil {
		p.tb.Fatal(p.err)
	}
	return 0
}

// openSSHArgs are the ssh options of a client that trusts whatever host
// it reaches and never asks anything.
func openSSHArgs(key, port string) []string {
	return []string{"-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", key, "-p", port}
}

func TestSSHWithOpenSSHClient(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("OpenSSH's ssh is not installed (Debian package openssh-client; make test installs it)")
	}
	bin := tuiBinary(t)
	dir := t.TempDir()
	key, signer := sshKeyFiles(t, dir, "id_alice")
	strangerKey, _ := sshKeyFiles(t, dir, "id_stranger")
	ak := filepath.Join(dir, "authorized_keys")
	pub, _ := os.ReadFile(key + ".pub")
	if err := os.WriteFile(ak, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "data", "tui.db")
	srv := startSSHServer(t, bin, nil, "--db", db, "--authorized-keys", ak)
	fp := gossh.FingerprintSHA256(signer.PublicKey())

	// A key that is not authorized gets nowhere, and no password is asked.
	out, err := exec.Command(sshBin, append(openSSHArgs(strangerKey, srv.port()), "-tt", "mallory@127.0.0.1")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Permission denied (publickey)") {
		t.Errorf("an unknown key: err %v, output %q; want Permission denied (publickey)", err, out)
	}
	srv.waitLog("ssh authentication refused", "user=mallory")

	term := startTerminal(t, 80, 24, nil, append([]string{sshBin}, append(openSSHArgs(key, srv.port()), "-tt", "alice@127.0.0.1")...)...)
	term.waitFor("No campaigns yet")
	term.keys("n")
	term.waitFor("New campaign")
	term.typeText("Over SSH")
	term.keys("Tab", "Tab", "Tab")
	term.typeText("Hello {{.name}}")
	term.keys("C-s")
	term.waitFor("Saved 'Over SSH'")
	srv.waitLog("ssh session started", "user=alice", "fingerprint="+fp, "width=80", "height=24")

	// Resizing the terminal resizes the session.
	term.resize(50, 12)
	term.waitFor("Terminal too small: need 60×15, have 50×12")
	term.resize(80, 24)
	term.waitFor("Over SSH")

	// SIGTERM: the session is told, the server exits 0, the store is closed.
	if code := srv.stop(); code != 0 {
		t.Errorf("tui --ssh exited %d after SIGTERM, want 0:\n%s", code, srv.log())
	}
	term.waitFor("The tui server is shutting down", "[exited]")
	if !strings.Contains(srv.log(), "stopped; the database is closed") {
		t.Errorf("the server did not say it closed the database:\n%s", srv.log())
	}

	// The store is free again, and the campaign names who made it.
	code, stdout, stderr := runBinary(t, nil, "campaign", "list", "--json", "--db", db)
	if code != 0 {
		t.Fatalf("campaign list after the server stopped: exit %d: %s", code, stderr)
	}
	var list []struct {
		Name      string `json:"name"`
		UpdatedBy string `json:"updated_by"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("campaign list --json: %v\n%s", err, stdout)
	}
	if len(list) != 1 || list[0].Name != "Over SSH" || list[0].UpdatedBy != "alice ("+fp+")" {
		t.Errorf("stored campaigns %+v, want 'Over SSH' updated by alice (%s)", list, fp)
	}
}

func TestSSHFlagsAreCheckedBeforeAnythingStarts(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--authorized-keys", "x"}, 2, "go with --ssh ADDR"},
		{[]string{"--ssh", ":0", "--headless-worker"}, 2, "exclude each other"},
		{[]string{"--ssh", ":0", "campaign", "list"}, 2, "takes no command"},
		{[]string{"--ssh", ":0", "--idle-timeout", "-1s"}, 2, "--idle-timeout"},
		{[]string{"--ssh", "127.0.0.1:0", "--db", filepath.Join(dir, "tui.db"), "--authorized-keys", filepath.Join(dir, "none")},
			1, "no SSH keys are authorized: " + filepath.Join(dir, "none") + " does not exist"},
	} {
		code, _, stderr := runBinary(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("tui %s: exit %d, stderr %q; want exit %d saying %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.want)
		}
	}
}

// The benchmark: 20 people on one server while a send runs, each pressing
// keys and waiting for their screen to follow. The server is the real
// binary in its own process, so its memory is its own.

// benchTerm is one client: an x/crypto/ssh session with a PTY, read into a
// terminal emulator that answers the program's queries.
type benchTerm struct {
	client  *gossh.Client
	sess    *gossh.Session
	stdin   io.WriteCloser
	inMu    sync.Mutex
	mu      sync.Mutex
	emu     *vt.Emulator
	changed chan struct{} // a token after each write to the emulator
	copied  chan struct{}
}

func dialBenchTerm(tb testing.TB, addr, user string, key gossh.Signer, w, h int) *benchTerm {
	tb.Helper()
	client, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{User: user, Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second})
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	sess, err := client.NewSession()
	if err != nil {
		tb.Fatal(err)
	}
	bt := &benchTerm{client: client, sess: sess, emu: vt.NewEmulator(w, h), changed: make(chan struct{}, 1), copied: make(chan struct{})}
	if err := sess.RequestPty("xterm-256color", h, w, gossh.TerminalModes{}); err != nil {
		tb.Fatal(err)
	}
	if bt.stdin, err = sess.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		defer close(bt.copied)
		buf := make([]byte, 32*1024)
		for {
			n, err := out.Read(buf)
			if n > 0 {
				bt.mu.Lock()
				_, _ = bt.emu.Write(buf[:n])
				bt.mu.Unlock()
				select {
				case bt.changed <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := bt.emu.Read(buf)
			if n > 0 {
				bt.inMu.Lock()
				_, _ = bt.stdin.Write(buf[:n])
				bt.inMu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	return bt
}

func (bt *benchTerm) send(s string) error {
	bt.inMu.Lock()
	defer bt.inMu.Unlock()
	_, err := io.WriteString(bt.stdin, s)
	return err
}

func (bt *benchTerm) screen() string {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	return bt.emu.String()
}

// waitScreen waits, woken by each write, until cond holds.
func (bt *benchTerm) waitScreen(cond func(string) bool) error {
	deadline := time.After(20 * time.Second)
	for {
		if cond(bt.screen()) {
			return nil
		}
		select {
		case <-bt.changed:
		case <-deadline:
			return fmt.Errorf("timed out; the screen shows:\n%s", bt.screen())
		}
	}
}

func (bt *benchTerm) close() {
	_ = bt.client.Close()
	<-bt.copied
	if c, ok := bt.emu.InputPipe().(io.Closer); ok {
		_ = c.Close()
	}
}

// selectedRow is the screen line with the list's cursor.
func selectedRow(scr string) string {
	for _, l := range strings.Split(scr, "\n") {
		if strings.HasPrefix(l, "▌") {
			return l
		}
	}
	return ""
}

// rowIndex is the screen line of name's row in the campaign list.
func rowIndex(scr, name string) int {
	for i, l := range strings.Split(scr, "\n") {
		if (strings.HasPrefix(l, "▌ ") || strings.HasPrefix(l, "  ")) && strings.Contains(l, name) && strings.Contains(l, " file ") {
			return i
		}
	}
	return -1
}

// rssKB reads a process's resident memory.
func rssKB(tb testing.TB, pid int) int {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	tb.Fatal("no VmRSS in /proc status")
	return 0
}

// benchSetup is a `tui --ssh --worker` process with a send of 50,000
// recipients at 500 a second running (it outlasts the benchmark: the hub
// folds worker events and every session's pane moves), a second campaign
// in draft, and n sessions showing the list.
type benchSetup struct {
	srv    *sshServerProc
	signer gossh.Signer
	terms  []*benchTerm
	// rssBefore is the server's memory before the n sessions.
	rssBefore int
}

func startBenchSetup(b *testing.B, n int) *benchSetup {
	b.Helper()
	srvRedis := redistest.Start(b)
	redisURL := srvRedis.URL()
	bin := tuiBinary(b)
	dir := b.TempDir()
	db := filepath.Join(dir, "tui.db")

	st, err := store.Open(db)
	if err != nil {
		b.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprintln(pw, "email,name")
		for i := 1; i <= 50_000; i++ {
			fmt.Fprintf(pw, "c%d@example.com,Name %d\n", i, i)
		}
		pw.Close()
	}()
	if _, err := st.ImportCSV(context.Background(), pr, store.ImportOptions{Tags: []string{"all"}}); err != nil {
		b.Fatal(err)
	}
	big, err := st.CreateCampaign("bench", store.Campaign{Name: "Big send", Channel: store.ChannelFile,
		Tags: []string{"all"}, Subject: "Hi {{.name}}", Body: "Hello {{.name}}", Rate: 500})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.CreateCampaign("bench", store.Campaign{Name: "Another draft", Channel: store.ChannelFile,
		Subject: "Hi", Body: "Hello"}); err != nil {
		b.Fatal(err)
	}
	conn, err := queue.NewConn(redisURL)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sending.New(st, conn).Start(context.Background(), "bench", big.ID, big.Version, nil); err != nil {
		b.Fatal(err)
	}
	conn.Close()
	st.Close()

	keyPath, signer := sshKeyFiles(b, dir, "id_bench")
	pub, _ := os.ReadFile(keyPath + ".pub")
	ak := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(ak, pub, 0o600); err != nil {
		b.Fatal(err)
	}
	srv := startSSHServer(b, bin, nil, "--db", db, "--redis", redisURL, "--worker", "--outbox", filepath.Join(dir, "outbox.jsonl"),
		"--authorized-keys", ak, "--max-sessions", "100")
	bs := &benchSetup{srv: srv, signer: signer}

	// One session first, so code pages and caches are in the baseline.
	warm := dialBenchTerm(b, srv.addr, "warm", signer, 80, 24)
	if err := warm.waitScreen(func(s string) bool { return strings.Contains(s, "Big send") }); err != nil {
		b.Fatal(err)
	}
	warm.close()
	srv.waitLog("ssh session ended", "user=warm")
	bs.rssBefore = rssKB(b, srv.cmd.Process.Pid)

	bs.terms = make([]*benchTerm, n)
	for i := range bs.terms {
		bs.terms[i] = dialBenchTerm(b, srv.addr, fmt.Sprintf("user%d", i), signer, 80, 24)
	}
	b.Cleanup(func() {
		for _, bt := range bs.terms {
			bt.close()
		}
	})
	for _, bt := range bs.terms {
		if err := bt.waitScreen(func(s string) bool {
			return strings.Contains(selectedRow(s), "Another draft") || strings.Contains(selectedRow(s), "Big send")
		}); err != nil {
			b.Fatal(err)
		}
	}
	return bs
}

// percentile is the p-th of sorted durations, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(float64(len(sorted)-1)*p)].Microseconds()) / 1000
}

func BenchmarkSSH20SessionsDuringASend(b *testing.B) {
	const sessions = 20
	bs := startBenchSetup(b, sessions)
	terms := bs.terms

	// The list's order decides which key moves to the other row.
	first, second := "Another draft", "Big send"
	if scr := terms[0].screen(); rowIndex(scr, first) > rowIndex(scr, second) {
		first, second = second, first
	}
	const down, up = "j", "k"

	var mu sync.Mutex
	var lat []time.Duration
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make(chan error, sessions)
		for _, bt := range terms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// j and k move the cursor between the two campaigns; which
				// row is selected tells the frame came.
				sel := selectedRow(bt.screen())
				keyStr, want := down, second
				if strings.Contains(sel, second) {
					keyStr, want = up, first
				} else if !strings.Contains(sel, first) {
					errs <- fmt.Errorf("no campaign is selected:\n%s", bt.screen())
					return
				}
				start := time.Now()
				if err := bt.send(keyStr); err != nil {
					errs <- err
					return
				}
				if err := bt.waitScreen(func(s string) bool { return strings.Contains(selectedRow(s), want) }); err != nil {
					errs <- err
					return
				}
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := rssKB(b, bs.srv.cmd.Process.Pid)

	slices.Sort(lat)
	b.ReportMetric(percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
	b.ReportMetric(float64(after-bs.rssBefore)/sessions, "server-KB/session")
	if !strings.Contains(terms[0].screen(), "sending") {
		b.Errorf("the send was not running during the benchmark:\n%s", terms[0].screen())
	}
}

var campaignsTab = regexp.MustCompile(`1 Campaigns \((\d+)\)`)

// campaignCount is the number in the Campaigns tab, or -1.
func campaignCount(scr string) int {
	m := campaignsTab.FindStringSubmatch(scr)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// BenchmarkSSHChangeReachesOtherSessions measures how long a campaign made
// in one session (c duplicates the selected one) takes to show in the 19
// others, during the same send: from the keystroke to the last of them.
func BenchmarkSSHChangeReachesOtherSessions(b *testing.B) {
	const sessions = 20
	bs := startBenchSetup(b, sessions)
	maker, others := bs.terms[0], bs.terms[1:]
	var lat []time.Duration
	for b.Loop() {
		n := campaignCount(maker.screen())
		if n < 0 {
			b.Fatalf("no campaign count on the screen:\n%s", maker.screen())
		}
		start := time.Now()
		if err := maker.send("c"); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(others)+1)
		for _, bt := range append([]*benchTerm{maker}, others...) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- bt.waitScreen(func(s string) bool { return campaignCount(s) > n })
			}()
		}
		wg.Wait()
		lat = append(lat, time.Since(start))
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	slices.Sort(lat)
	b.ReportMetric(percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
}
