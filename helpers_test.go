package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"tui/internal/testkit"
	"tui/store"
)

// The helpers the root package's tests share: the binary and its commands,
// its worker and owner processes, the outbox they write, and a real
// terminal. End-to-end tests run the real binary in a real terminal: a tmux
// server of their own (its own socket), driven with send-keys and read with
// capture-pane, as a person at a keyboard would.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// tuiBinary builds the binary once per test run.
func tuiBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tui-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tui")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type terminal struct {
	t      *testing.T
	sock   string
	target string
}

// startTerminal runs the command in a detached tmux session of w×h cells.
func startTerminal(t *testing.T, w, h int, env []string, argv ...string) *terminal {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (make test installs it): end-to-end terminal tests skipped")
	}
	dir, err := os.MkdirTemp("", "tui-tmux")
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, sock: filepath.Join(dir, "sock"), target: "e2e"}
	args := []string{"-S", term.sock, "-f", "/dev/null", "new-session", "-d", "-s", term.target,
		"-x", fmt.Sprint(w), "-y", fmt.Sprint(h)}
	for _, kv := range env {
		args = append(args, "-e", kv)
	}
	args = append(args, strings.Join(quoteAll(argv), " ")+"; echo '[exited]' $?; sleep 600")
	term.tmux(args...)
	term.tmux("set-option", "-t", term.target, "status", "off")
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-S", term.sock, "kill-server").Run()
		os.RemoveAll(dir)
	})
	return term
}

func quoteAll(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}

