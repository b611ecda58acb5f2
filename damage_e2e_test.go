package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tui/internal/redistest"
	"tui/internal/testkit/seed"
	"tui/store"
)

// A database with a sent campaign: contacts, a campaign, its ledger.
func sentDatabase(t *testing.T) (db string, id uint64) {
	t.Helper()
	db, id = seed.Campaign(t, 3000)
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var entries []store.LedgerEntry
	for i := uint64(1); i <= 3000; i++ {
		entries = append(entries, store.LedgerEntry{CampaignID: id, ContactID: i, Address: fmt.Sprintf("c%d@example.com", i), State: store.RecipientSent})
	}
	if err := st.PutLedger(entries); err != nil {
		t.Fatal(err)
	}
	return db, id
}

var pageWord = regexp.MustCompile(`page (\d+)`)

// checkPages runs `tui db check` and returns its exit code, output and the
// pages its report names.
func checkPages(t *testing.T, db string) (int, string, map[int]bool) {
	t.Helper()
	code, stdout, stderr := runBinary(t, nil, "--db", db, "db", "check")
	pages := map[int]bool{}
	for _, m := range pageWord.FindAllStringSubmatch(stdout, -1) {
		n, _ := strconv.Atoi(m[1])
		pages[n] = true
	}
	return code, stdout + stderr, pages
}

// noCrash fails when a run's output looks like a Go crash.
func noCrash(t *testing.T, what string, code int, stderr string) {
	t.Helper()
	if code == 2 || strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "SIGSEGV") {
		t.Errorf("%s crashed (exit %d):\n%s", what, code, stderr)
	}
}

func TestDamagedDatabaseFilesGiveTheDocumentedError(t *testing.T) {
	pristine, id := sentDatabase(t)
	data, err := os.ReadFile(pristine)
	if err != nil {
		t.Fatal(err)
	}
	if code, out, _ := checkPages(t, pristine); code != 0 || !strings.Contains(out, "OK: every page and record reads back: 1 campaign, 3,000 contacts, 3,000 ledger rows") {
		t.Fatalf("db check of a healthy file: exit %d\n%s", code, out)
	}
	ps := os.Getpagesize()
	// The middle of the contacts: the page that holds contact 1500's
	// record, and the pages around it.
	at := bytes.Index(data, []byte(`"address":"c1500@example.com"`))
	if at < 0 {
		t.Fatal("contact 1500's record is not in the file")
	}
	middle := at / ps
	commands := [][]string{
		{"campaign", "list"},
		{"campaign", "show", fmt.Sprint(id)},
		{"contacts", "list"},
		{"campaign", "export", fmt.Sprint(id), "-"},
		{"contacts", "import", writeFile(t, t.TempDir(), "more.csv", "email,name\nnew@example.com,New\nc7@example.com,Seven\n")},
	}
	for _, tc := range []struct {
		name    string
		damage  func([]byte) []byte
		want    string // in every failing command's error
		flipped []int  // pages db check must name
	}{
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, "the database file is damaged: it is", nil},
		{"zero length", func([]byte) []byte { return nil }, "the database file is empty (0 bytes)", nil},
		{"bytes flipped in the middle", func(b []byte) []byte {
			b = append([]byte(nil), b...)
			for p := middle - 2; p <= middle+2; p++ {
				for i := range 64 {
					b[p*ps+i] ^= 0xff
				}
			}
			return b
		}, "the database file is damaged", []int{middle - 2, middle + 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "tui.db")
			bad := tc.damage(data)
			if err := os.WriteFile(db, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			failed := 0
			for _, args := range commands {
				code, stdout, stderr := runBinary(t, nil, append([]string{"--db", db}, args...)...)
				noCrash(t, strings.Join(args, " "), code, stderr)
				if code == 0 {
					continue // this command did not read the damaged pages
				}
				failed++
				if code != 1 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "backup") {
					t.Errorf("%s: exit %d, stderr %q; want 1 and %q with what to do", strings.Join(args, " "), code, stderr, tc.want)
				}
				if len(stdout) > 0 && tc.flipped == nil {
					t.Errorf("%s printed output from a file it refused: %q", strings.Join(args, " "), stdout)
				}
			}
			if failed == 0 {
				t.Errorf("every command succeeded on a damaged file")
			}
			code, out, named := checkPages(t, db)
			noCrash(t, "db check", code, out)
			if code != 1 {
				t.Errorf("db check: exit %d, want 1:\n%s", code, out)
			}
			if tc.flipped != nil {
				hit := false
				for p := tc.flipped[0]; p <= tc.flipped[1]; p++ {
					hit = hit || named[p]
				}
				if !hit || !strings.Contains(out, "DAMAGED") {
					t.Errorf("db check does not name the flipped pages %d–%d:\n%s", tc.flipped[0], tc.flipped[1], out)
				}
			}
			// A file refused when opened is left as it was. (Where the
			// damage lies elsewhere, a write that does not touch it goes
			// through: bbolt never writes over the pages it reads.)
			if after, _ := os.ReadFile(db); tc.flipped == nil && string(after) != string(bad) {
				t.Errorf("the damaged file was changed")
			}
		})
	}
}

