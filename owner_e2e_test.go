package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"tui/internal/redistest"
	"tui/internal/testkit"
	"tui/internal/testkit/seed"
	"tui/store"
)

type transcriptLine struct {
	cmd            string
	code           int
	stdout, stderr string
}

// volatile are the parts of an answer that differ between two runs of the
// same commands: clocks, worker identities, rates.
var volatile = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)|\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?|"(id|host)": "vm-\d+"|\d+/s|redis://127\.0\.0\.1:\d+/0|"last_seen": .*|"processed": \d+|"in_flight": \d+|· \d+ worker\(s\)|\[sending\] .*`)

// rateParts are the rate and ETA of a progress line: shown or not
// depending on how fast the deliveries went, on a loaded machine as well.
var rateParts = regexp.MustCompile(` · \d+/s| · ETA [^·\n]+`)

// sendingLines are the progress lines of a send under way: how many there
// are before the last one depends on how fast the deliveries went.
var sendingLines = regexp.MustCompile(`(?m)^.*\[sending\] .*\n`)

func normalize(s string) string {
	return volatile.ReplaceAllString(rateParts.ReplaceAllString(sendingLines.ReplaceAllString(s, ""), ""), "…")
}

// transcript runs the same commands a script would, against db, and
// records every answer: exit code, stdout, stderr.
func transcript(t *testing.T, db, redisURL, outDir string) []transcriptLine {
	t.Helper()
	env := []string{"TUI_DB=" + db, "REDIS_URL=" + redisURL}
	var lines []transcriptLine
	do := func(stdin string, args ...string) transcriptLine {
		code, out, errOut := runIn(t, env, outDir, stdin, args...)
		l := transcriptLine{cmd: strings.Join(args, " "), code: code, stdout: normalize(out), stderr: normalize(errOut)}
		lines = append(lines, l)
		return l
	}
	do("", "campaign", "list")
	do("", "campaign", "list", "--json")
	do("", "campaign", "show", "1")
	do("", "campaign", "show", "1", "--json")
	do("", "campaign", "show", "9")
	do("", "campaign", "status", "1", "--json")
	// Slow enough (30 recipients at 10/s) that the send is still under way
	// when `send --wait` follows the resume, even on a loaded machine: at
	// 40/s it could end between the two, and the two transcripts differ.
	do("Second {{.name}}", "campaign", "create", "--name", "Slow", "--channel", "file", "--tag", "all", "--rate", "10", "--body-file", "-")
	// Files are the caller's, named relative to its directory.
	do("", "contacts", "import", "missing.csv")
	// A send followed to its end: the progress comes from the owner, live.
	if l := do("", "campaign", "send", "1", "--wait"); l.code != 0 || !strings.Contains(l.stderr, "Done: all 30 recipients") {
		t.Fatalf("send --wait: exit %d\n%s", l.code, l.stderr)
	}
	do("", "campaign", "status", "1", "--json")
	do("", "campaign", "export", "1", "ledger.csv")
	do("", "campaign", "export", "1", "-")
	// Pause and resume a rate-limited send under way.
	do("", "campaign", "send", "2")
	do("", "campaign", "pause", "2")
	testkit.Eventually(t, 10*time.Second, "the pause in the ledger", func() bool { return statusOf(t, db, redisURL, 2).Status == store.StatusPaused })
	do("", "campaign", "resume", "2")
	if l := do("", "campaign", "send", "2", "--wait"); l.code != 0 {
		t.Fatalf("send 2 --wait: exit %d\n%s", l.code, l.stderr)
	}
	do("", "campaign", "pause", "2") // over: refused, as locally
	do("", "campaign", "bogus")
	return lines
}

