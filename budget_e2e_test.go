package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"tui/internal/testkit"
	"tui/store"
)

// exponentialBody is t0 … t59, each calling the one below twice, and call:
// a few lines that would write 2^60 bytes.
func exponentialBody(call string) string {
	var b strings.Builder
	b.WriteString(`{{define "t0"}}xx{{end}}`)
	for i := 1; i < 60; i++ {
		fmt.Fprintf(&b, `{{define "t%d"}}{{template "t%d" .}}{{template "t%d" .}}{{end}}`, i, i-1, i-1)
	}
	b.WriteString(call)
	return b.String()
}

// measured is one run of the real binary with what it cost.
type measured struct {
	code           int
	stdout, stderr string
	wall, cpu      time.Duration
	maxRSSKB       int64
}

func runMeasured(t *testing.T, env []string, stdin string, args ...string) measured {
	t.Helper()
	cmd := exec.Command(tuiBinary(t), args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	m := measured{wall: time.Since(start), stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		m.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	m.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.maxRSSKB = ru.Maxrss
	}
	return m
}

// assertBounded checks that a run stayed within the render budget: under a
// second of CPU (wall time is logged: it depends on what else the machine
// runs) and under 150 MB of memory.
func assertBounded(t *testing.T, what string, m measured) {
	t.Helper()
	t.Logf("%s: exit %d in %v (%v CPU), peak RSS %d MB", what, m.code, m.wall.Round(time.Millisecond), m.cpu.Round(time.Millisecond), m.maxRSSKB>>10)
	if m.cpu > time.Second {
		t.Errorf("%s used %v of CPU, want under a second", what, m.cpu)
	}
	if m.maxRSSKB > 150<<10 {
		t.Errorf("%s reached %d MB of memory", what, m.maxRSSKB>>10)
	}
}

// putCampaignBody writes body into a stored campaign as is, as a database
// written before the render budget existed may hold it.
func putCampaignBody(t *testing.T, db string, id uint64, body string) {
	t.Helper()
	bdb, err := bolt.Open(db, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("campaigns"))
		key := make([]byte, 8)
		for i := range 8 {
			key[7-i] = byte(id >> (8 * i))
		}
		var c map[string]any
		if err := json.Unmarshal(b.Get(key), &c); err != nil {
			return err
		}
		c["body"] = body
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		return b.Put(key, data)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// seedBoom makes a database with n contacts, one of them named Boom, and a
// campaign whose template explodes for Boom only: saving it cannot tell.
func seedBoom(t *testing.T, n int, body string) (db string, id uint64) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "tui.db")
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprintln(pw, "email,name")
		for i := 1; i <= n; i++ {
			name := fmt.Sprintf("Name %d", i)
			if i == n/2+1 {
				name = "Boom"
			}
			fmt.Fprintf(pw, "c%d@example.com,%s\n", i, name)
		}
		pw.Close()
	}()
	if _, err := st.ImportCSV(context.Background(), pr, store.ImportOptions{Tags: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateCampaign("test", store.Campaign{Name: "Boom", Channel: store.ChannelFile,
		Tags: []string{"all"}, Subject: "Hi {{.name}}", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return db, c.ID
}

func TestExponentialTemplateIsRefusedOnCreate(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tui.db")
	body := writeFile(t, dir, "body.txt", exponentialBody(`Hello {{template "t59" .}}`))
	m := runMeasured(t, nil, "", "--db", db, "campaign", "create", "--name", "Bomb", "--channel", "file", "--body-file", body)
	assertBounded(t, "campaign create", m)
	if m.code != 1 || !strings.Contains(m.stderr, "--body-file") || !strings.Contains(m.stderr, "100,000 steps (the render budget)") {
		t.Fatalf("campaign create: exit %d, stderr %q; want 1 and the limit named", m.code, m.stderr)
	}
	if code, out, _ := runBinary(t, nil, "--db", db, "campaign", "list", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("a refused create stored something: %s", out)
	}
}

func TestExponentialTemplateStopsThePreflight(t *testing.T) {
	for _, tc := range []struct{ name, stored, body string }{
		// Saving renders for a stand-in contact, which is not Boom.
		{"for one contact", "", exponentialBody(`Hi {{if eq .name "Boom"}}{{template "t59" .}}{{end}}`)},
		// A database written before the render budget may hold anything.
		{"for every contact, stored by an older tui", exponentialBody(`Hi {{template "t59" .}}`), "Hi {{.name}}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, id := seedBoom(t, 2000, tc.body)
			if tc.stored != "" {
				putCampaignBody(t, db, id, tc.stored)
			}
			before := fileSum(t, db)
			m := runMeasured(t, []string{"REDIS_URL=redis://127.0.0.1:1/0"}, "", "--db", db, "campaign", "send", strconv.FormatUint(id, 10))
			assertBounded(t, "campaign send", m)
			if m.code != 1 || !strings.Contains(m.stderr, "render budget") || !strings.Contains(m.stderr, "not sent") {
				t.Fatalf("campaign send: exit %d, stderr %q; want 1, the budget named and nothing sent", m.code, m.stderr)
			}
			if fileSum(t, db) != before {
				t.Error("the preflight changed the database")
			}
		})
	}
}

// slowBody costs about 30,000 template steps per message: within the
// budget, but a preflight over many contacts takes minutes.
const slowBody = `{{range 30000}}{{end}}Hi {{.name}}`

func TestSignalDuringALongPreflightChangesNothing(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			db, id := seedBoom(t, 20000, slowBody)
			before := fileSum(t, db)
			cmd := exec.Command(tuiBinary(t), "--db", db, "campaign", "send", strconv.FormatUint(id, 10))
			cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "REDIS_URL=redis://127.0.0.1:1/0"}
			var stderr testkit.LockedBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// Busy rendering: half a second of CPU spent.
			deadline := time.Now().Add(30 * time.Second)
			for cpuTime(t, cmd.Process.Pid) < 500*time.Millisecond {
				if time.Now().After(deadline) {
					t.Fatal("the preflight never got busy")
				}
				select {
				case err := <-done:
					t.Fatalf("the preflight ended by itself (%v): %s", err, stderr.String())
				case <-time.After(20 * time.Millisecond):
				}
			}
			sent := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("still running 10 s after %v", sig)
			}
			t.Logf("exited %v after %v", err, time.Since(sent).Round(time.Millisecond))
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Errorf("exit %v, want 1", err)
			}
			if !strings.Contains(stderr.String(), "interrupted during the preflight: nothing was changed") {
				t.Errorf("stderr %q", stderr.String())
			}
			if fileSum(t, db) != before {
				t.Error("the cancelled preflight changed the database")
			}
		})
	}
}

