package ui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"tui/store"
)

// ctWriteFile writes a test file into a fresh temporary directory.
func ctWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportCSVThroughTheTUI(t *testing.T) {
	st := newTestStore(t)
	// A BOM, CRLF line ends, a quoted field with a comma and doubled
	// quotes, an invalid address and a duplicate of an earlier row.
	path := ctWriteFile(t, "people.csv", "\xEF\xBB\xBFEmail,Name,Home City\r\n"+
		"ann@example.com,Ann Lee,Utrecht\r\n"+ // line 2
		"bob@example.com,\"Bob \"\"The Builder\"\", Jr\",Paris\r\n"+ // line 3
		"not-an-email@,Carl,Rome\r\n"+ // line 4
		"ANN@example.com,Ann Twice,Utrecht\r\n"+ // line 5
		"dora@example.com,Dora,Oslo\r\n") // line 6

	s := startApp(t, st, 80, 24)
	s.press("2")
	s.waitFor("No contacts yet")
	s.press("i")
	s.waitFor("Import contacts from a CSV file")
	s.typeText(path)
	s.press("enter")
	s.typeText("spring, newsletter")
	s.press("enter")

	scr := s.waitFor("Imported people.csv")
	for _, want := range []string{
		"5 rows read: 3 created · 0 updated · 1 duplicate · 1 invalid",
		"Tagged newsletter, spring",
		"{{.name}} {{.home_city}}",
		"Problems — 2 rows not imported",
		`line 4  "not-an-email@" is not a valid email address`,
		"line 5  ann@example.com repeats line 2; this row was skipped",
	} {
		if !strings.Contains(scr, want) {
			t.Errorf("the report lacks %q:\n%s", want, frame(scr))
		}
	}

	counts, err := st.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if counts.Contacts != 3 {
		t.Errorf("the store holds %d contacts, want 3", counts.Contacts)
	}
	bob, err := st.ContactByAddress("bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if bob.Name != `Bob "The Builder", Jr` || bob.Fields["home_city"] != "Paris" {
		t.Errorf("bob = %+v, want the quoted name and Paris", bob)
	}
	if strings.Join(bob.Tags, ",") != "newsletter,spring" {
		t.Errorf("bob's tags = %v, want newsletter and spring", bob.Tags)
	}
	ann, err := st.ContactByAddress("ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ann.Name != "Ann Lee" {
		t.Errorf("ann's name = %q: the duplicate row on line 5 was written", ann.Name)
	}

	s.press("esc")
	scr = s.waitFor("rows 1–3 of 3")
	for _, addr := range []string{"ann@example.com", "bob@example.com", "dora@example.com"} {
		if !strings.Contains(scr, addr) {
			t.Errorf("the list lacks %s after the import:\n%s", addr, frame(scr))
		}
	}
}

// The flash of a large import groups its digits, as every count does.
func TestImportFlashGroupsDigits(t *testing.T) {
	st := newTestStore(t)
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 1500 {
		fmt.Fprintf(&b, "p%d@example.com\n", i)
	}
	path := ctWriteFile(t, "many.csv", b.String())
	s := startApp(t, st, 100, 24)
	s.press("2", "i")
	s.waitFor("Import contacts from a CSV file")
	s.typeText(path)
	s.press("enter", "enter", "enter")
	s.waitFor("✓ Imported many.csv: 1,500 created, 0 updated")
}

func TestImportWithoutAddressColumnChangesNothing(t *testing.T) {
	st := newTestStore(t)
	ctSeed(t, st, "email,name\nkeep@example.com,Keep\n")
	before := ctSnapshot(t, st)

	path := ctWriteFile(t, "names.csv", "name,city\nAnn,Utrecht\nBob,Paris\n")
	s := startApp(t, st, 80, 24)
	s.press("2")
	s.waitFor("keep@example.com")
	s.press("i")
	s.waitFor("Import contacts from a CSV file")
	s.typeText(path + "\n\n")

	scr := s.waitFor("Nothing was")
	if !strings.Contains(scr, "Cannot import names.csv: the header has no email, address, phone or psid") {
		t.Errorf("the reason is not shown:\n%s", frame(scr))
	}
	if !strings.Contains(scr, "Import contacts from a CSV file") {
		t.Errorf("the form should stay open so the path can be fixed:\n%s", frame(scr))
	}
	if after := ctSnapshot(t, st); after != before {
		t.Errorf("the store changed:\nbefore %s\nafter  %s", before, after)
	}

	// esc leaves the form; the list is as it was.
	s.press("esc")
	s.waitFor("rows 1–1 of 1")
}