// copyFile copies a closed database, so that two runs start from the same
// bytes (IDs, timestamps).
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The same commands, one after the other, give the same answers — exit
// codes, stdout, stderr, JSON, exported files — against a database nobody
// holds and against one a running `tui serve` owns and serves.
func TestCommandsGiveTheSameResultsThroughTheOwner(t *testing.T) {
	seed, _ := seed.Campaign(t, 30)
	free := filepath.Join(t.TempDir(), "tui.db")
	owned := filepath.Join(t.TempDir(), "tui.db")
	copyFile(t, seed, free)
	copyFile(t, seed, owned)
	// Two Redis servers: the two databases' campaigns have the same IDs.
	redisFree, redisOwned := redistest.Start(t), redistest.Start(t)
	startWorkerProc(t, redisFree.URL(), filepath.Join(t.TempDir(), "outbox.jsonl"))
	startWorkerProc(t, redisOwned.URL(), filepath.Join(t.TempDir(), "outbox.jsonl"))

	freeDir, ownedDir := t.TempDir(), t.TempDir()
	want := transcript(t, free, redisFree.URL(), freeDir)

	o := startServe(t, []string{"REDIS_URL=" + redisOwned.URL()}, owned)
	// The file is held: opening it fails, as it did for every command
	// before the owner served them.
	if _, err := store.Open(owned); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("the owner does not hold the database: %v", err)
	}
	got := transcript(t, owned, redisOwned.URL(), ownedDir)
	for i := range want {
		w, g := want[i], got[i]
		if w.code != g.code || w.stdout != g.stdout || w.stderr != g.stderr {
			t.Errorf("%s:\nfree:  exit %d\n%s\n%s\nowned: exit %d\n%s\n%s", w.cmd, w.code, w.stdout, w.stderr, g.code, g.stdout, g.stderr)
		}
	}
	a, _ := os.ReadFile(filepath.Join(freeDir, "ledger.csv"))
	b, _ := os.ReadFile(filepath.Join(ownedDir, "ledger.csv"))
	if len(a) == 0 || normalize(string(a)) != normalize(string(b)) {
		t.Errorf("exported files differ:\n%s\n%s", a, b)
	}
	// Every command was the owner's, done in the caller's name.
	// The log comes through a pipe: its last lines may follow the last exit.
	testkit.Eventually(t, 10*time.Second, "the owner's log of every command", func() bool {
		return strings.Count(o.stderr.String(), "served a command") >= len(got)-1 // bogus fails to parse before
	})
	log := o.stderr.String()
	if !strings.Contains(log, `user=`+actor()) {
		t.Errorf("the owner does not name the caller %s:\n%s", actor(), log)
	}
	o.stop(t)
	if _, err := os.Lstat(ownerSocketPath(owned)); !os.IsNotExist(err) {
		t.Errorf("the socket outlived a clean stop: %v", err)
	}
}

// A --wait served by the owner streams its progress, and a signal to the
// caller stops the wait there as it would here: exit 1, the send goes on.
func TestWaitThroughTheOwnerStopsOnSIGINT(t *testing.T) {
	srv := redistest.Start(t)
	db, id := seed.Campaign(t, 5)
	startServe(t, []string{"REDIS_URL=" + srv.URL()}, db)
	cmd, stderr := startWait(t, db, srv.URL(), id, "Queued 5 recipients", 15*time.Second)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit after SIGINT: %v\n%s", err, stderrText(stderr))
	}
	if !strings.Contains(stderrText(stderr), "the send goes on") {
		t.Errorf("stopping the wait does not say the send goes on:\n%s", stderrText(stderr))
	}
	if s := statusOf(t, db, srv.URL(), id); s.Status != store.StatusSending {
		t.Errorf("the send did not go on: %s", s.Status)
	}
}

// The socket has the database file's permissions, so the file system
// keeps others out; a user the mode lets through is refused by name
// (SO_PEERCRED). A socket left by an owner killed with SIGKILL is cleaned
// by the next process that opens the database, and the next owner serves.
func TestOwnerSocketIsRefusedToOthersAndSurvivesACrash(t *testing.T) {
	db, _ := seed.Campaign(t, 3)
	o := startServe(t, nil, db)
	sock := ownerSocketPath(db)
	si, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	di, _ := os.Stat(db)
	if si.Mode().Type() != os.ModeSocket || si.Mode().Perm() != di.Mode().Perm() || si.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, database %v", si.Mode(), di.Mode())
	}
	if os.Geteuid() == 0 {
		// Let another user reach the socket: the owner still refuses it.
		nobody := uint32(65534)
		for d := filepath.Dir(db); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		os.Chmod(sock, 0o666)
		os.Chmod(filepath.Dir(tuiBinary(t)), 0o755)
		cmd := exec.Command(tuiBinary(t), "campaign", "list")
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/", "TUI_DB=" + db}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "only root may use it") {
			t.Errorf("another user was not refused: %v\n%s", err, out)
		}
		// The log reaches us through a pipe, maybe after the caller exits.
		testkit.Eventually(t, 10*time.Second, "the owner's log of the refusal", func() bool {
			return strings.Contains(o.stderr.String(), "refused a command from another user")
		})
		os.Chmod(sock, 0o600)
	}
	// A crash leaves the socket behind.
	o.cmd.Process.Kill()
	<-o.done
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("expected a stale socket after SIGKILL: %v", err)
	}
	code, out, errOut := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "list")
	if code != 0 || !strings.Contains(out, "Kill me") {
		t.Fatalf("list after the owner's crash: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the stale socket was not cleaned: %v", err)
	}
	// Another crash, then a new owner: it replaces the stale socket.
	o2 := startServe(t, nil, db)
	o2.cmd.Process.Kill()
	<-o2.done
	startServe(t, nil, db)
	if code, out, errOut := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "list"); code != 0 || !strings.Contains(out, "Kill me") {
		t.Fatalf("list through the new owner: exit %d\n%s%s", code, out, errOut)
	}
}

