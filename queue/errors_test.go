package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Refusals are named for what they are, with what to do; a server that
// does not answer is "unreachable", which waiting cures.
func TestExplainNamesRefusals(t *testing.T) {
	for _, c := range []struct {
		err         error
		unreachable bool
		want        string
	}{
		{errors.New("OOM command not allowed when used memory > 'maxmemory'."), false, "out of memory"},
		{errors.New("READONLY You can't write against a read only replica."), false, "read-only replica"},
		{errors.New("CROSSSLOT Keys in request don't hash to the same slot"), false, "CROSSSLOT"},
		{errors.New("MOVED 14479 127.0.0.1:7002"), false, "?addr="},
		{errors.New("NOPERM this user has no permissions to run the 'xadd' command"), false, "tui:*"},
		{errors.New("WRONGTYPE Operation against a key holding the wrong kind of value"), false, "another program"},
		{errors.New("EXECABORT Transaction discarded because of previous errors."), false, "transaction"},
		{errors.New("CLUSTERDOWN The cluster is down"), true, "Cluster is down"},
		{errors.New("LOADING Redis is loading the dataset in memory"), true, "loading"},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true, "connection refused"},
		{errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), false, "tls_ca"},
		{errors.New("remote error: tls: certificate required"), false, "tls_cert"},
	} {
		if got := IsUnreachable(c.err); got != c.unreachable {
			t.Errorf("IsUnreachable(%q) = %v", c.err, got)
		}
		if got := Explain(c.err); !strings.Contains(got, c.want) {
			t.Errorf("Explain(%q) = %q, want it to say %q", c.err, got, c.want)
		}
	}
}

func TestParseURLTLSAndCluster(t *testing.T) {
	if _, err := ParseURL("redis://a:1/3?addr=b:2"); err == nil || !strings.Contains(err.Error(), "only database 0") {
		t.Errorf("a Cluster URL with database 3: %v", err)
	}
	o, err := ParseURL("rediss://h:1/0?insecure_skip_verify=1")
	if err != nil || !o.TLSConfig.InsecureSkipVerify {
		t.Errorf("insecure_skip_verify: %+v %v", o, err)
	}
	o, err = ParseURL("rediss://h:1/0?skip_verify=true")
	if err != nil || !o.TLSConfig.InsecureSkipVerify {
		t.Errorf("skip_verify (go-redis's spelling): %v", err)
	}
	if _, err := ParseURL("redis://h:1/0?tls_ca=/x.pem"); err == nil || !strings.Contains(err.Error(), "rediss://") {
		t.Errorf("tls_ca on a plain URL: %v", err)
	}
	if _, err := ParseURL("rediss://h:1/0?tls_ca=/no/such/ca.pem"); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Errorf("a missing CA file: %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseURL("rediss://h:1/0?tls_ca=" + junk); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a CA file without a certificate: %v", err)
	}
	if _, err := ParseURL("rediss://h:1/0?tls_cert=" + junk); err == nil || !strings.Contains(err.Error(), "both tls_cert and tls_key") {
		t.Errorf("a certificate without its key: %v", err)
	}
	t.Setenv("REDIS_TLS_CA", "/no/such/env-ca.pem")
	if _, err := ParseURL("rediss://h:1/0"); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Errorf("REDIS_TLS_CA is not used: %v", err)
	}
}
