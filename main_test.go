package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tui/store"
)

func TestVersionAndHelp(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	r := cli(t, db, "", "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "tui ") {
		t.Fatalf("--version: %+v", r)
	}
	r = cli(t, db, "", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "tui campaign create --name NAME") {
		t.Fatalf("--help: %+v", r)
	}
	r = cli(t, db, "", "campaign", "create", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--body-file") || strings.Contains(r.stdout, "contacts import") {
		t.Fatalf("campaign create --help should show that command only: %+v", r)
	}
	// A command's --help shows its own lines; the group's shows the group.
	for _, c := range []struct {
		args     []string
		has, not string
	}{
		{[]string{"campaign", "pause", "-h"}, "tui campaign pause|resume|cancel|retry-failed ID", "campaign send"},
		{[]string{"campaign", "send", "--help"}, "--wait follows it", "campaign create"},
		{[]string{"campaign", "--help"}, "tui campaign set-rate ID N", "contacts import"},
		{[]string{"contacts", "help"}, "tui contacts import FILE.csv", "campaign"},
	} {
		r = cli(t, db, "", c.args...)
		if r.code != 0 || !strings.Contains(r.stdout, c.has) || strings.Contains(r.stdout, c.not) || !strings.Contains(r.stdout, "tui --help") {
			t.Errorf("%v: %+v", c.args, r)
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("--help and --version created the database: %v", err)
	}
}

func TestBadUsageExitsTwoAndChangesNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	body := writeFile(t, dir, "body.txt", "Hello {{.name}}")
	cases := [][]string{
		{"frobnicate"},
		{"campaign"},
		{"campaign", "explode"},
		{"campaign", "create", "--channel", "file", "--body-file", body},                  // no --name
		{"campaign", "create", "--name", "x", "--channel", "pigeon", "--body-file", body}, // bad channel
		{"campaign", "create", "--name", "x", "--channel", "file", "--rate", "fast", "--body-file", body},
		{"campaign", "show"},
		{"campaign", "show", "abc"},
		{"campaign", "show", "0"},
		{"contacts", "import"},
		{"--no-such-flag"},
		{"--redis", "http://example.invalid", "campaign", "list"},
	}
	for _, args := range cases {
		r := cli(t, db, "", args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "tui: ") || !strings.Contains(r.stderr, "tui --help") {
			t.Errorf("%v: stderr does not explain: %q", args, r.stderr)
		}
	}
	r := cli(t, db, "", "campaign", "list", "--json")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("bad usage created campaigns: %+v", r)
	}
}