func (term *terminal) tmux(args ...string) string {
	term.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", term.sock}, args...)...).CombinedOutput()
	if err != nil {
		term.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// keys sends tmux key names ("Enter", "Escape", "Tab", "C-s", "Down") or
// literal text with literal=true.
func (term *terminal) keys(keys ...string) {
	term.t.Helper()
	term.tmux(append([]string{"send-keys", "-t", term.target}, keys...)...)
}

func (term *terminal) typeText(s string) {
	term.t.Helper()
	term.tmux("send-keys", "-t", term.target, "-l", s)
}

func (term *terminal) screen() string {
	term.t.Helper()
	return term.tmux("capture-pane", "-p", "-t", term.target)
}

func (term *terminal) resize(w, h int) {
	term.t.Helper()
	term.tmux("resize-window", "-t", term.target, "-x", fmt.Sprint(w), "-y", fmt.Sprint(h))
}

// waitFor polls the screen until it contains every one of want.
func (term *terminal) waitFor(want ...string) string {
	term.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := term.screen()
		ok := true
		for _, w := range want {
			if !strings.Contains(s, w) {
				ok = false
				break
			}
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("the screen never showed %q; it shows:\n%s", want, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGone polls the screen until it shows none of gone. A key sent right
// after Escape must wait for the Escape to land: a terminal cannot tell
// "Escape, then 2" typed fast from alt+2.
func (term *terminal) waitGone(gone ...string) string {
	term.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := term.screen()
		found := false
		for _, g := range gone {
			if strings.Contains(s, g) {
				found = true
				break
			}
		}
		if !found {
			return s
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("the screen still shows %q:\n%s", gone, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// connCounter is a TCP listener that stands where Redis would be and counts
// every connection made to it.
type connCounter struct {
	ln    net.Listener
	count atomic.Int64
}

func newConnCounter(t *testing.T) *connCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &connCounter{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.count.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c
}

func (c *connCounter) url() string { return "redis://:sekrit@" + c.ln.Addr().String() + "/0" }

// Commands, processes and the outbox.

type result struct {
	code           int
	stdout, stderr string
}

// cli runs one command line in-process against the database in dir.
func cli(t *testing.T, db string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, ctx: context.Background(),
		getenv: func(k string) string {
			if k == "TUI_DB" {
				return db
			}
			return ""
		},
	}
	code := run(e, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runBinary(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runIn(t, env, "", "", args...)
}

// runIn runs the binary in dir (empty: this one) with stdin (empty: none,
// /dev/null).
func runIn(t *testing.T, env []string, dir, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(tuiBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// tuiOK runs the binary on db and fails the test unless it exits 0.
func tuiOK(t *testing.T, db string, args ...string) string {
	t.Helper()
	code, out, errOut := runBinary(t, []string{"TUI_DB=" + db}, args...)
	if code != 0 {
		t.Fatalf("tui %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

type workerProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer         // its whole log, once it has exited
	log    *testkit.LockedBuffer // its log so far
	done   chan struct{}
	err    error
}

func startWorkerProc(t *testing.T, redisURL, outbox string, args ...string) *workerProc {
	t.Helper()
	return startWorkerProcEnv(t, []string{"REDIS_URL=" + redisURL}, outbox, args...)
}

// startWorkerProcEnv starts a headless worker with env added to a bare one.
func startWorkerProcEnv(t *testing.T, env []string, outbox string, args ...string) *workerProc {
	t.Helper()
	cmd := exec.Command(tuiBinary(t), append([]string{"--headless-worker", "--outbox", outbox}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	lb := &testkit.LockedBuffer{}
	p := &workerProc{cmd: cmd, stderr: &bytes.Buffer{}, log: lb, done: make(chan struct{})}
	cmd.Stderr = lb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		p.stderr.WriteString(lb.String())
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("worker %d log:\n%s", cmd.Process.Pid, p.stderr.String())
		}
	})
	return p
}

// ownerProc is a `tui serve` process: the owner of a database.
type ownerProc struct {
	cmd    *exec.Cmd
	stderr *testkit.LockedBuffer
	done   chan struct{}
}

// stop sends SIGTERM and waits for a clean exit.
func (o *ownerProc) stop(t *testing.T) {
	t.Helper()
	o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("tui serve did not stop on SIGTERM:\n%s", o.stderr.String())
	}
	if code := o.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("tui serve exit %d:\n%s", code, o.stderr.String())
	}
}

// startServe runs `tui serve` on db and waits until its socket answers.
func startServe(t *testing.T, env []string, db string, args ...string) *ownerProc {
	t.Helper()
	cmd := exec.Command(tuiBinary(t), append([]string{"serve"}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "TUI_DB=" + db}, env...)
	o := &ownerProc{cmd: cmd, stderr: &testkit.LockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = o.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		close(o.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-o.done
		if t.Failed() {
			t.Logf("tui serve log:\n%s", o.stderr.String())
		}
	})
	testkit.Eventually(t, 10*time.Second, "the owner's socket", func() bool {
		return strings.Contains(o.stderr.String(), "serving the command line")
	})
	return o
}

type outboxLine struct {
	Campaign   uint64    `json:"campaign"`
	Key        string    `json:"key"`
	Attempt    int       `json:"attempt"`
	Redelivery bool      `json:"redelivery"`
	Worker     string    `json:"worker"`
	At         time.Time `json:"at"`
}

func readOutbox(t *testing.T, path string) []outboxLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	// A worker may be writing a line as we read (one write(2) per line, but
	// a read can see part of it): only complete lines count.
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	var out []outboxLine
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var l outboxLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("outbox line %q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

func waitLines(t *testing.T, outbox string, n int, d time.Duration) []outboxLine {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		lines := readOutbox(t, outbox)
		distinct := map[string]bool{}
		for _, l := range lines {
			distinct[l.Key] = true
		}
		if len(distinct) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d recipients delivered after %v", len(distinct), n, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func keysOnce(t *testing.T, lines []outboxLine, n int) (dups int) {
	t.Helper()
	seen := map[string]int{}
	for _, l := range lines {
		seen[l.Key]++
	}
	if len(seen) != n {
		t.Fatalf("%d distinct recipients delivered, want %d", len(seen), n)
	}
	for _, c := range seen {
		dups += c - 1
	}
	return dups
}

func statusOf(t *testing.T, db, redisURL string, id uint64) statusJSON {
	t.Helper()
	code, out, errOut := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + redisURL}, "campaign", "status", fmt.Sprint(id), "--json")
	if code != 0 {
		t.Fatalf("campaign status: exit %d\n%s", code, errOut)
	}
	var s statusJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return s
}

// editCampaign changes a stored campaign before it is sent.
func editCampaign(t *testing.T, db string, id uint64, edit func(*store.Campaign)) {
	t.Helper()
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.Campaign(id)
	if err != nil {
		t.Fatal(err)
	}
	edit(&c)
	if _, err := st.UpdateCampaign("t", c); err != nil {
		t.Fatal(err)
	}
}

// startWait runs `campaign send ID --wait` and waits until its stderr says
// want; the caller ends it.
func startWait(t *testing.T, db, redisURL string, id uint64, want string, within time.Duration) (*exec.Cmd, *testkit.LockedBuffer) {
	t.Helper()
	cmd := exec.Command(tuiBinary(t), "campaign", "send", fmt.Sprint(id), "--wait")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "TUI_DB=" + db, "REDIS_URL=" + redisURL}
	stderr := &testkit.LockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(within)
	for !strings.Contains(stderrText(stderr), want) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no %q:\n%s", want, stderrText(stderr))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd, stderr
}

func stderrText(b *testkit.LockedBuffer) string { return b.String() }

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}
