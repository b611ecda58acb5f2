package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OpenSSH's client against keys limited with from=: the wrong address is
// refused, the right one gets in.
func TestSSHFromLimitedKeyWithOpenSSHClient(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("OpenSSH's ssh is not installed (Debian package openssh-client; make test installs it)")
	}
	dir := t.TempDir()
	far, _ := sshKeyFiles(t, dir, "id_far")
	near, _ := sshKeyFiles(t, dir, "id_near")
	farPub, _ := os.ReadFile(far + ".pub")
	nearPub, _ := os.ReadFile(near + ".pub")
	ak := filepath.Join(dir, "authorized_keys")
	content := `from="10.9.9.9" ` + string(farPub) + `from="127.0.0.1",no-agent-forwarding ` + string(nearPub)
	if err := os.WriteFile(ak, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startSSHServer(t, tuiBinary(t), nil, "--db", filepath.Join(dir, "tui.db"), "--authorized-keys", ak)

	out, err := exec.Command(sshBin, append(openSSHArgs(far, srv.port()), "-tt", "far@127.0.0.1")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Permission denied (publickey)") {
		t.Errorf("a from=10.9.9.9 key from 127.0.0.1: err %v, output %q; want Permission denied", err, out)
	}
	srv.waitLog("ssh authentication refused", "user=far", "may log in only from 10.9.9.9", "not from 127.0.0.1")

	// The key allowed from here authenticates: asking for no terminal, it
	// is told tui needs one, which only an authenticated session hears.
	out, _ = exec.Command(sshBin, append(openSSHArgs(near, srv.port()), "-T", "near@127.0.0.1")...).CombinedOutput()
	if !strings.Contains(string(out), "needs one") {
		t.Errorf("a from=127.0.0.1 key from 127.0.0.1: %q; want it let in (and told to use a terminal)", out)
	}
	srv.waitLog("ssh authentication accepted", "user=near")
}