// A second owner is refused, never forwarded to the first.
func TestASecondOwnerIsRefused(t *testing.T) {
	db, _ := seed.Campaign(t, 1)
	startServe(t, nil, db)
	code, _, errOut := runBinary(t, []string{"TUI_DB=" + db}, "serve")
	if code != 1 || !strings.Contains(errOut, "database is in use") {
		t.Fatalf("second serve: exit %d\n%s", code, errOut)
	}
}

func showJSON(t *testing.T, db string, id uint64) campaignJSON {
	t.Helper()
	code, out, errOut := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "show", fmt.Sprint(id), "--json")
	if code != 0 {
		t.Fatalf("show: exit %d\n%s", code, errOut)
	}
	var c campaignJSON
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return c
}

func scheduleIn(t *testing.T, db string, id uint64, d time.Duration) time.Time {
	t.Helper()
	at := time.Now().Add(d).UTC().Truncate(time.Second).Add(time.Second)
	code, _, errOut := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "schedule", fmt.Sprint(id),
		"--at", at.Format("2006-01-02T15:04:05"), "--tz", "UTC")
	if code != 0 || !strings.Contains(errOut, "Scheduled") {
		t.Fatalf("schedule: exit %d\n%s", code, errOut)
	}
	return at
}

// A campaign scheduled two seconds ahead starts on time in a running owner,
// through the preflight and start a person's send takes.
func TestScheduledSendStartsOnTimeInARunningOwner(t *testing.T) {
	srv := redistest.Start(t)
	db, id := seed.Campaign(t, 20)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	o := startServe(t, []string{"REDIS_URL=" + srv.URL(), "TUI_OUTBOX=" + outbox}, db, "--worker")
	at := scheduleIn(t, db, id, 2*time.Second)
	if c := showJSON(t, db, id); c.Status != store.StatusScheduled || c.Schedule == nil || !c.Schedule.At.Equal(at) || c.Schedule.Zone != "UTC" {
		t.Fatalf("after schedule: %+v %+v", c.Status, c.Schedule)
	}
	testkit.Eventually(t, 30*time.Second, "the scheduled send to complete", func() bool {
		return statusOf(t, db, srv.URL(), id).Status == store.StatusCompleted
	})
	c := showJSON(t, db, id)
	started := c.LastSend.StartedAt
	if started.Before(at) || started.Sub(at) > 1500*time.Millisecond {
		t.Errorf("scheduled for %s, started at %s", at, started)
	}
	if !strings.HasSuffix(c.LastSend.StartedBy, "(scheduled)") {
		t.Errorf("started by %q", c.LastSend.StartedBy)
	}
	if n := len(waitLines(t, outbox, 20, 10*time.Second)); n != 20 {
		t.Errorf("%d deliveries", n)
	}
	testkit.Eventually(t, 10*time.Second, "the owner's log: started a scheduled send", func() bool {
		return strings.Contains(o.stderr.String(), "started a scheduled send")
	})
}

// With no owner running at its time, a scheduled send starts on the next
// owner's start, which says how late.
func TestMissedScheduleStartsOnTheNextOwnerStart(t *testing.T) {
	srv := redistest.Start(t)
	db, id := seed.Campaign(t, 10)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	at := scheduleIn(t, db, id, 2*time.Second)
	testkit.Eventually(t, 10*time.Second, "the scheduled time to pass", func() bool { return time.Now().After(at.Add(500 * time.Millisecond)) })
	if c := showJSON(t, db, id); c.Status != store.StatusScheduled {
		t.Fatalf("with no owner it is %s", c.Status)
	}
	o := startServe(t, []string{"REDIS_URL=" + srv.URL(), "TUI_OUTBOX=" + outbox}, db, "--worker")
	testkit.Eventually(t, 30*time.Second, "the late send to complete", func() bool {
		return statusOf(t, db, srv.URL(), id).Status == store.StatusCompleted
	})
	testkit.Eventually(t, 10*time.Second, "the owner's log: started a scheduled send late", func() bool {
		return strings.Contains(o.stderr.String(), "started a scheduled send late")
	})
	code, out, _ := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "show", fmt.Sprint(id))
	if code != 0 || !regexp.MustCompile(`Scheduled\s+.*; started .* late`).MatchString(out) {
		t.Errorf("show does not say it started late:\n%s", out)
	}
}

