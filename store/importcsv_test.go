package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// importCase is one CSV input and everything the import must make of it.
type importCase struct {
	name     string
	csv      string
	tags     []string
	existing []Contact // stored before the import
	// want: the report's counts, its problems (line and a fragment of the
	// reason, in order) and the columns.
	rows, created, updated, duplicates, invalid int
	problems                                    []wantProblem
	columns                                     string
	// contacts: every stored contact afterwards, as summarise prints it.
	contacts []string
	// importError: a fragment of the ImportError; nothing may be written.
	importError string
}

type wantProblem struct {
	line   int
	reason string
}

// importCases are shared with the fuzz target as its seeds.
var importCases = []importCase{
	{
		name:    "plain",
		csv:     "email,name,city\nada@example.com,Ada,London\nbob@example.com,Bob,Paris\n",
		rows:    2,
		created: 2,
		columns: "name,city",
		contacts: []string{
			"ada@example.com name=Ada city=London name=Ada tags=[]",
			"bob@example.com name=Bob city=Paris name=Bob tags=[]",
		},
	},
	{
		name:     "no final newline",
		csv:      "email,name\nada@example.com,Ada",
		rows:     1,
		created:  1,
		columns:  "name",
		contacts: []string{"ada@example.com name=Ada name=Ada tags=[]"},
	},
	{
		name:     "BOM",
		csv:      "\ufeffemail,name\nada@example.com,Ada\n",
		rows:     1,
		created:  1,
		columns:  "name",
		contacts: []string{"ada@example.com name=Ada name=Ada tags=[]"},
	},
	{
		name:     "CRLF line endings",
		csv:      "email,name\r\nada@example.com,Ada\r\nnot-an-address,Bob\r\nbob@example.com,Bob\r\n",
		rows:     3,
		created:  2,
		invalid:  1,
		problems: []wantProblem{{3, `"not-an-address" is not an email address`}},
		columns:  "name",
		contacts: []string{
			"ada@example.com name=Ada name=Ada tags=[]",
			"bob@example.com name=Bob name=Bob tags=[]",
		},
	},
	{
		name: "quoted fields with commas, newlines and quotes",
		csv: "email,name,note\n" +
			"ada@example.com,\"Lovelace, Ada\",\"first line\nsecond line\"\n" + // lines 2-3
			"bob@example.com,\"Bob \"\"the builder\"\"\",\"\"\n" + // line 4
			"\"cat@example.com\",Cat,\"a,b\r\nc\"\n" + // lines 5-6
			"nobody,Dan,x\n", // line 7
		rows:     4,
		created:  3,
		invalid:  1,
		problems: []wantProblem{{7, `"nobody" is not an email address`}},
		columns:  "name,note",
		contacts: []string{
			"ada@example.com name=\"Lovelace, Ada\" name=\"Lovelace, Ada\" note=\"first line\\nsecond line\" tags=[]",
			"bob@example.com name=\"Bob \\\"the builder\\\"\" name=\"Bob \\\"the builder\\\"\" note=\"\" tags=[]",
			"cat@example.com name=Cat name=Cat note=\"a,b\\nc\" tags=[]",
		},
	},
	{
		name:     "blank lines are skipped and do not shift line numbers",
		csv:      "\n\nemail,name\n\nada@example.com,Ada\n\n\nbad@,Bob\n\n",
		rows:     2,
		created:  1,
		invalid:  1,
		problems: []wantProblem{{8, `"bad@" is not a valid email address`}},
		columns:  "name",
		contacts: []string{"ada@example.com name=Ada name=Ada tags=[]"},
	},
	{
		name:     "rows of empty cells, as spreadsheets export them, are blank lines",
		csv:      "email,name\nada@example.com,Ada\n,\n , \nbob@example.com,Bob\n",
		rows:     2,
		created:  2,
		columns:  "name",
		contacts: []string{"ada@example.com name=Ada name=Ada tags=[]", "bob@example.com name=Bob name=Bob tags=[]"},
	},
	{
		name:        "header without an address column",
		csv:         "name,city\nAda,London\n",
		importError: "no email, address, phone or psid column (it has: name, city)",
	},
	{
		name:        "header separated by semicolons",
		csv:         "email;name\nada@example.com;Ada\n",
		importError: "separated by ';'",
	},
	{
		name:        "header separated by tabs",
		csv:         "email\tname\nada@example.com\tAda\n",
		importError: "separated by tabs",
	},
	{
		name:        "duplicate header names",
		csv:         "email,Name,name\nada@example.com,Ada,Ada\n",
		importError: `header columns 2 and 3 are both called "name"`,
	},
	{
		name:        "duplicate header names after normalising",
		csv:         "email,First Name,first_name\nada@example.com,Ada,Ada\n",
		importError: `both called "first_name"`,
	},
	{
		name:        "empty header cell",
		csv:         "email,,city\nada@example.com,x,London\n",
		importError: "header column 2 has no name",
	},
	{
		name:        "header cell of punctuation only",
		csv:         "email,#\nada@example.com,1\n",
		importError: "header column 2 has no name",
	},
	{
		name:        "bare quote in the header",
		csv:         "email,na\"me\nada@example.com,Ada\n",
		importError: "the header row cannot be read",
	},
	{
		name:        "empty file",
		csv:         "",
		importError: "the file is empty",
	},
	{
		name:        "only blank lines",
		csv:         "\n\r\n\n",
		importError: "the file is empty",
	},
	{
		name:    "header only",
		csv:     "email,name,city\n",
		columns: "name,city",
	},
	{
		name:    "header only, BOM and CRLF",
		csv:     "\ufeffEmail,Name\r\n",
		columns: "name",
	},
	{
		name:     "invalid email addresses",
		csv:      "email\nada@example\nada@@example.com\nAda <ada@example.com>\nok@example.com\n",
		rows:     4,
		created:  1,
		invalid:  3,
		problems: []wantProblem{{2, `"ada@example" is not a valid email address`}, {3, `"ada@@example.com" is not a valid email address`}, {4, "not a valid email address"}},
		columns:  "",
		contacts: []string{"ok@example.com tags=[]"},
	},
	{
		name:     "address too long for SMTP or for the index",
		csv:      "email\n" + strings.Repeat("x", 40000) + "@example.com\nok@example.com\n",
		rows:     2,
		created:  1,
		invalid:  1,
		problems: []wantProblem{{2, "too long for an email address"}},
		columns:  "",
		contacts: []string{"ok@example.com tags=[]"},
	},
	{
		name:     "missing address",
		csv:      "email,name\n,Ada\n  ,Bob\ncat@example.com,Cat\n",
		rows:     3,
		created:  1,
		invalid:  2,
		problems: []wantProblem{{2, "the email column is empty"}, {3, "the email column is empty"}},
		columns:  "name",
		contacts: []string{"cat@example.com name=Cat name=Cat tags=[]"},
	},
	{
		name:     "too few columns",
		csv:      "email,name,city\nada@example.com,Ada\nbob@example.com,Bob,Paris\nx@example.com\n",
		rows:     3,
		created:  1,
		invalid:  2,
		problems: []wantProblem{{2, "has 2 columns; the header has 3"}, {4, "has 1 column; the header has 3"}},
		columns:  "name,city",
		contacts: []string{"bob@example.com name=Bob city=Paris name=Bob tags=[]"},
	},
	{
		name:     "too many columns",
		csv:      "email,name\nada@example.com,Ada,extra\nbob@example.com,Bob\n",
		rows:     2,
		created:  1,
		invalid:  1,
		problems: []wantProblem{{2, "has 3 columns; the header has 2"}},
		columns:  "name",
		contacts: []string{"bob@example.com name=Bob name=Bob tags=[]"},
	},
	{
		name:     "bare quote",
		csv:      "email,name\nada@example.com,Ad\"a\nbob@example.com,Bob\n",
		rows:     2,
		created:  1,
		invalid:  1,
		problems: []wantProblem{{2, "a quote is misplaced"}},
		columns:  "name",
		contacts: []string{"bob@example.com name=Bob name=Bob tags=[]"},
	},
	{
		name:     "bare quote in the first field",
		csv:      "email,name\nad\"a@example.com,Ada\nbob@example.com,Bob\n",
		rows:     2,
		created:  1,
		invalid:  1,
		problems: []wantProblem{{2, "a quote is misplaced"}},
		columns:  "name",
		contacts: []string{"bob@example.com name=Bob name=Bob tags=[]"},
	},
	{
		name:     "quote left open swallows the rest of the file",
		csv:      "email,name\nada@example.com,Ada\nbob@example.com,\"Bob\ncat@example.com,Cat\n",
		rows:     2,
		created:  1,
		invalid:  1,
		problems: []wantProblem{{3, "a quote is misplaced"}},
		columns:  "name",
		contacts: []string{"ada@example.com name=Ada name=Ada tags=[]"},
	},
	{
		name: "duplicate within the file: first wins",
		csv: "email,name\nada@example.com,Ada\nbob@example.com,Bob\n" +
			"ADA@example.com,Ada Two\n bob@example.com ,Bob Two\nada@example.com,Ada Three\n",
		rows:       5,
		created:    2,
		duplicates: 3,
		problems: []wantProblem{
			{4, "ada@example.com repeats line 2"},
			{5, "bob@example.com repeats line 3"},
			{6, "ada@example.com repeats line 2"},
		},
		columns: "name",
		contacts: []string{
			"ada@example.com name=Ada name=Ada tags=[]",
			"bob@example.com name=Bob name=Bob tags=[]",
		},
	},
	{
		name:    "problems are listed in line order, duplicates among invalid rows",
		csv:     "email\nada@example.com\nbob@example.com\nada@example.com\nnot-an-email\n",
		rows:    4,
		created: 2, duplicates: 1, invalid: 1,
		problems: []wantProblem{{4, "ada@example.com repeats line 2"}, {5, "not-an-email"}},
		columns:  "",
		contacts: []string{"ada@example.com tags=[]", "bob@example.com tags=[]"},
	},
	{
		name: "a tags column gives each row its tags, beside --tag, and is no template field",
		existing: []Contact{
			{Address: "ada@example.com", Fields: map[string]string{"city": "London"}, Tags: []string{"old"}},
		},
		csv:     "email,Tags,city\nada@example.com,VIP,Paris\nbob@example.com,\"vip, b2b\",Rome\ncy@example.com,,Oslo\ndi@example.com,a;b|c,Nice\n",
		tags:    []string{"news"},
		rows:    4,
		created: 3, updated: 1,
		columns: "city",
		contacts: []string{
			"ada@example.com city=Paris tags=[news old vip]",
			"bob@example.com city=Rome tags=[b2b news vip]",
			"cy@example.com city=Oslo tags=[news]",
			"di@example.com city=Nice tags=[a b c news]",
		},
	},
	{
		name: "duplicate against existing contacts: fields updated, tags merged",
		existing: []Contact{
			{Address: "ada@example.com", Name: "Ada", Fields: map[string]string{"name": "Ada", "plan": "gold", "city": "London"}, Tags: []string{"vip"}},
			{Address: "zed@example.com", Fields: map[string]string{"city": "Oslo"}, Tags: []string{"old"}},
		},
		csv:     "email,city\nAda@Example.com,Paris\nbob@example.com,Rome\nada@example.com,Berlin\n",
		tags:    []string{"news"},
		rows:    3,
		created: 1, updated: 1, duplicates: 1,
		problems: []wantProblem{{4, "ada@example.com repeats line 2"}},
		columns:  "city",
		contacts: []string{
			"ada@example.com name=Ada city=Paris name=Ada plan=gold tags=[news vip]",
			"zed@example.com city=Oslo tags=[old]",
			"bob@example.com city=Rome tags=[news]",
		},
	},
	{
		name:     "phone column",
		csv:      "Phone,name\n+44 20 7946 0958,Ada\n555-0100,Bob\n12,Cat\n",
		rows:     3,
		created:  2,
		invalid:  1,
		problems: []wantProblem{{4, `"12" is not a phone number (5 to 15 digits)`}},
		columns:  "name",
		contacts: []string{"+442079460958 name=Ada name=Ada tags=[]", "5550100 name=Bob name=Bob tags=[]"},
	},
	{
		name:     "address column holding emails and phones",
		csv:      "ADDRESS,name\nada@example.com,Ada\n(555) 010-0199,Bob\n",
		rows:     2,
		created:  2,
		columns:  "name",
		contacts: []string{"ada@example.com name=Ada name=Ada tags=[]", "5550100199 name=Bob name=Bob tags=[]"},
	},
	{
		name:     "email preferred over phone; phone becomes a field",
		csv:      "phone,email\n555-0100,ada@example.com\n",
		rows:     1,
		created:  1,
		columns:  "phone",
		contacts: []string{"ada@example.com phone=555-0100 tags=[]"},
	},
	{
		name:     "header names normalised",
		csv:      "  E-mail ,First Name,Last-Name,zip.code,\"Email\"\nx,Ada,Lovelace,75001,ada@example.com\n",
		rows:     1,
		created:  1,
		columns:  "e_mail,first_name,last_name,zip_code",
		contacts: []string{"ada@example.com e_mail=x first_name=Ada last_name=Lovelace zip_code=75001 tags=[]"},
	},
	{
		name:     "spaces around values are trimmed",
		csv:      "email,name\n  ada@example.com  ,  Ada  \n",
		rows:     1,
		created:  1,
		columns:  "name",
		contacts: []string{"ada@example.com name=Ada name=Ada tags=[]"},
	},
	{
		name:     "tags applied",
		csv:      "email\nada@example.com\nbob@example.com\n",
		tags:     []string{"Spring, VIP", "vip"},
		rows:     2,
		created:  2,
		columns:  "",
		contacts: []string{"ada@example.com tags=[spring vip]", "bob@example.com tags=[spring vip]"},
	},
}