// The interactive app on a cut-short database says so in one paragraph
// and exits 1; no goroutine dump reaches the terminal.
func TestTheAppOnADamagedFileSaysSoAndExits(t *testing.T) {
	pristine, _ := sentDatabase(t)
	data, _ := os.ReadFile(pristine)
	db := filepath.Join(t.TempDir(), "tui.db")
	if err := os.WriteFile(db, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	term := startTerminal(t, 100, 30, nil, "sh", "-c", tuiBinary(t)+" --db "+db+"; echo exit=$?; sleep 60")
	scr := term.waitFor("exit=1")
	flat := strings.Join(strings.Fields(scr), " ")
	if !strings.Contains(flat, "the database file is damaged") || strings.Contains(scr, "goroutine") {
		t.Errorf("the screen:\n%s", scr)
	}
}

func TestBackupDuringARunningSendHoldsTheLedger(t *testing.T) {
	srv := redistest.Start(t)
	db, id := seed.Campaign(t, 2000)
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := st.Campaign(id)
	c.Rate = 400
	if _, err := st.UpdateCampaign("test", c); err != nil {
		t.Fatal(err)
	}
	st.Close()
	env := []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}
	if code, _, stderr := runBinary(t, env, "campaign", "send", fmt.Sprint(id)); code != 0 {
		t.Fatalf("campaign send: exit %d\n%s", code, stderr)
	}
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	startWorkerProc(t, srv.URL(), outbox)
	waitLines(t, outbox, 100, 30*time.Second)

	// Mid-send: the workers deliver, and a CLI command folds what they
	// reported into the ledger while the backup runs beside it.
	backup := filepath.Join(t.TempDir(), "backup", "tui-backup.db")
	if err := os.MkdirAll(filepath.Dir(backup), 0o700); err != nil {
		t.Fatal(err)
	}
	// What the workers reported so far goes into the ledger.
	if code, _, stderr := runBinary(t, env, "campaign", "status", fmt.Sprint(id)); code != 0 {
		t.Fatalf("campaign status: exit %d\n%s", code, stderr)
	}
	statusDone := make(chan struct{})
	go func() {
		defer close(statusDone)
		for range 5 {
			runBinary(t, env, "campaign", "status", fmt.Sprint(id))
		}
	}()
	var code int
	var stderr string
	for attempt := 0; ; attempt++ {
		code, _, stderr = runBinary(t, env, "db", "backup", backup)
		// The status commands hold the database for a moment each: the
		// backup says so and is run again, as a script would.
		if code == 0 || !strings.Contains(stderr, "in use by a running tui") || attempt == 20 {
			break
		}
	}
	<-statusDone
	if code != 0 || !strings.Contains(stderr, "Backed up") || !strings.Contains(stderr, "passed its check") {
		t.Fatalf("db backup mid-send: exit %d\n%s", code, stderr)
	}
	delivered := len(readOutbox(t, outbox))
	if delivered >= 2000 {
		t.Fatalf("the send had finished (%d delivered) before the backup: it proves nothing", delivered)
	}

	// The backup opens, passes the check and holds a ledger row for every recipient.
	if code, out, _ := checkPages(t, backup); code != 0 {
		t.Fatalf("db check of the backup: exit %d\n%s", code, out)
	}
	code, stdout, stderr := runBinary(t, nil, "--db", backup, "campaign", "show", fmt.Sprint(id), "--json")
	if code != 0 {
		t.Fatalf("campaign show on the backup: exit %d\n%s", code, stderr)
	}
	var shown struct {
		Status string         `json:"status"`
		Ledger map[string]int `json:"ledger"`
	}
	if err := json.Unmarshal([]byte(stdout), &shown); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range shown.Ledger {
		total += n
	}
	if shown.Status != "sending" || total != 2000 || shown.Ledger["sent"] == 0 || shown.Ledger["sent"] == 2000 {
		t.Errorf("the backup holds a campaign %s with %d ledger rows (%v), want sending with 2000, some sent", shown.Status, total, shown.Ledger)
	}
	t.Logf("backed up while %d of 2000 were delivered; the backup's ledger: %v", delivered, shown.Ledger)
}

// While a running tui holds the database, db backup, check and compact say
// what to do, exit 1 and change nothing.
func TestDBCommandsSayWhatToDoWhileTheOwnerRuns(t *testing.T) {
	db, _ := sentDatabase(t)
	term := startTerminal(t, 80, 24, nil, tuiBinary(t), "--db", db)
	term.waitFor("Campaigns")
	before := fileSum(t, db)
	for _, args := range [][]string{{"db", "backup", filepath.Join(t.TempDir(), "b.db")}, {"db", "check"}, {"db", "compact"}} {
		code, _, stderr := runBinary(t, nil, append([]string{"--db", db}, args...)...)
		if code != 1 || !strings.Contains(stderr, "in use by a running tui") || !strings.Contains(stderr, "Quit that tui") {
			t.Errorf("%v while the app runs: exit %d, %q", args, code, stderr)
		}
	}
	term.keys("q")
	term.waitGone("Campaigns")
	if fileSum(t, db) != before {
		t.Error("the database changed")
	}

	// Once it is free: compact keeps every record.
	code, _, stderr := runBinary(t, nil, "--db", db, "db", "compact")
	if code != 0 || !strings.Contains(stderr, "Compacted") {
		t.Fatalf("db compact: exit %d, %s", code, stderr)
	}
	if code, out, _ := checkPages(t, db); code != 0 || !strings.Contains(out, "3,000 contacts, 3,000 ledger rows") {
		t.Errorf("db check after compact: exit %d\n%s", code, out)
	}
}
