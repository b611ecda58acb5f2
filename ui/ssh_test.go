package ui

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"tui/internal/redistest"

	tea "charm.land/bubbletea/v2"
	gossh "golang.org/x/crypto/ssh"
)

// exitStatus is a session's exit status from Wait's error.
func exitStatus(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *gossh.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus()
	}
	t.Fatalf("the session ended without an exit status: %v", err)
	return -1
}

func TestSSHAuthorizedKeyCreatesCampaign(t *testing.T) {
	alice := newClientKey(t)
	r := startSSH(t, rigConfig{}, alice)
	term := r.connect("alice", alice, "xterm-256color", 80, 24)
	term.waitFor("No campaigns yet — press n to create one")

	term.press("n")
	term.waitFor("New campaign")
	term.typeText("Spring sale")
	term.press("tab", "tab", "tab") // channel, subject, body
	term.typeText("Hello {{.name}}")
	term.press("ctrl+s")
	term.waitFor("Saved 'Spring sale'")

	want := "alice (" + Fingerprint(alice.PublicKey()) + ")"
	c, ok := campaignNamed(t, r.st, "Spring sale")
	if !ok {
		t.Fatalf("the campaign is not in the store: %+v", campaignsIn(t, r.st))
	}
	if c.UpdatedBy != want || c.Body != "Hello {{.name}}" {
		t.Errorf("stored campaign: updated by %q with body %q, want %q and the typed body", c.UpdatedBy, c.Body, want)
	}
	entries, err := r.st.Audit(10)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Action == "campaign.create" && e.Actor == want {
			found = true
		}
	}
	if !found {
		t.Errorf("no campaign.create audit entry by %q: %+v", want, entries)
	}
	r.waitLog("ssh authentication accepted", "user=alice", "fingerprint="+Fingerprint(alice.PublicKey()))
	r.waitLog("ssh session started", "user=alice", "term=xterm-256color", "width=80", "height=24")

	// q quits at the top level: the session ends cleanly, and the server
	// says so.
	term.press("q")
	if code := exitStatus(t, term.waitEnd()); code != 0 {
		t.Errorf("exit status %d after q, want 0", code)
	}
	r.waitLog("ssh session ended", "user=alice", "reason=quit")
	r.waitSessions(0)
}

func TestSSHRefusesUnknownKeysPasswordsAndKeyboardInteractive(t *testing.T) {
	alice, mallory := newClientKey(t), newClientKey(t)
	r := startSSH(t, rigConfig{}, alice)

	if c, err := r.dial("mallory", gossh.PublicKeys(mallory)); err == nil {
		c.Close()
		t.Fatal("an unknown key was let in")
	}
	r.waitLog("ssh authentication refused", "user=mallory", "method=publickey",
		"fingerprint="+Fingerprint(mallory.PublicKey()), "not in")

	// The server does not even offer passwords, so a client has nothing to
	// try: the connection is refused and logged with the user it named.
	if c, err := r.dial("alice", gossh.Password("hunter2")); err == nil {
		c.Close()
		t.Fatal("a password was accepted")
	} else if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("password login: %v, want an authentication failure", err)
	}
	r.waitLog("ssh authentication refused", "user=alice", "only public keys are accepted")

	asked := false
	ki := gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
		asked = true
		return []string{"hunter2"}, nil
	})
	if c, err := r.dial("alice", ki); err == nil {
		c.Close()
		t.Fatal("keyboard-interactive was accepted")
	}
	if asked {
		t.Error("the server asked keyboard-interactive questions; it must not offer the method")
	}
	r.waitLogCount(2, "ssh authentication refused", "user=alice", "only public keys are accepted")
	if strings.Contains(r.logs.String(), "hunter2") {
		t.Errorf("a password reached the log:\n%s", r.logs.String())
	}
	if n := r.srv.Sessions(); n != 0 {
		t.Errorf("%d sessions open after refused logins", n)
	}
}