// summarise prints a contact as the cases spell them: address, name (when
// set), sorted fields, tags.
func summarise(c Contact) string {
	var b strings.Builder
	b.WriteString(c.Address)
	if c.Name != "" {
		fmt.Fprintf(&b, " name=%s", quoteIfNeeded(c.Name))
	}
	keys := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, quoteIfNeeded(c.Fields[k]))
	}
	fmt.Fprintf(&b, " tags=%v", c.Tags)
	return b.String()
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\r\",") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func TestImportCSV(t *testing.T) {
	for _, tc := range importCases {
		t.Run(tc.name, func(t *testing.T) {
			s := fxOpen(t)
			for _, c := range tc.existing {
				if _, _, err := s.AddContact("setup", c); err != nil {
					t.Fatal(err)
				}
			}
			countsBefore, _ := s.Counts()
			auditBefore := fxAuditLen(t, s)

			rep, err := s.ImportCSV(context.Background(), strings.NewReader(tc.csv), ImportOptions{Actor: "alice", Name: "contacts.csv", Tags: tc.tags})

			if tc.importError != "" {
				var ie *ImportError
				if !errors.As(err, &ie) {
					t.Fatalf("got %v, want an ImportError", err)
				}
				if !strings.Contains(ie.Error(), tc.importError) {
					t.Errorf("ImportError %q does not say %q", ie, tc.importError)
				}
				if counts, _ := s.Counts(); counts != countsBefore {
					t.Errorf("counts changed: %+v → %+v", countsBefore, counts)
				}
				if n := fxAuditLen(t, s); n != auditBefore {
					t.Errorf("%d audit entries written", n-auditBefore)
				}
				if rep.Rows != 0 || rep.Created != 0 || len(rep.Problems) != 0 {
					t.Errorf("report of a refused file: %+v", rep)
				}
				return
			}
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			got := fmt.Sprintf("rows %d created %d updated %d duplicates %d invalid %d",
				rep.Rows, rep.Created, rep.Updated, rep.Duplicates, rep.Invalid)
			want := fmt.Sprintf("rows %d created %d updated %d duplicates %d invalid %d",
				tc.rows, tc.created, tc.updated, tc.duplicates, tc.invalid)
			if got != want {
				t.Errorf("report %s\n  want %s", got, want)
			}
			if rep.Skipped() != tc.duplicates+tc.invalid {
				t.Errorf("Skipped() = %d", rep.Skipped())
			}
			if len(rep.Problems) != len(tc.problems) {
				t.Errorf("problems %+v, want %d", rep.Problems, len(tc.problems))
			} else {
				for i, p := range rep.Problems {
					if p.Line != tc.problems[i].line || !strings.Contains(p.Reason, tc.problems[i].reason) {
						t.Errorf("problem %d: line %d %q; want line %d %q", i, p.Line, p.Reason, tc.problems[i].line, tc.problems[i].reason)
					}
				}
			}
			if cols := strings.Join(rep.Columns, ","); cols != tc.columns {
				t.Errorf("columns %q, want %q", cols, tc.columns)
			}

			var stored []string
			for _, c := range fxAllContacts(t, s) {
				stored = append(stored, summarise(c))
			}
			if strings.Join(stored, "\n") != strings.Join(tc.contacts, "\n") {
				t.Errorf("stored contacts:\n  %s\nwant:\n  %s", strings.Join(stored, "\n  "), strings.Join(tc.contacts, "\n  "))
			}
			counts, _ := s.Counts()
			if counts.Contacts != countsBefore.Contacts+tc.created {
				t.Errorf("contact count %d, want %d", counts.Contacts, countsBefore.Contacts+tc.created)
			}
			fxCheckIndexes(t, s)

			// The audit log ends with the import's summary.
			last, _ := s.Audit(1)
			if len(last) != 1 || last[0].Action != "contact.import" || last[0].Actor != "alice" || last[0].Object != "contacts.csv" ||
				!strings.Contains(last[0].Detail, fmt.Sprintf("%d rows: %d created", tc.rows, tc.created)) {
				t.Errorf("last audit entry %+v", last)
			}
		})
	}
}

