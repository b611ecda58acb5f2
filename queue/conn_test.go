package queue

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tui/internal/redistest"
	"tui/internal/testkit"
)

// countingListener stands where Redis would be and counts connections.
func countingListener(t *testing.T) (addr string, count *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	count = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			count.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), count
}

func TestNewConnDoesNotDial(t *testing.T) {
	addr, count := countingListener(t)
	c, err := NewConn("redis://:pw@" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	ch, unsub := c.Subscribe()
	if s := <-ch; s.State != Idle {
		t.Fatalf("state %v, want idle", s.State)
	}
	unsub()
	_ = c.Status()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count.Load(); n != 0 {
		t.Fatalf("%d connections before any send", n)
	}
}

func TestRefusedIsReportedWithinOneSecond(t *testing.T) {
	c, err := NewConn("redis://:hunter2@" + testkit.FreeAddr(t) + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.Client(context.Background())
	elapsed := time.Since(start)
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *UnavailableError", err)
	}
	if elapsed > time.Second {
		t.Errorf("a refused connection took %v to report, want under 1 s", elapsed)
	}
	msg := err.Error()
	for _, want := range []string{"connection refused", "redis://:xxxxx@", "REDIS_URL", "--redis", "redis-server"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("message leaks the password: %s", msg)
	}
	if s := c.Status(); s.State != Unavailable || strings.Contains(s.Describe(), "hunter2") {
		t.Errorf("status %+v", s)
	}
}

func TestUnresolvableHostIsReportedWithinOneSecond(t *testing.T) {
	c, err := NewConn("redis://no-such-host.invalid:6379/0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.Client(context.Background())
	if elapsed := time.Since(start); elapsed > time.Second+200*time.Millisecond {
		t.Errorf("an unresolvable host took %v to report", elapsed)
	}
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *UnavailableError", err)
	}
}

func TestConnectsAndPublishesStates(t *testing.T) {
	srv := redistest.Start(t)
	c, err := NewConn(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.PingEvery = 50 * time.Millisecond
	ch, unsub := c.Subscribe()
	defer unsub()
	if s := <-ch; s.State != Idle {
		t.Fatalf("first state %v", s.State)
	}
	cl, err := c.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitState(t, ch, Connected)
	if s := c.Status(); s.RTT <= 0 || !strings.Contains(s.Describe(), "connected") {
		t.Fatalf("status %+v", s)
	}

	// The server goes away: the state says so, then recovers by itself.
	srv.Stop()
	waitState(t, ch, Reconnecting)
	srv.Restart()
	waitState(t, ch, Connected)
}

func waitState(t *testing.T, ch <-chan Status, want ConnState) Status {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case s := <-ch:
			if s.State == want {
				return s
			}
		case <-deadline:
			t.Fatalf("state never became %v", want)
		}
	}
}

func TestPasswordAndACL(t *testing.T) {
	srv := redistest.Start(t, "requirepass s3cret-pw", `user alice on >alice-pw ~* &* +@all`,
		`user carol on >carol-pw ~* &* -@all +auth +hello`, `user dave on >dave-pw ~tui:* &* +@all -@dangerous`,
		"user erin on >erin-pw "+ACLRule)
	host := srv.Addr()
	cases := []struct {
		url    string
		ok     bool
		secret string
		want   []string // in the error: what happened and what to do
	}{
		{"redis://:s3cret-pw@" + host + "/0", true, "s3cret-pw", nil},
		{"redis://alice:alice-pw@" + host + "/1", true, "alice-pw", nil},
		{"redis://:wrong-pw-123@" + host + "/0", false, "wrong-pw-123", []string{"authentication failed", "REDIS_URL"}},
		{"redis://alice:bad-alice-pw@" + host + "/0", false, "bad-alice-pw", []string{"authentication failed", "REDIS_URL"}},
		{"redis://" + host + "/0", false, "", []string{"authentication required", "REDIS_URL"}},
		{"redis://carol:carol-pw@" + host + "/0", false, "carol-pw", []string{"NOPERM", "'ping'", ACLRule}},
		// Without INFO, a Cluster would pass for a single server and a
		// replica go unseen: refused at once, with the rule that works.
		{"redis://dave:dave-pw@" + host + "/0", false, "dave-pw", []string{"NOPERM", "'info'", ACLRule}},
		{"redis://erin:erin-pw@" + host + "/0", true, "erin-pw", nil},
	}
	for _, tc := range cases {
		c, err := NewConn(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Client(context.Background())
		if tc.ok && err != nil {
			t.Errorf("%s: %v", RedactURL(tc.url), err)
		}
		if !tc.ok {
			if err == nil {
				t.Errorf("%s: connected with wrong credentials", RedactURL(tc.url))
			} else {
				msg := err.Error()
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("%s: %q lacks %q", RedactURL(tc.url), msg, w)
					}
				}
				// Redis answered: the fix is in the URL or the ACL, not in
				// starting a server.
				if strings.Contains(msg, "Start it") || strings.Contains(msg, "cannot reach") {
					t.Errorf("%s: %q says to start a Redis that answered", RedactURL(tc.url), msg)
				}
			}
		}
		for _, text := range []string{errString(err), c.Status().Describe(), c.URL()} {
			if tc.secret != "" && strings.Contains(text, tc.secret) {
				t.Errorf("the password shows in %q", text)
			}
		}
		c.Close()
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestParseURL(t *testing.T) {
	o, err := ParseURL("rediss://bob:pw@cache.example:6380/3")
	if err != nil {
		t.Fatal(err)
	}
	if o.Addrs[0] != "cache.example:6380" || o.DB != 3 || o.Username != "bob" || o.Password != "pw" || o.TLSConfig == nil {
		t.Fatalf("options %+v", o)
	}
	o, err = ParseURL("redis://s1:26379/0?addr=s2:26379&master_name=mymaster")
	if err != nil || o.MasterName != "mymaster" || len(o.Addrs) != 2 {
		t.Fatalf("sentinel: %+v %v", o, err)
	}
	for _, bad := range []string{"http://x", "redis://h/zz", "redis://:pw@h/0?bogus_param=1", "unix:///tmp/r.sock"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		} else if strings.Contains(err.Error(), ":pw@") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

// A TLS 1.3 server that wants a client certificate says so after the
// client's handshake; when the reset of its close beats the alert to the
// client, a second handshake that sends nothing still reads the alert, and
// the cause is named.
func TestATLSResetIsExplainedByTheServersAlert(t *testing.T) {
	s := redistest.StartTLS(t)
	opts, err := ParseURL(s.URL() + "?tls_ca=" + s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	alert := tlsAlert(context.Background(), opts, syscall.ECONNRESET)
	if alert == nil {
		t.Fatal("no alert read from a server that wants a client certificate")
	}
	if got := describeDialError(alert); !strings.Contains(got, "client certificate") || !strings.Contains(got, "tls_cert") {
		t.Fatalf("explained as %q", got)
	}
	// With the client certificate the server trusts, nothing is blamed.
	ok, err := ParseURL(s.URL() + "?tls_ca=" + s.CAFile() + "&tls_cert=" + s.ClientCertFile() + "&tls_key=" + s.ClientKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	if alert := tlsAlert(context.Background(), ok, syscall.ECONNRESET); alert != nil {
		t.Fatalf("an alert from a server that accepts the client: %v", alert)
	}
	// Other errors are not probed.
	if alert := tlsAlert(context.Background(), opts, errors.New("NOAUTH Authentication required.")); alert != nil {
		t.Fatalf("probed for %v", alert)
	}
}