func TestCampaignCreateListShow(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	csv := writeFile(t, dir, "c.csv", "email,name,city\nann@example.com,Ann,Oslo\nbob@example.com,Bob,Rome\ncy@example.com,Cy,Lima\n")
	if r := cli(t, db, "", "contacts", "import", csv, "--tag", "vip"); r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	if r := cli(t, db, "", "contacts", "import", writeFile(t, dir, "d.csv", "email\ndee@example.com\n")); r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	body := writeFile(t, dir, "body.txt", "Hi {{.name}} from {{.city}}\n")
	r := cli(t, db, "", "campaign", "create", "--name", "Spring sale", "--channel", "smtp", "--from", "news@example.com",
		"--subject", "Hello {{.name}}", "--body-file", body, "--tag", "vip", "--exclude-tag", "unsub", "--rate", "50")
	if r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(r.stdout), 10, 64)
	if err != nil {
		t.Fatalf("create printed %q, want an ID", r.stdout)
	}

	r = cli(t, db, "", "campaign", "list", "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 {
		t.Fatalf("list --json: %v %q", err, r.stdout)
	}
	if list[0]["name"] != "Spring sale" || list[0]["audience"].(float64) != 3 || list[0]["status"] != "draft" ||
		list[0]["rate"].(float64) != 50 {
		t.Fatalf("list --json: %v", list[0])
	}
	if _, has := list[0]["body"]; has {
		t.Fatalf("list --json carries the body: %v", list[0])
	}

	r = cli(t, db, "", "campaign", "show", strconv.FormatUint(id, 10), "--json")
	var shown map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		t.Fatalf("show --json: %v %q", err, r.stdout)
	}
	if shown["body"] != "Hi {{.name}} from {{.city}}\n" || shown["from"] != "news@example.com" {
		t.Fatalf("show --json: %v", shown)
	}
	ledger, _ := shown["ledger"].(map[string]any)
	if ledger == nil || ledger["queued"].(float64) != 0 || ledger["sent"].(float64) != 0 {
		t.Fatalf("show --json ledger: %v", shown["ledger"])
	}

	r = cli(t, db, "", "campaign", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "Spring sale") || !strings.Contains(r.stdout, "never") {
		t.Fatalf("list: %+v", r)
	}
	r = cli(t, db, "", "campaign", "show", "999")
	if r.code != 1 || !strings.Contains(r.stderr, "no campaign with ID 999") {
		t.Fatalf("show missing: %+v", r)
	}

	// duplicate: a new draft of the same message and audience, its ID on
	// stdout; the original is unchanged.
	r = cli(t, db, "", "campaign", "duplicate", strconv.FormatUint(id, 10))
	dup, err := strconv.ParseUint(strings.TrimSpace(r.stdout), 10, 64)
	if r.code != 0 || err != nil || dup == id || !strings.Contains(r.stderr, "Copy of Spring sale") {
		t.Fatalf("duplicate: %+v", r)
	}
	r = cli(t, db, "", "campaign", "show", strconv.FormatUint(dup, 10), "--json")
	var copied map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &copied); err != nil {
		t.Fatalf("show --json of the copy: %v %q", err, r.stdout)
	}
	if copied["status"] != "draft" || copied["body"] != shown["body"] || copied["subject"] != shown["subject"] ||
		copied["rate"] != shown["rate"] || fmt.Sprint(copied["tags"]) != fmt.Sprint(shown["tags"]) {
		t.Fatalf("the copy differs: %v\nfrom %v", copied, shown)
	}
	if r := cli(t, db, "", "campaign", "duplicate", "999"); r.code != 1 || !strings.Contains(r.stderr, "no campaign with ID 999") {
		t.Fatalf("duplicate missing: %+v", r)
	}
}

