package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	bolt "go.etcd.io/bbolt"
)

// ImportOptions tune a CSV import.
type ImportOptions struct {
	Actor string
	Name  string   // the file's name, for the audit log
	Tags  []string // added to every imported contact
	// Progress, when set, is called after every committed batch.
	Progress func(ImportProgress)
}

// ImportProgress is how far an import has come.
type ImportProgress struct {
	Rows      int   // data rows read so far
	BytesRead int64 // bytes of the file consumed
}

// RowProblem is a row that was not imported, or not imported fully.
type RowProblem struct {
	Line   int    `json:"line"` // line in the file; the header is line 1
	Reason string `json:"reason"`
}

// MaxReportedProblems bounds the problems an ImportReport keeps; the rest
// are only counted, so a million bad rows cannot exhaust memory.
const MaxReportedProblems = 1000

// ImportReport says what an import did.
type ImportReport struct {
	Rows       int          `json:"rows"`       // data rows read
	Created    int          `json:"created"`    // new contacts
	Updated    int          `json:"updated"`    // existing contacts: fields updated, tags merged
	Duplicates int          `json:"duplicates"` // rows repeating an address seen earlier in the file
	Invalid    int          `json:"invalid"`    // rows rejected
	Problems   []RowProblem `json:"problems"`   // the first MaxReportedProblems duplicates and rejects
	Columns    []string     `json:"columns"`    // the template fields the file provides
}

// Skipped is every row that was not written.
func (r *ImportReport) Skipped() int { return r.Duplicates + r.Invalid }

func (r *ImportReport) problem(line int, format string, args ...any) {
	if len(r.Problems) < MaxReportedProblems {
		r.Problems = append(r.Problems, RowProblem{Line: line, Reason: fmt.Sprintf(format, args...)})
	}
}

// ImportError is a file that cannot be imported at all; nothing was written.
type ImportError struct{ Reason string }

func (e *ImportError) Error() string { return e.Reason }

// importBatch is the number of rows written per transaction: a crash loses at
// most one uncommitted batch and never leaves half a contact.
const importBatch = 2000

// addressColumns are the header names that hold the address, by preference.
var addressColumns = []string{"email", "address", "phone"}

