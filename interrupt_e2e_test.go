package main

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"tui/internal/testkit/seed"
	"tui/store"
)

// A long listing stops on SIGINT and SIGTERM and says so, instead of
// running to its end: the command is held on a full pipe when the signal
// comes, and stops at its next check once the pipe drains.
func TestLongListingsStopOnASignal(t *testing.T) {
	db, id := seed.Campaign(t, 20000)
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
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		errPipe, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Every line of stderr, as it comes.
		lines := make(chan string, 16)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(errPipe)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		var stderr []string
		waitLine := func(want string) bool {
			deadline := time.After(60 * time.Second)
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						return false
					}
					stderr = append(stderr, l)
					if strings.Contains(l, want) {
						return true
					}
				case <-deadline:
					return false
				}
			}
		}
		// The first bytes say it is under way; the pipe then fills.
		first := make([]byte, 1)
		if _, err := io.ReadFull(out, first); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if err := cmd.Process.Signal(tc.sig); err != nil {
			t.Fatal(err)
		}
		// Only once it has taken the signal in is the pipe drained: it then
		// stops at its next check, not at its end.
		if !waitLine("interrupted; stopping") {
			cmd.Process.Kill()
			t.Fatalf("%v did not say it was stopping on %v: %q", tc.args, tc.sig, stderr)
		}
		n, _ := io.Copy(io.Discard, out)
		waitLine("interrupted by a signal")
		for l := range lines {
			stderr = append(stderr, l)
		}
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
		if all := strings.Join(stderr, "\n"); code != 1 || !strings.Contains(all, "interrupted by a signal") {
			t.Fatalf("%v after %v: exit %d, stderr %q", tc.args, tc.sig, code, all)
		}
		if n > 2<<20 {
			t.Errorf("%v went on writing %d bytes after %v", tc.args, n, tc.sig)
		}
	}
}