// cpuTime is the CPU a process has used so far.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// Over SSH, one person pressing s on a campaign whose template explodes
// gets the render budget's error at once, and the shared server's memory
// and CPU stay where they were.
func TestExponentialTemplateOverSSH(t *testing.T) {
	db, id := seedBoom(t, 2000, "Hi {{.name}}")
	putCampaignBody(t, db, id, exponentialBody(`Hi {{template "t59" .}}`))
	dir := t.TempDir()
	key, signer := sshKeyFiles(t, dir, "id_alice")
	ak := filepath.Join(dir, "authorized_keys")
	pub, _ := os.ReadFile(key + ".pub")
	if err := os.WriteFile(ak, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startSSHServer(t, tuiBinary(t), []string{"REDIS_URL=redis://127.0.0.1:1/0"}, "--db", db, "--authorized-keys", ak)
	term := dialBenchTerm(t, srv.addr, "alice", signer, 100, 30)
	defer term.close()
	if err := term.waitScreen(func(s string) bool { return strings.Contains(s, "Boom") && strings.Contains(s, "draft") }); err != nil {
		t.Fatal(err)
	}
	pid := srv.cmd.Process.Pid
	cpu0, rss0 := cpuTime(t, pid), rssKB(t, pid)
	start := time.Now()
	if err := term.send("s"); err != nil {
		t.Fatal(err)
	}
	if err := term.waitScreen(func(s string) bool { return strings.Contains(flatText(s), "render budget") }); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	cpu, rss := cpuTime(t, pid)-cpu0, rssKB(t, pid)-rss0
	t.Logf("the send dialog showed the render budget's error after %v; the server used %v of CPU and grew by %d MB", took.Round(time.Millisecond), cpu, rss>>10)
	if cpu > time.Second {
		t.Errorf("the server used %v of CPU on it, want under a second", cpu)
	}
	if rss > 100<<10 {
		t.Errorf("the server grew by %d MB", rss>>10)
	}
	// esc leaves the dialog; the session is alive.
	if err := term.send("\x1b"); err != nil {
		t.Fatal(err)
	}
	if err := term.waitScreen(func(s string) bool {
		return !strings.Contains(flatText(s), "render budget") && strings.Contains(s, "Boom")
	}); err != nil {
		t.Fatal(err)
	}
}

func flatText(s string) string { return strings.Join(strings.Fields(s), " ") }