// A file that is not there says so and what to do, for a path read and a
// path written, and changes nothing.
func TestMissingFilesSayWhatToDo(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	body := writeFile(t, dir, "body.txt", "Hi\n")
	r := cli(t, db, "", "campaign", "create", "--name", "Kept", "--channel", "file", "--body-file", body)
	if r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	missing := filepath.Join(dir, "nope.csv")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"contacts", "import", missing}, "no file " + missing + "; check the path"},
		{[]string{"contacts", "import", "nope.csv"}, "no file nope.csv in the directory tui was run in; check the path"},
		{[]string{"campaign", "create", "--name", "X", "--channel", "file", "--body-file", missing}, "--body-file: no file " + missing},
		{[]string{"campaign", "export", "1", filepath.Join(dir, "no", "such", "x.csv")},
			"the directory " + filepath.Join(dir, "no", "such") + " does not exist or takes no files; create it, or give a path in another"},
	} {
		r := cli(t, db, "", tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("tui %s: exit %d, %q; want %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	r = cli(t, db, "", "campaign", "list", "--json")
	if r.code != 0 || strings.Count(r.stdout, `"id"`) != 1 {
		t.Errorf("after the refusals the campaigns are: %s", r.stdout)
	}
}

func TestCampaignCreateRejectsBadTemplateAndChangesNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	body := writeFile(t, dir, "body.txt", "line one\nHi {{.name}\n")
	r := cli(t, db, "", "campaign", "create", "--name", "x", "--channel", "file", "--body-file", body)
	if r.code != 1 || !strings.Contains(r.stderr, "--body-file: line 2") {
		t.Fatalf("bad template: %+v", r)
	}
	r = cli(t, db, "", "campaign", "create", "--name", "x", "--channel", "file", "--max-attempts", "99", "--body-file", writeFile(t, dir, "ok.txt", "Hi"))
	if r.code != 1 || !strings.Contains(r.stderr, "--max-attempts: attempts per recipient must be between 1 and 20") {
		t.Fatalf("--max-attempts 99: %+v", r)
	}
	r = cli(t, db, "", "campaign", "create", "--name", "x", "--channel", "webhook", "--body-file", body)
	if r.code != 1 || !strings.Contains(r.stderr, "--url") {
		t.Fatalf("webhook without url: %+v", r)
	}
	r = cli(t, db, "", "campaign", "create", "--name", "x", "--channel", "file", "--body-file", filepath.Join(dir, "missing.txt"))
	if r.code != 1 || !strings.Contains(r.stderr, "missing.txt") {
		t.Fatalf("missing body file: %+v", r)
	}
	r = cli(t, db, "", "campaign", "list", "--json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("a rejected create stored something: %q", r.stdout)
	}
}

func TestBodyFromStdin(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	r := cli(t, db, "Body from stdin", "campaign", "create", "--name", "piped", "--channel", "file", "--body-file", "-")
	if r.code != 0 {
		t.Fatalf("create from stdin: %+v", r)
	}
	r = cli(t, db, "", "campaign", "show", strings.TrimSpace(r.stdout), "--json")
	if !strings.Contains(r.stdout, `"body": "Body from stdin"`) {
		t.Fatalf("show: %s", r.stdout)
	}
}

func TestContactsImportReportAndList(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	csv := writeFile(t, dir, "c.csv", "\ufeffEmail,Name,First Name\r\nann@example.com,Ann,A\r\nnot-an-email,X,Y\r\nann@example.com,Ann2,B\r\nbob@example.com,Bob\r\n\r\ncy@example.com,\"Cy, Jr.\",C\r\n")
	r := cli(t, db, "", "contacts", "import", csv, "--tag", "news")
	if r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	if !strings.Contains(r.stdout, "5 rows — 2 created, 0 updated, 1 duplicate, 2 invalid") {
		t.Fatalf("import summary: %q", r.stdout)
	}
	for _, want := range []string{"c.csv:3: ", "not-an-email", "c.csv:4: ", "repeats line 2", "c.csv:5: ", "has 2 columns"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("import problems lack %q:\n%s", want, r.stderr)
		}
	}
	r = cli(t, db, "", "contacts", "list", "--json")
	var contacts []contactJSON
	if err := json.Unmarshal([]byte(r.stdout), &contacts); err != nil {
		t.Fatalf("contacts list --json: %v\n%s", err, r.stdout)
	}
	if len(contacts) != 2 || contacts[0].Address != "ann@example.com" || contacts[0].Fields["first_name"] != "A" ||
		contacts[1].Name != "Cy, Jr." || len(contacts[1].Tags) != 1 || contacts[1].Tags[0] != "news" {
		t.Fatalf("contacts: %+v", contacts)
	}
	r = cli(t, db, "", "contacts", "import", writeFile(t, dir, "bad.csv", "name,city\nA,B\n"))
	if r.code != 1 || !strings.Contains(r.stderr, "no email, address, phone or psid column") || !strings.Contains(r.stderr, "Nothing was changed") {
		t.Fatalf("import without address column: %+v", r)
	}
	r = cli(t, db, "", "contacts", "import", filepath.Join(dir, "nope.csv"))
	if r.code != 1 || !strings.Contains(r.stderr, "nope.csv") {
		t.Fatalf("import of a missing file: %+v", r)
	}
	r = cli(t, db, "", "contacts", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "ann@example.com") || !strings.Contains(r.stdout, "first_name=A") {
		t.Fatalf("contacts list: %+v", r)
	}
}

func TestLockedDatabaseFailsFast(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	r := cli(t, db, "", "campaign", "list")
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("a locked database took %v to report", elapsed)
	}
	if r.code != 1 || !strings.Contains(r.stderr, "in use by another tui process") || !strings.Contains(r.stderr, "--ssh") || !strings.Contains(r.stderr, "--db") {
		t.Fatalf("locked: %+v", r)
	}
}

func TestNotADatabaseIsLeftUntouched(t *testing.T) {
	dir := t.TempDir()
	db := writeFile(t, dir, "notes.txt", strings.Repeat("my precious notes\n", 400))
	before := sha256.Sum256([]byte(strings.Repeat("my precious notes\n", 400)))
	r := cli(t, db, "", "campaign", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "not a tui database") || !strings.Contains(r.stderr, "untouched") {
		t.Fatalf("not a database: %+v", r)
	}
	data, err := os.ReadFile(db)
	if err != nil || sha256.Sum256(data) != before {
		t.Fatalf("the file changed: %v", err)
	}
}