// ImportCSV reads contacts from a CSV file with a header row. One column named
// email, address or phone holds the address; every other column becomes a
// template field (names lower-cased, spaces turned into underscores). Rows
// with an address that already exists update that contact's fields and merge
// its tags. Bad rows are reported with their line and skipped; good rows are
// imported. Memory stays bounded whatever the file's size.
func (s *Store) ImportCSV(ctx context.Context, r io.Reader, opts ImportOptions) (ImportReport, error) {
	var rep ImportReport
	counter := &countingReader{r: r}
	br := bufio.NewReaderSize(counter, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return rep, &ImportError{Reason: "the file is empty: it needs a header row with an email, address or phone column"}
	}
	if err != nil {
		return rep, &ImportError{Reason: "the header row cannot be read: " + csvReason(err)}
	}
	columns, addrIdx, err := parseHeader(header)
	if err != nil {
		return rep, err
	}
	for i, c := range columns {
		if i != addrIdx {
			rep.Columns = append(rep.Columns, c)
		}
	}
	tags := NormalizeTags(opts.Tags)
	importID := strconv.FormatInt(s.now().UnixNano(), 36)

	type row struct {
		line   int
		fields []string
	}
	batch := make([]row, 0, importBatch)
	first := true
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.db.Update(func(tx *bolt.Tx) error {
			now := s.now().UTC()
			created := 0
			if first {
				detail := fmt.Sprintf("started; tags %s", strings.Join(tags, ","))
				if err := s.audit(tx, opts.Actor, "contact.import", opts.Name, detail); err != nil {
					return err
				}
			}
			contacts, addrs := tx.Bucket(bucketContacts), tx.Bucket(bucketAddresses)
			for _, rw := range batch {
				c := Contact{Fields: make(map[string]string, len(columns)), Tags: tags, ImportID: importID, ImportRow: rw.line}
				for i, v := range rw.fields {
					if i == addrIdx {
						continue
					}
					c.Fields[columns[i]] = v
				}
				c.Name = c.Fields["name"]
				c.Address, _ = NormalizeAddress(rw.fields[addrIdx]) // validated when read
				if idb := addrs.Get([]byte(c.Address)); idb != nil {
					var prev struct {
						ImportID  string `json:"import_id"`
						ImportRow int    `json:"import_row"`
					}
					if err := getJSON(contacts, idb, &prev); err != nil {
						return err
					}
					if prev.ImportID == importID {
						rep.Duplicates++
						rep.problem(rw.line, "%s repeats line %d; this row was skipped", c.Address, prev.ImportRow)
						continue
					}
				}
				_, isNew, err := s.upsertContact(tx, c, now)
				if err != nil {
					return err
				}
				if isNew {
					created++
				} else {
					rep.Updated++
				}
			}
			rep.Created += created
			return addUint(tx.Bucket(bucketMeta), keyContactCount, int64(created))
		})
		if err != nil {
			return fmt.Errorf("write contacts: %w", err)
		}
		first = false
		batch = batch[:0]
		if opts.Progress != nil {
			opts.Progress(ImportProgress{Rows: rep.Rows, BytesRead: counter.n})
		}
		return nil
	}

	// Field strings are copied out of the reused record only for rows that
	// pass validation; a batch holds at most importBatch of them.
	for {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			rep.Rows++
			rep.Invalid++
			rep.problem(pe.StartLine, "%s", csvReason(err))
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("read CSV: %w", err)
		}
		rep.Rows++
		if len(rec) != len(columns) {
			rep.Invalid++
			rep.problem(line, "has %d columns; the header has %d", len(rec), len(columns))
			continue
		}
		if _, err := NormalizeAddress(rec[addrIdx]); err != nil {
			rep.Invalid++
			if strings.TrimSpace(rec[addrIdx]) == "" {
				rep.problem(line, "the %s column is empty", columns[addrIdx])
			} else {
				rep.problem(line, "%v", err)
			}
			continue
		}
		fields := make([]string, len(rec))
		for i, v := range rec {
			fields[i] = strings.Clone(strings.TrimSpace(v))
		}
		batch = append(batch, row{line: line, fields: fields})
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return rep, err
			}
		}
	}
	if err := flush(); err != nil {
		return rep, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		detail := fmt.Sprintf("%d rows: %d created, %d updated, %d duplicates, %d invalid",
			rep.Rows, rep.Created, rep.Updated, rep.Duplicates, rep.Invalid)
		return s.audit(tx, opts.Actor, "contact.import", opts.Name, detail)
	})
	return rep, err
}

// parseHeader normalises column names and finds the address column.
func parseHeader(header []string) (columns []string, addrIdx int, err error) {
	columns = make([]string, len(header))
	seen := map[string]int{}
	for i, h := range header {
		name := columnName(h)
		if name == "" {
			return nil, 0, &ImportError{Reason: fmt.Sprintf("header column %d has no name; every column needs one", i+1)}
		}
		if j, dup := seen[name]; dup {
			return nil, 0, &ImportError{Reason: fmt.Sprintf("header columns %d and %d are both called %q", j+1, i+1, name)}
		}
		seen[name] = i
		columns[i] = name
	}
	for _, want := range addressColumns {
		if i, ok := seen[want]; ok {
			return columns, i, nil
		}
	}
	return nil, 0, &ImportError{Reason: fmt.Sprintf(
		"the header has no email, address or phone column (it has: %s); name the column that holds addresses one of those",
		strings.Join(columns, ", "))}
}

// columnName turns a header cell into a template field name: "First Name"
// becomes first_name, so templates can say {{.first_name}}.
func columnName(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.':
			b.WriteByte('_')
		}
	}
	return strings.Trim(b.String(), "_")
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe.Err, csv.ErrQuote), errors.Is(pe.Err, csv.ErrBareQuote):
			return "a quote is misplaced: quote the whole field and double quotes inside it (\"\")"
		}
		return pe.Err.Error()
	}
	return err.Error()
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