func TestSSHAuthorizedKeysAreReadAgainWithoutRestart(t *testing.T) {
	alice, bob := newClientKey(t), newClientKey(t)
	r := startSSH(t, rigConfig{}, alice)
	if c, err := r.dial("bob", gossh.PublicKeys(bob)); err == nil {
		c.Close()
		t.Fatal("bob's key was let in before it was added")
	}
	authorize(t, r.cfg.AuthorizedKeysPath, bob)
	c, err := r.dial("bob", gossh.PublicKeys(bob))
	if err != nil {
		t.Fatalf("bob's key, added while the server runs, is refused: %v", err)
	}
	c.Close()

	// Taking a key out locks its holder out just as fast.
	if err := os.WriteFile(r.cfg.AuthorizedKeysPath, gossh.MarshalAuthorizedKey(bob.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := r.dial("alice", gossh.PublicKeys(alice)); err == nil {
		c.Close()
		t.Fatal("alice's key still works after it was removed")
	}
}

func TestSSHSessionsSeeEachOthersChanges(t *testing.T) {
	alice, bob := newClientKey(t), newClientKey(t)
	r := startSSH(t, rigConfig{}, alice, bob)
	a := r.connect("alice", alice, "xterm-256color", 80, 24)
	b := r.connect("bob", bob, "xterm-256color", 80, 24)
	a.waitFor("No campaigns yet")
	b.waitFor("No campaigns yet")

	// Created in one session, listed in the other.
	a.press("n")
	a.waitFor("New campaign")
	a.typeText("Spring sale")
	a.press("tab", "tab", "tab")
	a.typeText("Hello")
	a.press("ctrl+s")
	a.waitFor("Saved 'Spring sale'")
	b.waitFor("Spring sale")
	b.waitFor("1 Campaigns (1)")

	// Edited in the other, renamed in the first.
	b.press("e")
	b.waitFor("Edit campaign")
	b.press("ctrl+u")
	b.typeText("Summer sale")
	b.press("ctrl+s")
	b.waitFor("Saved 'Summer sale'")
	a.waitUntil("the old name to leave alice's list", func(scr string) bool {
		return strings.Contains(lineWith(scr, "draft"), "Summer sale") && !strings.Contains(lineWith(scr, "Spring sale"), "draft")
	})
	// The details say who changed it (the key is cut short at 80 columns).
	a.press("enter")
	a.waitFor("by bob (" + Fingerprint(bob.PublicKey())[:30])
	a.press("esc")
	// A key right after a lone ESC would read as alt+key: wait for the list.
	a.waitFor("LAST SEND")

	// Deleted in the first, gone from the second.
	a.press("d")
	a.waitFor("Delete campaign 'Summer sale'")
	a.press("right", "enter")
	a.waitFor("Deleted 'Summer sale'")
	b.waitFor("No campaigns yet")
}

// A send started, paused and re-paced in one session shows in the other
// within the wait, with who started it; no worker runs, so no delivery
// event carries the news.
func TestSSHSessionsSeeEachOthersSends(t *testing.T) {
	srv := redistest.Start(t)
	alice, bob := newClientKey(t), newClientKey(t)
	r := startSSH(t, rigConfig{redisURL: srv.URL()}, alice, bob)
	seedContacts(t, r.st, sendContactsCSV(5))
	seedSend(t, r.st, "Spring sale", 10)
	a := r.connect("alice", alice, "xterm-256color", 100, 30)
	b := r.connect("bob", bob, "xterm-256color", 100, 30)
	a.waitFor("Spring sale")
	b.waitFor("Spring sale")

	a.press("s")
	a.waitFor("Send 'Spring sale' to 5 recipients?")
	a.press("y")
	a.waitFor("Spring sale  sending")
	b.waitUntil("the send in bob's list", func(scr string) bool { return strings.Contains(lineWith(scr, "▌"), "sending") })
	b.press("w")
	b.waitFor("by alice")

	a.press("p")
	a.waitFor("Paused 'Spring sale'")
	b.waitFor("Spring sale  paused")

	a.press("t")
	a.waitFor("Rate of 'Spring sale'")
	a.press("backspace", "backspace")
	a.typeText("40")
	a.press("enter")
	a.waitFor("now sends at 40/s")
	b.press("esc")
	b.waitFor("LAST SEND")
	b.press("enter")
	b.waitFor("40 messages/second")
}

func TestSSHEditConflictNamesWhoChangedIt(t *testing.T) {
	alice, bob := newClientKey(t), newClientKey(t)
	r := startSSH(t, rigConfig{}, alice, bob)
	seedCampaign(t, r.st, "Spring sale")
	a := r.connect("alice", alice, "xterm-256color", 160, 40)
	b := r.connect("bob", bob, "xterm-256color", 160, 40)
	a.waitFor("Spring sale")
	b.waitFor("Spring sale")
	a.press("e")
	b.press("e")
	a.waitFor("Edit campaign")
	b.waitFor("Edit campaign")

	a.press("ctrl+u")
	a.typeText("Alice's sale")
	a.press("ctrl+s")
	a.waitFor("Saved 'Alice's sale'")

	b.press("ctrl+u")
	b.typeText("Bob's sale")
	b.press("ctrl+s")
	scr := b.waitFor("was changed by alice")
	if !strings.Contains(scr, Fingerprint(alice.PublicKey())) || !strings.Contains(scr, "ctrl+r") {
		t.Errorf("the conflict does not name alice's key or offer ctrl+r to reload:\n%s", scr)
	}
	if c, _ := campaignNamed(t, r.st, "Alice's sale"); c.UpdatedBy != "alice ("+Fingerprint(alice.PublicKey())+")" {
		t.Errorf("the stored campaign is %+v; bob's save must not have overwritten alice's", c)
	}
	b.press("ctrl+r")
	b.waitFor("Alice's sale")
	b.waitGone("Bob's sale")
}

func TestSSHPanickingSessionLeavesOthersWorking(t *testing.T) {
	alice, crasher := newClientKey(t), newClientKey(t)
	r := startSSH(t, rigConfig{onMsg: func(user string, msg tea.Msg) {
		if k, ok := msg.(tea.KeyPressMsg); ok && user == "crasher" && k.String() == "P" {
			panic("a bug in one session")
		}
	}}, alice, crasher)
	a := r.connect("alice", alice, "xterm-256color", 80, 24)
	c := r.connect("crasher", crasher, "xterm-256color", 80, 24)
	a.waitFor("No campaigns yet")
	c.waitFor("No campaigns yet")
	r.waitSessions(2)

	c.press("P")
	if code := exitStatus(t, c.waitEnd()); code != 1 {
		t.Errorf("the panicked session exited %d, want 1", code)
	}
	c.waitFor("Something went wrong in this session")
	r.waitLog("ssh session panicked", "user=crasher")
	r.waitSessions(1)

	a.press("n")
	a.waitFor("New campaign")
	a.typeText("Still here")
	a.press("tab", "tab", "tab")
	a.typeText("Hi")
	a.press("ctrl+s")
	a.waitFor("Saved 'Still here'")
}

func TestSSHWindowChangeReachesTheSession(t *testing.T) {
	alice := newClientKey(t)
	r := startSSH(t, rigConfig{}, alice)
	term := r.connect("alice", alice, "xterm-256color", 80, 24)
	term.waitFor("No campaigns yet")

	term.resize(50, 12)
	term.waitFor("Terminal too small: need 60×15, have 50×12")
	term.resize(120, 30)
	scr := term.waitGone("Terminal too small")
	lines := strings.Split(scr, "\n")
	if len(lines) != 30 || !strings.Contains(lines[29], "? help") {
		t.Errorf("the status bar is not on the last of 30 lines:\n%s", frame(scr))
	}
	r.waitLog("ssh session started", "user=alice", "width=80")
}

func TestSSHEachSessionHasItsOwnColourProfile(t *testing.T) {
	alice, bob := newClientKey(t), newClientKey(t)
	r := startSSH(t, rigConfig{}, alice, bob)
	rich := r.connect("alice", alice, "xterm-256color", 80, 24)
	plain := r.connect("bob", bob, "vt100", 80, 24)
	rich.waitFor("No campaigns yet")
	plain.waitFor("No campaigns yet")
	if !strings.Contains(rich.rawOutput(), "38;5;") {
		t.Errorf("an xterm-256color session got no 256-colour sequences")
	}
	if out := plain.rawOutput(); strings.Contains(out, "38;5;") || strings.Contains(out, "38;2;") {
		t.Errorf("a vt100 session got 256-colour or true-colour sequences")
	}
}

func TestSSHHostKeyIsStableAcrossRestarts(t *testing.T) {
	alice := newClientKey(t)
	dir := t.TempDir()
	r := startSSH(t, rigConfig{dir: dir}, alice)
	first := r.hostFP
	term := r.connect("alice", alice, "xterm-256color", 80, 24)
	term.waitFor("No campaigns yet")
	r.stop()
	if err := term.waitEnd(); err != nil && exitStatus(t, err) != 0 {
		t.Errorf("the session ended with %v at shutdown", err)
	}
	term.waitFor("shutting down")
	_ = r.st.Close()

	info, err := os.Stat(filepath.Join(dir, HostKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("the host key has mode %04o, want 0600", perm)
	}

	again := startSSH(t, rigConfig{dir: dir})
	if again.hostFP != first {
		t.Fatalf("the host key changed across a restart: %s then %s", first, again.hostFP)
	}
	// A client that trusts the first key connects to the second server.
	again.hostFP = first
	c, err := again.dial("alice", gossh.PublicKeys(alice))
	if err != nil {
		t.Fatalf("a client that trusts the first host key cannot connect after a restart: %v", err)
	}
	c.Close()
}

func TestSSHRefusesToStartWithoutKeys(t *testing.T) {
	for _, tc := range []struct {
		name, content, reason string
	}{
		{"missing file", "", "does not exist"},
		{"only comments", "# nobody yet\n\n", "has no keys"},
		{"nothing readable", "ssh-ed25519 not-base64!\n", "has no keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ak := filepath.Join(dir, "conf", "authorized_keys")
			if tc.content != "" {
				if err := os.MkdirAll(filepath.Dir(ak), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(ak, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			st := newTestStore(t)
			_, err := NewSSHServer(SSHConfig{Store: st, AuthorizedKeysPath: ak, HostKeyPath: filepath.Join(dir, HostKeyFileName)})
			var none *NoAuthorizedKeysError
			if !errors.As(err, &none) {
				t.Fatalf("NewSSHServer: %v, want a NoAuthorizedKeysError", err)
			}
			msg := err.Error()
			for _, want := range []string{ak + " " + tc.reason, "cat ~/.ssh/id_ed25519.pub >> " + ak, "ssh-keygen -t ed25519"} {
				if !strings.Contains(msg, want) {
					t.Errorf("the message does not say %q:\n%s", want, msg)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, HostKeyFileName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a server that cannot start made a host key anyway (%v)", err)
			}
		})
	}
}

func TestSSHSessionWithoutPTYIsTurnedAway(t *testing.T) {
	alice := newClientKey(t)
	r := startSSH(t, rigConfig{}, alice)
	client, err := r.dial("alice", gossh.PublicKeys(alice))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	term := r.session(client, "", 80, 24)
	if code := exitStatus(t, term.waitEnd()); code != 1 {
		t.Errorf("exit status %d without a PTY, want 1", code)
	}
	msg := term.stderr.String()
	if strings.Count(strings.TrimSpace(msg), "\n") != 0 || !strings.Contains(msg, "needs one: connect with plain `ssh` or `ssh -t`") {
		t.Errorf("without a PTY the client read %q, want one line saying how to connect", msg)
	}
	r.waitLog("ssh session refused", "user=alice", "reason=\"no terminal\"")
}

func TestSSHSessionCapTurnsTheNextOneAway(t *testing.T) {
	alice, bob := newClientKey(t), newClientKey(t)
	r := startSSH(t, rigConfig{maxSessions: 1}, alice, bob)
	a := r.connect("alice", alice, "xterm-256color", 80, 24)
	a.waitFor("No campaigns yet")

	client, err := r.dial("bob", gossh.PublicKeys(bob))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	b := r.session(client, "xterm-256color", 80, 24)
	if code := exitStatus(t, b.waitEnd()); code != 1 {
		t.Errorf("the session over the cap exited %d, want 1", code)
	}
	if msg := b.stderr.String(); !strings.Contains(msg, "all 1 sessions are in use; try again later") {
		t.Errorf("the session over the cap read %q", msg)
	}
	// The one inside the cap goes on.
	a.press("n")
	a.waitFor("New campaign")
}

func TestSSHIdleSessionTimesOut(t *testing.T) {
	alice := newClientKey(t)
	r := startSSH(t, rigConfig{idle: 300 * time.Millisecond}, alice)
	term := r.connect("alice", alice, "xterm-256color", 80, 24)
	if code := exitStatus(t, term.waitEnd()); code != 0 {
		t.Errorf("exit status %d after the idle timeout, want 0", code)
	}
	term.waitFor("Disconnected after 300ms without input")
	r.waitLog("ssh session ended", "user=alice", "reason=idle")
}

func TestSSHDroppedConnectionEndsTheSessionAndItsGoroutines(t *testing.T) {
	alice := newClientKey(t)
	r := startSSH(t, rigConfig{}, alice)
	// Warm up once, so goroutines that live as long as the server (the
	// hub, the listener) are in the baseline.
	warm := r.connect("alice", alice, "xterm-256color", 80, 24)
	warm.waitFor("No campaigns yet")
	warm.close()
	r.waitSessions(0)
	baseline := settledGoroutines(t, -1)

	terms := make([]*sshTerm, 3)
	for i := range terms {
		terms[i] = r.connect("alice", alice, "xterm-256color", 80, 24)
		terms[i].waitFor("No campaigns yet")
	}
	r.waitSessions(3)
	for _, term := range terms {
		// Hang up without quitting, as a dropped network does.
		term.close()
	}
	r.waitSessions(0)

	r.waitLog("ssh session ended", "reason=disconnected")
	settledGoroutines(t, baseline)
}

// settledGoroutines waits until the goroutine count is at most want (or
// stops changing, with want < 0) and returns it.
func settledGoroutines(t *testing.T, want int) int {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	last := runtime.NumGoroutine()
	for {
		time.Sleep(20 * time.Millisecond)
		n := runtime.NumGoroutine()
		if (want >= 0 && n <= want) || (want < 0 && n == last) {
			return n
		}
		last = n
		if time.Now().After(deadline) {
			if want < 0 {
				return n
			}
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines remain after every session ended, want at most %d:\n%s", n, want, buf)
		}
	}
}

func TestSSHShutdownTellsSessionsAndReturns(t *testing.T) {
	alice := newClientKey(t)
	r := startSSH(t, rigConfig{}, alice)
	term := r.connect("alice", alice, "xterm-256color", 80, 24)
	term.waitFor("No campaigns yet")
	term.press("n")
	term.waitFor("New campaign")
	term.typeText("Half typed")
	term.waitFor("Half typed")
	r.stop()
	term.waitEnd()
	scr := term.waitFor("The tui server is shutting down")
	if !strings.Contains(strings.ReplaceAll(scr, "\n", ""), "unsaved changes in Campaigns › New campaign were not saved") {
		t.Errorf("the farewell does not mention the unsaved form:\n%s", scr)
	}
	r.waitLog("ssh session ended", "reason=shutdown")
	if _, err := r.dial("alice", gossh.PublicKeys(alice)); err == nil {
		t.Error("the server still accepts connections after shutting down")
	}
	if n := len(campaignsIn(t, r.st)); n != 0 {
		t.Errorf("%d campaigns stored: the unsaved form must not have been saved", n)
	}
}
