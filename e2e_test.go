package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// End-to-end tests run the real binary in a real terminal: a tmux server of
// their own (its own socket), driven with send-keys and read with
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
