package main

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"tui/store"
)

// A long listing stops on SIGINT and SIGTERM and says so, instead of
// running to its end: the command is held on a full pipe when the signal
// comes, and stops at its next check once the pipe drains.
func TestLongListingsStopOnASignal(t *testing.T) {
	db, id := seedCampaign(t, 20000)
	// A ledger to export: the send's first chunk, as a start writes it.
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.Campaign(id)
	if err == nil {
		_, _, err = st.StartSend("test", id, c.Version)
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sig  syscall.Signal
		args []string
	}{
		{syscall.SIGINT, []string{"contacts", "list", "--json"}},
		{syscall.SIGTERM, []string{"contacts", "list"}},
		{syscall.SIGINT, []string{"campaign", "export", fmt.Sprint(id), "-"}},
	} {
		cmd := exec.Command(tuiBinary(t), tc.args...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "TUI_DB=" + db}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The first bytes say it is under way; the pipe then fills.
		first := make([]byte, 1)
		if _, err := io.ReadFull(out, first); err != nil {
			t.Fatalf("%v: %v (%s)", tc.args, err, stderr.String())
		}
		if err := cmd.Process.Signal(tc.sig); err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, out)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v did not stop on %v", tc.args, tc.sig)
		}
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != 1 || !strings.Contains(stderr.String(), "interrupted by a signal") {
			t.Fatalf("%v after %v: exit %d, stderr %q", tc.args, tc.sig, code, stderr.String())
		}
		if n > 2<<20 {
			t.Errorf("%v went on writing %d bytes after %v", tc.args, n, tc.sig)
		}
	}
}