func TestNegativeNumbersGetAProperError(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	body := writeFile(t, dir, "body.txt", "Hi")
	r := cli(t, db, "", "campaign", "create", "--name", "x", "--channel", "file", "--body-file", body)
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	r = cli(t, db, "", "campaign", "set-rate", "1", "-5")
	if r.code != 2 || !strings.Contains(r.stderr, "the rate cannot be negative (got -5)") || strings.Contains(r.stderr, "flag provided") {
		t.Errorf("set-rate 1 -5: %+v", r)
	}
	r = cli(t, db, "", "campaign", "set-rate", "1", "-0.5")
	if r.code != 2 || !strings.Contains(r.stderr, `"-0.5" is not a rate`) {
		t.Errorf("set-rate 1 -0.5: %+v", r)
	}
	r = cli(t, db, "", "campaign", "create", "--name", "y", "--channel", "file", "--body-file", body, "--rate", "-5")
	if r.code != 1 || !strings.Contains(r.stderr, "--rate: messages per second must be between 0 (no limit)") {
		t.Errorf("create --rate -5: %+v", r)
	}
	r = cli(t, db, "", "campaign", "show", "-1")
	if r.code != 2 || strings.Contains(r.stderr, "flag provided") {
		t.Errorf("show -1: %+v", r)
	}
}

// campaign show says when the last send ran, by whom and how long it took,
// and groups digits as the app does.
func TestShowSaysWhenTheLastSendRan(t *testing.T) {
	start := time.Date(2026, 12, 7, 16, 42, 8, 0, time.Local)
	end := start.Add(12 * time.Second)
	s := &store.SendInfo{StartedAt: start, StartedBy: "ann@host", FinishedAt: &end, Total: 200500, Sent: 200499, Failed: 1}
	if got, want := startedLine(s), "2026-12-07 16:42:08 by ann@host, finished 16:42:20 (took 12s)"; got != want {
		t.Errorf("started line %q, want %q", got, want)
	}
	next := start.Add(26 * time.Hour)
	s.FinishedAt = &next
	if got, want := startedLine(s), "2026-12-07 16:42:08 by ann@host, finished 2026-12-08 18:42:08 (took 26h0m)"; got != want {
		t.Errorf("a send over the next day: %q, want %q", got, want)
	}
	s.FinishedAt = nil
	if got, want := startedLine(s), "2026-12-07 16:42:08 by ann@host"; got != want {
		t.Errorf("a send under way: %q, want %q", got, want)
	}
	if got, want := lastSend(s), "200,499/200,500 sent, 1 failed"; got != want {
		t.Errorf("last send %q, want %q", got, want)
	}
}

// A flag the command does not take, or a value of the wrong kind, is said
// in the command line's own words, with the usage of that command.
func TestFlagErrorsSayWhatIsWrongAndShowTheCommandsUsage(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tui.db")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"contacts", "list", "--bogus"}, []string{"tui: unknown flag --bogus\n", "Usage:\n  tui contacts list", "Run 'tui --help' for every command."}},
		{[]string{"campaign", "show", "1", "--jsn"}, []string{"tui: unknown flag --jsn\n", "  tui campaign show ID [--json]"}},
		{[]string{"campaign", "create", "--rate"}, []string{"tui: --rate needs a value\n", "  tui campaign create --name NAME"}},
		{[]string{"campaign", "create", "--name", "x", "--rate", "fast"}, []string{`tui: --rate "fast" is not a whole number`}},
		{[]string{"campaign", "create", "--max-attempts", "99999999999999999999"}, []string{`--max-attempts "99999999999999999999" is out of range`}},
		{[]string{"campaign", "list", "--json=maybe"}, []string{`tui: --json="maybe" is not true or false`, "  tui campaign list"}},
		{[]string{"--headless-worker", "--lease", "soon"}, []string{`tui: --lease "soon" is not a duration such as 30s, 5m or 1h`, "Run 'tui --help' for usage."}},
	} {
		r := cli(t, db, "", c.args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2", c.args, r.code)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", c.args, w, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "flag provided") || strings.Contains(r.stderr, "parse error") {
			t.Errorf("%v: the flag package's words:\n%s", c.args, r.stderr)
		}
	}
}