// A second import of the same file updates instead of reporting duplicates:
// only rows repeated within one file are duplicates.
func TestImportTwiceUpdates(t *testing.T) {
	s := fxOpen(t)
	in := "email,name\nada@example.com,Ada\nbob@example.com,Bob\n"
	if _, err := s.ImportCSV(context.Background(), strings.NewReader(in), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	// A frozen clock: two imports in the same instant must still be told apart.
	frozen := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return frozen }
	for i := 0; i < 2; i++ {
		rep, err := s.ImportCSV(context.Background(), strings.NewReader(in), ImportOptions{Tags: []string{"again"}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Updated != 2 || rep.Duplicates != 0 || rep.Created != 0 {
			t.Errorf("import #%d: %+v", i+2, rep)
		}
	}
	if counts, _ := s.Counts(); counts.Contacts != 2 {
		t.Errorf("count %d", counts.Contacts)
	}
}

func TestImportProblemsAreCappedCountsExact(t *testing.T) {
	s := fxOpen(t)
	const bad = MaxReportedProblems + 500
	var b strings.Builder
	b.WriteString("email,name\n")
	for i := 0; i < bad; i++ {
		fmt.Fprintf(&b, "bad%d,x\n", i)
		if i%100 == 0 {
			fmt.Fprintf(&b, "good%d@example.com,y\n", i)
		}
	}
	b.WriteString("good@example.com,y\ngood@example.com,dup\n")
	rep, err := s.ImportCSV(context.Background(), strings.NewReader(b.String()), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	goods := bad/100 + 1 // every hundredth, and good@
	if rep.Invalid != bad || rep.Created != goods || rep.Duplicates != 1 || rep.Rows != bad+goods+1 {
		t.Errorf("report rows %d created %d invalid %d duplicates %d", rep.Rows, rep.Created, rep.Invalid, rep.Duplicates)
	}
	if len(rep.Problems) != MaxReportedProblems {
		t.Errorf("%d problems kept, want %d", len(rep.Problems), MaxReportedProblems)
	}
	if p := rep.Problems[0]; p.Line != 2 || !strings.Contains(p.Reason, "bad0") {
		t.Errorf("first problem %+v", p)
	}
	if unlisted := rep.Skipped() - len(rep.Problems); unlisted != bad+1-MaxReportedProblems {
		t.Errorf("%d problems not listed, want %d", unlisted, bad+1-MaxReportedProblems)
	}
}

func TestImportProgress(t *testing.T) {
	s := fxOpen(t)
	var b strings.Builder
	b.WriteString("email\n")
	const rows = importBatch*2 + 10
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "u%d@example.com\n", i)
	}
	var calls []ImportProgress
	rep, err := s.ImportCSV(context.Background(), strings.NewReader(b.String()), ImportOptions{
		Progress: func(p ImportProgress) { calls = append(calls, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != rows {
		t.Fatalf("created %d", rep.Created)
	}
	if len(calls) != 3 {
		t.Fatalf("progress called %d times, want one per batch (3): %+v", len(calls), calls)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Rows <= calls[i-1].Rows || calls[i].BytesRead < calls[i-1].BytesRead {
			t.Errorf("progress went backwards: %+v", calls)
		}
	}
	if last := calls[len(calls)-1]; last.Rows != rows || last.BytesRead != int64(b.Len()) {
		t.Errorf("last progress %+v, want %d rows and %d bytes", last, rows, b.Len())
	}
}

// cancelAfter cancels a context once n bytes have been read through it.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		p = p[:4096] // small reads, so the cancel lands mid-batch
	}
	n, err := c.r.Read(p)
	c.n -= n
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestImportCancelledLeavesWholeContacts(t *testing.T) {
	s := fxOpen(t)
	var b strings.Builder
	b.WriteString("email,name,city,zip,plan\n")
	const rows = importBatch * 5
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "user%d@example.com,User %d,City %d,%05d,plan-%d\n", i, i, i, i, i%3)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := &cancelAfter{r: strings.NewReader(b.String()), n: b.Len() * 2 / 5, cancel: cancel}
	rep, err := s.ImportCSV(ctx, in, ImportOptions{Actor: "alice", Name: "big.csv", Tags: []string{"t"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	all := fxAllContacts(t, s)
	if len(all) == 0 || len(all) >= rows {
		t.Fatalf("%d contacts stored after cancelling part way", len(all))
	}
	for _, c := range all {
		if len(c.Fields) != 4 || c.Fields["name"] == "" || c.Fields["city"] == "" || c.Fields["zip"] == "" || c.Fields["plan"] == "" || !c.HasTag("t") {
			t.Fatalf("half-written contact: %s", summarise(c))
		}
	}
	if rep.Created != len(all) || rep.Rows != rep.Created+rep.Updated+rep.Duplicates+rep.Invalid {
		t.Errorf("report %+v does not match %d stored contacts", rep, len(all))
	}
	counts, _ := s.Counts()
	if counts.Contacts != len(all) {
		t.Errorf("count %d, stored %d", counts.Contacts, len(all))
	}
	fxCheckIndexes(t, s)
	last, _ := s.Audit(1)
	if len(last) != 1 || last[0].Action != "contact.import" || !strings.Contains(last[0].Detail, "cancelled") {
		t.Errorf("the audit log does not say the import was cancelled: %+v", last)
	}
}

// A reader that fails part way: the rows before it are kept whole, and the
// error says what failed.
type failingReader struct {
	r   io.Reader
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestImportReadErrorIsReported(t *testing.T) {
	s := fxOpen(t)
	var b strings.Builder
	b.WriteString("email\n")
	for i := 0; i < importBatch*2; i++ {
		fmt.Fprintf(&b, "u%d@example.com\n", i)
	}
	boom := errors.New("disk on fire")
	_, err := s.ImportCSV(context.Background(), &failingReader{r: strings.NewReader(b.String()), n: b.Len() / 2, err: boom}, ImportOptions{})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the reader's error", err)
	}
	fxCheckIndexes(t, s)
}

// A quote left open in a big file would make the rest of the file one
// record held in memory: the import stops at 1 MiB, keeps the rows before,
// and says where and why.
// A row over 1 MiB is skipped and reported with its line; the rows after
// it are imported, and line numbers after it stay the file's.
func TestImportSkipsAnOverlongRowAndGoesOn(t *testing.T) {
	s := fxOpen(t)
	var b strings.Builder
	b.WriteString("email,note\nada@example.com,fine\nbob@example.com,\"multi\nline\"\n")
	b.WriteString("cat@example.com," + strings.Repeat("x", 2<<20) + "\n")                  // line 5, unquoted
	b.WriteString("dan@example.com,\"" + strings.Repeat("y\n", 600<<10) + "\"\n")          // line 6, quoted, 614,401 lines
	b.WriteString("eve@example.com,after\nnot-an-address,bad\nfay@example.com,\"last\"\n") // lines 614,407–614,409
	rep, err := s.ImportCSV(context.Background(), strings.NewReader(b.String()), ImportOptions{Name: "big.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 4 || rep.Invalid != 3 || rep.Rows != 7 {
		t.Errorf("report %+v", rep)
	}
	want := []struct {
		line int
		has  string
	}{{5, "2.0 MiB long"}, {6, "1.2 MiB long"}, {614408, "not-an-address"}}
	if len(rep.Problems) != len(want) {
		t.Fatalf("problems %+v", rep.Problems)
	}
	for i, w := range want {
		if p := rep.Problems[i]; p.Line != w.line || !strings.Contains(p.Reason, w.has) {
			t.Errorf("problem %d: %+v, want line %d with %q", i, p, w.line, w.has)
		}
	}
	var got []string
	for _, c := range fxAllContacts(t, s) {
		got = append(got, c.Address)
	}
	if strings.Join(got, " ") != "ada@example.com bob@example.com eve@example.com fay@example.com" {
		t.Errorf("imported %v", got)
	}
}

// A quote left open swallows the rest of the file into one row: it is
// reported as such, and the rows before it are imported.
func TestImportReportsAQuoteLeftOpen(t *testing.T) {
	s := fxOpen(t)
	var b strings.Builder
	b.WriteString("email,note\nada@example.com,fine\nbob@example.com,\"multi\nline\"\ncat@example.com,\"open quote\n")
	lines := 5
	for b.Len() < 3<<20 {
		b.WriteString("dan@example.com,more text that is swallowed by the open quote\n")
		lines++
	}
	rep, err := s.ImportCSV(context.Background(), strings.NewReader(b.String()), ImportOptions{Name: "big.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 2 || rep.Invalid != 1 || rep.Rows != 3 || len(rep.Problems) != 1 || rep.Problems[0].Line != 5 {
		t.Fatalf("report %+v", rep)
	}
	for _, want := range []string{"never closed", fmt.Sprintf("lines 5–%d", lines), "Close the quote"} {
		if !strings.Contains(rep.Problems[0].Reason, want) {
			t.Errorf("problem %q does not say %q", rep.Problems[0].Reason, want)
		}
	}
	if got := len(fxAllContacts(t, s)); got != 2 {
		t.Errorf("%d contacts stored, want the 2 before the open quote", got)
	}
}

func TestImportRefusesHugeHeader(t *testing.T) {
	s := fxOpen(t)
	in := strings.NewReader("email,\"" + strings.Repeat("x", 2<<20))
	_, err := s.ImportCSV(context.Background(), in, ImportOptions{})
	var ie *ImportError
	if !errors.As(err, &ie) || !strings.Contains(ie.Reason, "1 MiB") {
		t.Fatalf("got %v, want an ImportError about the header's size", err)
	}
	if n := fxAuditLen(t, s); n != 0 {
		t.Errorf("%d audit entries", n)
	}
}

const importerEnv = "TUI_STORE_TEST_IMPORTER"

// TestImporterProcess is not a test: it is the process TestImportKilled
// kills. It imports an endless CSV into the database the environment names
// and reports each committed batch on stdout.
func TestImporterProcess(t *testing.T) {
	path := os.Getenv(importerEnv)
	if path == "" {
		t.Skip("only runs as the child of TestImportKilled")
	}
	s, err := Open(path)
	if err != nil {
		fmt.Println("importer:", err)
		os.Exit(3)
	}
	_, err = s.ImportCSV(context.Background(), newRowsReader(1<<40), ImportOptions{
		Tags:     []string{"killed"},
		Progress: func(p ImportProgress) { fmt.Printf("committed %d\n", p.Rows) },
	})
	fmt.Println("importer: finished, which it should not:", err)
	os.Exit(4)
}

// TestImportKilled kills an importing process with SIGKILL after it has
// committed a few batches: the database opens, every contact in it is whole
// and indexed, and the count is right.
func TestImportKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	path := filepath.Join(t.TempDir(), "tui.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestImporterProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), importerEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The second "committed N" line: N rows are on disk.
	committed := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var seen []string
		batches := 0
		for sc.Scan() {
			seen = append(seen, sc.Text())
			if rows, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
				if batches++; batches == 2 {
					committed <- rows
					_, _ = io.Copy(io.Discard, stdout)
					return
				}
			}
		}
		committed <- "exited:\n" + strings.Join(seen, "\n")
	}()
	var durable int
	select {
	case msg := <-committed:
		if durable, err = strconv.Atoi(msg); err != nil {
			_ = cmd.Wait()
			t.Fatalf("the importer stopped before committing 2 batches: %s", msg)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the importer did not commit 2 batches within 60s")
	}
	// Mid-way through the third batch, or its commit.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s, err := Open(path)
	if err != nil {
		t.Fatalf("open after the kill: %v", err)
	}
	defer s.Close()
	all := fxAllContacts(t, s)
	if len(all) < durable {
		t.Fatalf("%d contacts, but %d rows were committed before the kill", len(all), durable)
	}
	for _, c := range all {
		if len(c.Fields) != 4 || c.Fields["name"] == "" || c.Fields["plan"] == "" || !c.HasTag("killed") {
			t.Fatalf("half-written contact: %s", summarise(c))
		}
	}
	fxCheckIndexes(t, s)
}
