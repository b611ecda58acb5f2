package ui

import (
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// withOptions is an authorized_keys line: options, then the key.
func withOptions(options string, k gossh.Signer) string {
	return options + " " + string(gossh.MarshalAuthorizedKey(k.PublicKey()))
}

// Key options are honoured or the key is refused, loudly; never accepted
// as if they were not there.
func TestSSHKeyOptionsAreHonouredOrRefused(t *testing.T) {
	keys := map[string]gossh.Signer{}
	for _, name := range []string{"plain", "elsewhere", "loopback", "negated", "restricted", "command", "permitopen", "expired", "nopty", "future"} {
		keys[name] = newClientKey(t)
	}
	lines := withOptions(`from="10.9.9.9"`, keys["elsewhere"]) +
		withOptions(`from="127.0.0.0/8,::1"`, keys["loopback"]) +
		withOptions(`from="127.0.0.*,!127.0.0.1"`, keys["negated"]) +
		withOptions(`restrict,no-port-forwarding,no-agent-forwarding,no-X11-forwarding,pty`, keys["restricted"]) +
		withOptions(`command="/bin/sh -c id"`, keys["command"]) +
		withOptions(`no-agent-forwarding,permitopen="localhost:5432"`, keys["permitopen"]) +
		withOptions(`expiry-time="20200101"`, keys["expired"]) +
		withOptions(`no-pty`, keys["nopty"]) +
		withOptions(`expiry-time="29991231Z",from="127.0.0.1"`, keys["future"])
	r := startSSH(t, rigConfig{}, keys["plain"])
	f, err := os.OpenFile(r.cfg.AuthorizedKeysPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(lines); err != nil {
		t.Fatal(err)
	}
	f.Close()

	for _, tc := range []struct {
		key    string
		ok     bool
		reason string // in the refusal's log line
	}{
		{"plain", true, ""},
		{"loopback", true, ""},
		{"restricted", true, ""},
		{"future", true, ""},
		{"elsewhere", false, "may log in only from 10.9.9.9"},
		{"negated", false, "may log in only from 127.0.0.*,!127.0.0.1"},
		{"command", false, "the option command= is not supported"},
		{"permitopen", false, "the option permitopen= is not supported"},
		{"expired", false, "the key expired at 2020-01-01"},
		{"nopty", false, "no-pty forbids a terminal"},
	} {
		c, err := r.dial(tc.key, gossh.PublicKeys(keys[tc.key]))
		if tc.ok {
			if err != nil {
				t.Errorf("%s: refused: %v", tc.key, err)
				continue
			}
			c.Close()
			continue
		}
		if err == nil {
			c.Close()
			t.Errorf("%s: let in", tc.key)
			continue
		}
		r.waitLog("ssh authentication refused", "user="+tc.key, tc.reason, "line ")
	}
	// The keys that cannot be honoured are named when the file is read,
	// as errors.
	r.waitLog("level=ERROR", "authorized_keys: this key is refused", "command=", "fingerprint="+Fingerprint(keys["command"].PublicKey()))
	if strings.Contains(r.logs.String(), "are ignored") {
		t.Errorf("an option was ignored:\n%s", r.logs.String())
	}
}

func TestSSHRefusesToStartWhenNoKeyCanBeHonoured(t *testing.T) {
	dir := t.TempDir()
	ak := dir + "/authorized_keys"
	if err := os.WriteFile(ak, []byte(withOptions(`command="uptime"`, newClientKey(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewSSHServer(SSHConfig{Store: newTestStore(t), HostKeyPath: dir + "/hk", AuthorizedKeysPath: ak})
	if err == nil || !strings.Contains(err.Error(), "options tui cannot honour") {
		t.Fatalf("NewSSHServer with only a command= key: %v", err)
	}
}

func TestFromPatterns(t *testing.T) {
	for _, tc := range []struct {
		patterns string
		ip       string
		ok       bool
	}{
		{"10.9.9.9", "10.9.9.9", true},
		{"10.9.9.9", "127.0.0.1", false},
		{"10.0.0.0/8", "10.200.3.4", true},
		{"10.0.0.0/8", "11.0.0.1", false},
		{"192.168.1.*", "192.168.1.77", true},
		{"192.168.1.?", "192.168.1.77", false},
		{"*,!10.0.0.1", "10.0.0.1", false},
		{"*,!10.0.0.1", "10.0.0.2", true},
		{"!10.0.0.1", "10.0.0.2", false}, // nothing positive matched
		{"host.example.com", "10.0.0.2", false},
		{"::1", "::1", true},
		{"2001:db8::/32", "2001:db8::7", true},
	} {
		if got := fromAllows(strings.Split(tc.patterns, ","), net.ParseIP(tc.ip)); got != tc.ok {
			t.Errorf("from=%q for %s: %v, want %v", tc.patterns, tc.ip, got, tc.ok)
		}
	}
}

// A client that authenticates and opens no session is closed after the
// sessionless timeout; so is one that keeps its connection after its
// session ended.
func TestSSHConnectionsWithoutASessionAreClosed(t *testing.T) {
	alice := newClientKey(t)
	r := startSSH(t, rigConfig{sessionless: 300 * time.Millisecond}, alice)
	c, err := r.dial("alice", gossh.PublicKeys(alice))
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Wait() }()
	select {
	case <-closed:
	case <-time.After(waitDeadline):
		t.Fatal("a connection without a session is still open")
	}
	r.waitLog("ssh connection closed: authenticated but held no session", "user=alice")

	// A session keeps it open past the timeout; ending the session starts
	// the clock again.
	c, err = r.dial("alice", gossh.PublicKeys(alice))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	sess.Stdout = io.Discard
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	r.waitSessions(1)
	closed = make(chan error, 1)
	go func() { closed <- c.Wait() }()
	select {
	case <-closed:
		t.Fatal("the connection was closed while its session was open")
	case <-time.After(600 * time.Millisecond):
	}
	// Quit the TUI; the client keeps the connection.
	if _, err := stdin.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	r.waitSessions(0)
	select {
	case <-closed:
	case <-time.After(waitDeadline):
		t.Fatal("the connection is still open after its session ended")
	}
}