func TestImportBadPathChangesNothing(t *testing.T) {
	st := newTestStore(t)
	before := ctSnapshot(t, st)
	s := startApp(t, st, 80, 24)
	s.press("2", "i")
	s.waitFor("Import contacts from a CSV file")
	s.typeText("no/such/file.csv\n\n")
	scr := s.waitFor("no file no/such/file.csv")
	if !strings.Contains(flat(scr), "where relative paths start") {
		t.Errorf("the error does not say where relative paths start:\n%s", frame(scr))
	}

	// A directory is refused too, with its own reason. The failure put
	// the focus back on the path.
	for range len("no/such/file.csv") {
		s.press("backspace")
	}
	s.typeText(t.TempDir() + "\n\n")
	s.waitFor("is a directory")
	if after := ctSnapshot(t, st); after != before {
		t.Errorf("the store changed:\nbefore %s\nafter  %s", before, after)
	}
	// q typed into the form is text, not quit.
	s.typeText("q")
	s.waitFor("q")
	s.press("esc")
	s.waitFor("No contacts yet")
}

func TestResolveImportPath(t *testing.T) {
	cases := []struct {
		raw, want, err string
	}{
		{raw: "contacts.csv", want: "/work/dir/contacts.csv"},
		{raw: "  ../x.csv ", want: "/work/x.csv"},
		{raw: "/abs/c.csv", want: "/abs/c.csv"},
		{raw: "~", want: "/home/ann"},
		{raw: "~/Downloads/c.csv", want: "/home/ann/Downloads/c.csv"},
		{raw: "'/with space/c.csv'", want: "/with space/c.csv"},
		{raw: `"rel dir/c.csv"`, want: "/work/dir/rel dir/c.csv"},
		{raw: "~bob/c.csv", err: "only ~ for your own home directory"},
		{raw: "  ", err: "type the path"},
	}
	for _, c := range cases {
		got, err := resolveImportPath(c.raw, "/home/ann", "/work/dir")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("resolveImportPath(%q) = %q, %v; want an error with %q", c.raw, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("resolveImportPath(%q) = %q, %v; want %q", c.raw, got, err, c.want)
		}
	}
	if _, err := resolveImportPath("~/x", "", "/w"); err == nil {
		t.Error("~ without a home directory should be an error")
	}
	if _, err := resolveImportPath("x", "/h", ""); err == nil {
		t.Error("a relative path without a working directory should be an error")
	}
}

func TestOfferLatestKeepsOnlyTheNewest(t *testing.T) {
	ch := make(chan store.ImportProgress, 1)
	for i := 1; i <= 5; i++ {
		offerLatest(ch, store.ImportProgress{Rows: i * 1000})
	}
	if got := <-ch; got.Rows != 5000 {
		t.Errorf("the channel holds %d rows, want the newest figure 5000", got.Rows)
	}
	select {
	case p := <-ch:
		t.Errorf("a second figure %v was queued", p)
	default:
	}
}

func TestImportProgressLine(t *testing.T) {
	c := NewCommon(nil, "tester", ctStatus())
	m := newImporter(c, new(int), "/w", nil)
	m.setSize(80, 20)
	m.stage, m.name, m.size = importRunning, "big.csv", 2000
	m.progress = store.ImportProgress{Rows: 3200, BytesRead: 900}
	if v := ansi.Strip(m.View()); !strings.Contains(v, "Importing big.csv… 3,200 rows (45%)") {
		t.Errorf("running view = %q", v)
	}
	m.size = 0 // a pipe has no size: no percentage rather than a wrong one
	if v := m.View(); strings.Contains(v, "%") {
		t.Errorf("running view without a size shows a percentage: %q", v)
	}
}

func TestImportReportListsOverflowAndScrolls(t *testing.T) {
	c := NewCommon(nil, "tester", ctStatus())
	m := newImporter(c, new(int), "/w", nil)
	m.setSize(80, 16)
	m.stage, m.name = importReport, "bad.csv"
	m.report = store.ImportReport{Rows: 5000, Invalid: 5000}
	for i := 0; i < store.MaxReportedProblems; i++ {
		m.report.Problems = append(m.report.Problems, store.RowProblem{Line: i + 2, Reason: "bad"})
	}
	v := ansi.Strip(m.View())
	if !strings.Contains(v, "4,000 more not listed: a report keeps the first 1,000") {
		t.Errorf("the report does not say problems were left out:\n%s", v)
	}
	if !strings.Contains(v, "line     2  bad") {
		t.Errorf("the first problem is not shown:\n%s", v)
	}
	m.Update(ctKey("G"))
	v = ansi.Strip(m.View())
	if !strings.Contains(v, "line 1,001  bad") || strings.Contains(v, "line     2  bad") {
		t.Errorf("G does not scroll to the last problem:\n%s", v)
	}
	if lines := strings.Count(v, "\n") + 1; lines > 16 {
		t.Errorf("the report is %d lines, taller than its 16", lines)
	}
}