// A preflight that fails at the scheduled time leaves the campaign
// scheduled, with the reason, and sends nothing; once the campaign is
// fixed, it starts.
func TestAFailedScheduledPreflightLeavesItScheduledWithTheReason(t *testing.T) {
	srv := redistest.Start(t)
	db, id := seed.Campaign(t, 5)
	editCampaign(t, db, id, func(c *store.Campaign) { c.Body = "Hello {{.city}}" }) // nobody has a city
	o := startServe(t, []string{"REDIS_URL=" + srv.URL()}, db)
	scheduleIn(t, db, id, time.Second)
	var c campaignJSON
	testkit.Eventually(t, 15*time.Second, "the failed start to be recorded", func() bool {
		c = showJSON(t, db, id)
		return c.Schedule != nil && c.Schedule.Error != ""
	})
	if c.Status != store.StatusScheduled || !strings.Contains(c.Schedule.Error, "city") || c.LastSend != nil {
		t.Fatalf("after a failed start: %s %+v %+v", c.Status, c.Schedule, c.LastSend)
	}
	if n, _ := srv.Do("EXISTS", "tui:{c1}:jobs"); n != "0" {
		t.Errorf("jobs were queued: %s", n)
	}
	code, out, _ := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "list")
	if code != 0 || !strings.Contains(out, "scheduled (start failed)") {
		t.Errorf("the list does not show the failure:\n%s", out)
	}
	// Fixed: tried again, and sent.
	body := filepath.Join(t.TempDir(), "body.txt")
	os.WriteFile(body, []byte("Hello {{.name}}"), 0o600)
	if code, _, e := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "edit", fmt.Sprint(id), "--body-file", body); code != 0 {
		t.Fatalf("edit: %s", e)
	}
	testkit.Eventually(t, 15*time.Second, "the fixed campaign to start", func() bool {
		return showJSON(t, db, id).Status == store.StatusSending
	})
	_ = o
}

// schedule refuses times in the past, times the clocks skip and unknown
// zones (exit 2) and changes nothing; unschedule makes it a draft again.
func TestScheduleRefusesBadTimesAndUnschedules(t *testing.T) {
	db, id := seed.Campaign(t, 1)
	env := []string{"TUI_DB=" + db}
	before, _ := os.ReadFile(db)
	for _, args := range [][]string{
		{"--at", "2020-01-01T09:00", "--tz", "Europe/Paris"},
		{"--at", "2031-03-30T02:30", "--tz", "Europe/Paris"},
		{"--at", "2031-03-30T09:00", "--tz", "Mars/Olympus"},
		{"--at", "tomorrow"},
		{},
	} {
		code, _, errOut := runBinary(t, env, append([]string{"campaign", "schedule", fmt.Sprint(id)}, args...)...)
		if code != 2 || !strings.Contains(errOut, "tui: ") {
			t.Errorf("%v: exit %d\n%s", args, code, errOut)
		}
	}
	if after, _ := os.ReadFile(db); !bytes.Equal(before, after) {
		t.Error("a refused schedule changed the database")
	}
	code, _, errOut := runBinary(t, env, "campaign", "schedule", fmt.Sprint(id), "--at", "2031-12-24T09:00", "--tz", "Europe/Paris")
	if code != 0 || !strings.Contains(errOut, "Wed 24 Dec 2031 09:00 CET (Europe/Paris)") || !strings.Contains(errOut, "No tui owns this database now") {
		t.Fatalf("schedule: exit %d\n%s", code, errOut)
	}
	if c := showJSON(t, db, id); c.Schedule == nil || c.Schedule.Local != "2031-12-24T09:00:00+01:00" {
		t.Fatalf("schedule %+v", c.Schedule)
	}
	if code, _, errOut := runBinary(t, env, "campaign", "unschedule", fmt.Sprint(id)); code != 0 || !strings.Contains(errOut, "draft again") {
		t.Fatalf("unschedule: exit %d\n%s", code, errOut)
	}
	if c := showJSON(t, db, id); c.Status != store.StatusDraft || c.Schedule != nil {
		t.Fatalf("after unschedule: %s %+v", c.Status, c.Schedule)
	}
	_ = io.Discard
}

// Every owner renders with the unsubscribe settings the app uses: serve
// reads them too, and a wrong one stops it before it serves anything, as
// it stops the app, rather than leaving its sends without their links.
func TestServeReadsTheUnsubscribeSettings(t *testing.T) {
	db, _ := seed.Campaign(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tuiBinary(t), "serve")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "TUI_DB=" + db,
		"TUI_UNSUBSCRIBE_URL=https://news.example.com/u"}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(errb.String(), "TUI_UNSUBSCRIBE_SECRET is not") {
		t.Fatalf("serve with a link address and no secret: %v (a minute is its bound; it should refuse at once)\n%s", err, errb.String())
	}
}
