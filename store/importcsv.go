package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"tui/internal/english"
	"tui/internal/jsonstr"
	"unicode"

	bolt "go.etcd.io/bbolt"
)

// ImportOptions tune a CSV import.
type ImportOptions struct {
	Actor string
	Name  string   // the file's name, for the audit log
	Tags  []string // added to every imported contact
	// AddressColumns, when set, names the columns that hold addresses, in
	// order of preference, and the kind of each; otherwise the columns
	// named in DefaultAddressColumns are.
	AddressColumns []AddressColumn
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
	Line   int    `json:"line"` // line in the file, counted from 1 (blank lines count)
	Reason string `json:"reason"`
}

// MaxReportedProblems bounds the problems an ImportReport keeps; the rest
// are only counted, so a million bad rows cannot exhaust memory.
const MaxReportedProblems = 1000

// ImportReport says what an import did.
type ImportReport struct {
	Rows       int          `json:"rows"`       // data rows read; blank lines and rows of empty cells are not rows
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
// most one uncommitted batch and never leaves half a contact. Larger batches
// rewrite the address index's pages fewer times (its keys arrive in random
// order); this one holds a few megabytes of rows.
const importBatch = 10000

// importBatchBytes ends a batch early when its rows are wide, so memory is
// bounded by bytes, not only by rows.
const importBatchBytes = 4 << 20

// AddressColumn is a column that holds addresses of a kind ("" for email
// or phone, told apart by the value).
type AddressColumn struct {
	Name string
	Kind AddressKind
}

// DefaultAddressColumns are the header names that hold addresses, by
// preference. The first the header has is the address column; a row whose
// cell there is empty takes its address from the next one it fills, so
// one file can hold people known by email, by phone and on Messenger.
var DefaultAddressColumns = []AddressColumn{{"email", KindEmail}, {"address", ""}, {"phone", KindPhone}, {"psid", KindPSID}}

// ParseAddressColumn reads NAME=KIND (or NAME, for a column of emails and
// phone numbers told apart by their values).
func ParseAddressColumn(s string) (AddressColumn, error) {
	name, kind, _ := strings.Cut(s, "=")
	col := AddressColumn{Name: columnName(name)}
	if col.Name == "" {
		return col, fmt.Errorf("%q names no column: use COLUMN=KIND, such as \"Messenger ID=psid\"", s)
	}
	var err error
	col.Kind, err = ParseAddressKind(kind)
	return col, err
}

// addressSource is an address column found in the header.
type addressSource struct {
	idx  int
	kind AddressKind
}

// importRow is a validated row waiting for its batch to be written.
type importRow struct {
	line    int
	address string // normalised
	kind    AddressKind
	values  []string // trimmed; the columns of the header minus the address and tags
	tags    []string // the row's own tags, from a tags column, normalised
}

// key is the row's address index key.
func (rw *importRow) key() string { return AddressKey(rw.address, rw.kind) }

// ImportCSV reads contacts from a CSV file with a header row. A column named
// email, address, phone or psid holds the address (or the columns
// opts.AddressColumns names); every other column becomes a template field (names lower-cased, spaces turned into underscores). Rows
// with an address that already exists update that contact's fields and merge
// its tags. Bad rows are reported with their line and skipped; good rows are
// imported. Memory stays bounded whatever the file's size.
//
// When ctx is cancelled or the reader fails, the rows read so far are
// written (each contact whole), the audit log says the import stopped, and
// the error is returned with a report of what was done.
func (s *Store) ImportCSV(ctx context.Context, r io.Reader, opts ImportOptions) (ImportReport, error) {
	var rep ImportReport
	counter := &countingReader{r: r}
	br := bufio.NewReaderSize(counter, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	split := newRecordSplitter(br)
	cr := csv.NewReader(split)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	header, err := cr.Read()
	if sk := split.takeSkipped(2); len(sk) > 0 {
		return rep, &ImportError{Reason: "the header row is longer than 1 MiB: this is not a CSV file, or a quote is left open"}
	}
	if errors.Is(err, io.EOF) {
		return rep, &ImportError{Reason: "the file is empty: it needs a header row with an email, address, phone or psid column"}
	}
	if err != nil {
		return rep, &ImportError{Reason: "the header row cannot be read: " + csvReason(err)}
	}
	columns, sources, err := parseHeader(header, opts.AddressColumns)
	if err != nil {
		return rep, err
	}
	addrIdx := sources[0].idx
	tagsIdx := tagsColumn(columns, sources)
	w := s.newImportWriter(columns, addrIdx, tagsIdx, opts)
	rep.Columns = w.fieldNames

	var stopErr error
	batch := make([]importRow, 0, importBatch)
	batchBytes := 0
	// The rows the splitter took out, reported in their place in the file.
	reportSkipped := func(before int) {
		for _, sk := range split.takeSkipped(before) {
			rep.Rows++
			rep.Invalid++
			if sk.toEOF {
				rep.problem(sk.line, "a quote opened in this row is never closed, so lines %d–%d (the end of the file) read as one row of %.1f MiB, more than the 1 MiB a row may be: none of them was imported. Close the quote and import the file again",
					sk.line, sk.line+sk.lines-1, float64(sk.bytes)/(1<<20))
				continue
			}
			rep.problem(sk.line, "the row is %.1f MiB long, more than the 1 MiB a row may be: it was skipped", float64(sk.bytes)/(1<<20))
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			stopErr = err
			break
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			reportSkipped(int(^uint(0) >> 1))
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			start := split.fileLine(pe.StartLine)
			reportSkipped(start)
			rep.Rows++
			rep.Invalid++
			rep.problem(start, "%s", csvReason(err))
			continue
		}
		if err != nil {
			stopErr = fmt.Errorf("read the CSV file: %w", err)
			break
		}
		line, _ := cr.FieldPos(0)
		line = split.fileLine(line)
		reportSkipped(line)
		if blankRecord(rec) {
			// Spreadsheets export empty rows as ",,,": they are blank lines.
			continue
		}
		rep.Rows++
		if len(rec) != len(columns) {
			rep.Invalid++
			rep.problem(line, "has %d %s; the header has %d", len(rec), english.Plural(len(rec), "column", "columns"), len(columns))
			continue
		}
		if col, why := badCell(rec); why != "" {
			rep.Invalid++
			rep.problem(line, "the %s column %s; the row was skipped", columns[col], why)
			continue
		}
		src, raw := sources[0], strings.TrimSpace(rec[addrIdx])
		for _, alt := range sources[1:] {
			if raw != "" {
				break
			}
			src, raw = alt, strings.TrimSpace(rec[alt.idx])
		}
		if raw == "" {
			rep.Invalid++
			rep.problem(line, "%s empty", emptyColumns(columns, sources))
			continue
		}
		addr, kind, err := NormalizeAddressKind(raw, src.kind)
		if err != nil {
			rep.Invalid++
			if len(sources) > 1 {
				rep.problem(line, "%s: %v", columns[src.idx], err)
			} else {
				rep.problem(line, "%v", err)
			}
			continue
		}
		// The record's strings are immutable and fresh for every row (only
		// the slice is reused), so the values can be kept without copying.
		values := make([]string, 0, len(rec)-1)
		size := len(addr)
		var rowTags []string
		for i, v := range rec {
			switch i {
			case addrIdx:
			case tagsIdx:
				if strings.TrimSpace(v) != "" {
					rowTags = NormalizeTags([]string{strings.ReplaceAll(v, "|", ",")})
					size += len(v)
				}
			default:
				values = append(values, strings.TrimSpace(v))
				size += len(v)
			}
		}
		batch = append(batch, importRow{line: line, address: addr, kind: kind, values: values, tags: rowTags})
		batchBytes += size
		if len(batch) == importBatch || batchBytes >= importBatchBytes {
			batchBytes = 0
			if err := w.write(batch, &rep); err != nil {
				return rep, err
			}
			clear(batch)
			batch = batch[:0]
			if opts.Progress != nil {
				opts.Progress(ImportProgress{Rows: rep.Rows, BytesRead: counter.n})
			}
		}
	}
	if err := w.write(batch, &rep); err != nil {
		return rep, err
	}
	if len(batch) > 0 && opts.Progress != nil {
		opts.Progress(ImportProgress{Rows: rep.Rows, BytesRead: counter.n})
	}
	// Duplicates are found when their batch is written, after the invalid
	// rows around them: the report lists every problem in file order.
	sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].Line < rep.Problems[j].Line })
	outcome := "finished"
	switch {
	case errors.Is(stopErr, context.Canceled), errors.Is(stopErr, context.DeadlineExceeded):
		outcome = "cancelled"
	case stopErr != nil:
		outcome = "stopped: " + stopErr.Error()
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		detail := fmt.Sprintf("%s; %d rows: %d created, %d updated, %d duplicates, %d invalid",
			outcome, rep.Rows, rep.Created, rep.Updated, rep.Duplicates, rep.Invalid)
		return s.audit(tx, opts.Actor, "contact.import", opts.Name, detail)
	})
	if stopErr != nil {
		return rep, stopErr
	}
	if err != nil {
		return rep, fmt.Errorf("write the import's audit entry: %w", err)
	}
	return rep, nil
}

// importWriter writes batches of validated rows.
type importWriter struct {
	s          *Store
	opts       ImportOptions
	tags       []string
	importID   string
	fieldNames []string // the columns minus the address, in file order
	order      []int    // indexes into fieldNames, sorted by name
	nameIdx    int      // index of the name field in fieldNames, or -1
	started    bool
	shared     contactJSON
}

func (s *Store) newImportWriter(columns []string, addrIdx, tagsIdx int, opts ImportOptions) *importWriter {
	w := &importWriter{s: s, opts: opts, tags: NormalizeTags(opts.Tags), nameIdx: -1}
	for i, c := range columns {
		if i != addrIdx && i != tagsIdx {
			w.fieldNames = append(w.fieldNames, c)
		}
	}
	for i, c := range w.fieldNames {
		w.order = append(w.order, i)
		if c == "name" {
			w.nameIdx = i
		}
	}
	sort.Slice(w.order, func(a, b int) bool { return w.fieldNames[w.order[a]] < w.fieldNames[w.order[b]] })
	for _, i := range w.order {
		w.shared.fieldKeys = append(w.shared.fieldKeys, jsonstr.Append(nil, w.fieldNames[i]))
	}
	// Unique even for two imports in the same instant: a second import of a
	// file must update its contacts, not call them duplicates.
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	w.importID = strconv.FormatInt(s.now().UnixNano(), 36) + hex.EncodeToString(rnd[:])
	w.shared.tags = appendTagsJSON(nil, w.tags)
	w.shared.importID = appendImportIDJSON(nil, w.importID)
	return w
}

// importMaxNodes caps the B-tree pages one import transaction may load. The
// address index receives its keys in random order, so once it is large each
// row touches a page of its own, and the pages a transaction holds in memory
// grow with the batch. A transaction that reaches the cap commits, and the
// rest of the batch goes into the next one; a small database never reaches
// it, and keeps the full batch's speed.
const importMaxNodes = 2000

// write stores one batch, in as few transactions as importMaxNodes allows.
func (w *importWriter) write(batch []importRow, rep *ImportReport) error {
	for len(batch) > 0 {
		n, err := w.writeTx(batch, rep)
		if err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// writeTx stores a prefix of batch in one transaction, adds its outcome to
// rep once the transaction has committed, and returns the prefix's length.
func (w *importWriter) writeTx(batch []importRow, rep *ImportReport) (int, error) {
	var created, updated, done int
	type dup struct{ line, first int }
	var dups []dup
	var dupAddrs []string
	err := w.s.db.Update(func(tx *bolt.Tx) error {
		created, updated, done, dups, dupAddrs = 0, 0, 0, dups[:0], dupAddrs[:0]
		now := w.s.now().UTC()
		if !w.started {
			detail := fmt.Sprintf("started; tags %s", strings.Join(w.tags, ","))
			if err := w.s.audit(tx, w.opts.Actor, "contact.import", w.opts.Name, detail); err != nil {
				return err
			}
		}
		contacts, addrs := tx.Bucket(bucketContacts), tx.Bucket(bucketAddresses)
		// Contact ids only grow: pack their pages full.
		contacts.FillPercent = 1
		tagBuckets := make([]*bolt.Bucket, len(w.tags))
		openTags := map[string]*bolt.Bucket{}
		for i, t := range w.tags {
			b, err := tx.Bucket(bucketTags).CreateBucketIfNotExists([]byte(t))
			if err != nil {
				return err
			}
			b.FillPercent = 1
			tagBuckets[i] = b
			openTags[t] = b
		}
		if !jsonTimeOK(now) {
			return fmt.Errorf("the clock says %v, which cannot be stored", now)
		}
		w.shared.times = appendTimesJSON(w.shared.times[:0], now, now)

		// bbolt keeps references to keys and values until the transaction
		// ends, so they are carved out of chunks that are never reused.
		var arena []byte
		carve := func(n int) []byte {
			if cap(arena)-len(arena) < n {
				arena = make([]byte, 0, max(n, 256<<10))
			}
			arena = arena[:len(arena)+n]
			return arena[len(arena)-n : len(arena) : len(arena)]
		}
		seq := contacts.Sequence()
		values := make([]string, len(w.order))
		var scratch []byte
		for ; done < len(batch); done++ {
			if done%256 == 255 {
				if st := tx.Stats(); st.GetNodeCount() > importMaxNodes {
					break
				}
			}
			rw := &batch[done]
			key := rw.key()
			if idb := addrs.Get([]byte(key)); idb != nil {
				first, err := w.merge(tx, contacts, idb, rw, now)
				if err != nil {
					return err
				}
				if first != 0 {
					dups = append(dups, dup{rw.line, first})
					dupAddrs = append(dupAddrs, key)
					continue
				}
				updated++
				continue
			}
			seq++
			idKey := carve(8)
			binary.BigEndian.PutUint64(idKey, seq)
			for j, k := range w.order {
				values[j] = rw.values[k]
			}
			name := ""
			if w.nameIdx >= 0 {
				name = rw.values[w.nameIdx]
			}
			shared, rowTagBuckets := &w.shared, tagBuckets
			if len(rw.tags) > 0 {
				// A row with its own tags carries them beside the import's.
				own := w.shared
				all := NormalizeTags(append(append([]string(nil), w.tags...), rw.tags...))
				own.tags = appendTagsJSON(nil, all)
				shared = &own
				rowTagBuckets = rowTagBuckets[:0:0]
				for _, t := range all {
					b, ok := openTags[t]
					if !ok {
						var err error
						if b, err = tx.Bucket(bucketTags).CreateBucketIfNotExists([]byte(t)); err != nil {
							return err
						}
						openTags[t] = b
					}
					rowTagBuckets = append(rowTagBuckets, b)
				}
			}
			scratch = appendNewContact(scratch[:0], shared, seq, rw.address, rw.kind, name, values, rw.line)
			rec := carve(len(scratch))
			copy(rec, scratch)
			if err := contacts.Put(idKey, rec); err != nil {
				return err
			}
			addrKey := carve(len(key))
			copy(addrKey, key)
			if err := addrs.Put(addrKey, idKey); err != nil {
				return err
			}
			for _, b := range rowTagBuckets {
				if err := b.Put(idKey, nil); err != nil {
					return err
				}
			}
			created++
		}
		if err := contacts.SetSequence(seq); err != nil {
			return err
		}
		return addUint(tx.Bucket(bucketMeta), keyContactCount, int64(created))
	})
	if err != nil {
		return 0, fmt.Errorf("write contacts: %w", err)
	}
	w.started = true
	rep.Created += created
	rep.Updated += updated
	rep.Duplicates += len(dups)
	for i, d := range dups {
		rep.problem(d.line, "%s repeats line %d; this row was skipped", dupAddrs[i], d.first)
	}
	return done, nil
}

// merge updates an existing contact with a row: fields updated, tags merged.
// A contact this import already wrote is not touched: the row repeats an
// earlier one, and merge returns that row's line.
func (w *importWriter) merge(tx *bolt.Tx, contacts *bolt.Bucket, id []byte, rw *importRow, now time.Time) (int, error) {
	raw := contacts.Get(id)
	if raw == nil {
		return 0, fmt.Errorf("contact %d is in the address index but not stored", btoi(id))
	}
	var cur Contact
	if err := decodeContact(raw, &cur); err != nil {
		return 0, fmt.Errorf("contact %d: %w", btoi(id), err)
	}
	if cur.ImportID == w.importID {
		return cur.ImportRow, nil
	}
	if cur.Fields == nil {
		cur.Fields = make(map[string]string, len(w.fieldNames))
	}
	for i, name := range w.fieldNames {
		cur.Fields[name] = rw.values[i]
	}
	if w.nameIdx >= 0 && rw.values[w.nameIdx] != "" {
		cur.Name = rw.values[w.nameIdx]
	}
	added := missing(cur.Tags, w.tags)
	if len(rw.tags) > 0 {
		added = missing(cur.Tags, NormalizeTags(append(append([]string(nil), w.tags...), rw.tags...)))
	}
	cur.Tags = NormalizeTags(append(cur.Tags, added...))
	cur.UpdatedAt, cur.ImportID, cur.ImportRow = now, w.importID, rw.line
	if err := putContact(contacts, bytes.Clone(id), &cur); err != nil {
		return 0, err
	}
	return 0, indexTags(tx, cur.ID, added, nil)
}

// badCell finds the first cell that is not text tui stores (see
// textProblem).
func badCell(rec []string) (int, string) {
	for i, v := range rec {
		if why := textProblem(v); why != "" {
			return i, why
		}
	}
	return 0, ""
}

// blankRecord reports whether every cell of a record is empty or spaces.
func blankRecord(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// parseHeader normalises column names and finds the address columns, the
// preferred first.
func parseHeader(header []string, want []AddressColumn) (columns []string, sources []addressSource, err error) {
	columns = make([]string, len(header))
	seen := map[string]int{}
	for i, h := range header {
		name := columnName(h)
		if name == "" {
			return nil, nil, &ImportError{Reason: fmt.Sprintf("header column %d has no name; every column needs one", i+1)}
		}
		if j, dup := seen[name]; dup {
			return nil, nil, &ImportError{Reason: fmt.Sprintf("header columns %d and %d are both called %q", j+1, i+1, name)}
		}
		seen[name] = i
		columns[i] = name
	}
	explicit := len(want) > 0
	if !explicit {
		want = DefaultAddressColumns
	}
	var names []string
	for _, w := range want {
		names = append(names, w.Name)
		i, ok := seen[w.Name]
		switch {
		case ok:
			sources = append(sources, addressSource{idx: i, kind: w.Kind})
		case explicit:
			return nil, nil, &ImportError{Reason: fmt.Sprintf("the header has no column %q (it has: %s)", w.Name, strings.Join(columns, ", "))}
		}
	}
	if len(sources) > 0 {
		return columns, sources, nil
	}
	if len(header) == 1 {
		for _, sep := range []struct{ char, name string }{{";", "';'"}, {"\t", "tabs"}, {"|", "'|'"}} {
			if strings.Contains(header[0], sep.char) {
				return nil, nil, &ImportError{Reason: fmt.Sprintf(
					"the header looks separated by %s, not by commas; save the file as comma-separated CSV", sep.name)}
			}
		}
	}
	return nil, nil, &ImportError{Reason: fmt.Sprintf(
		"the header has no email, address, phone or psid column (it has: %s); name the column that holds addresses one of those",
		strings.Join(columns, ", "))}
}

// tagsColumn is the index of the column that holds each row's tags (a
// header cell "tags" or "tag"), or -1. Its cells are lists of tags, the way
// the contacts list shows them, not a template field: a file exported from
// tui imports back with its tags.
func tagsColumn(columns []string, sources []addressSource) int {
	for i, c := range columns {
		if c != "tags" && c != "tag" {
			continue
		}
		taken := false
		for _, s := range sources {
			taken = taken || s.idx == i
		}
		if !taken {
			return i
		}
	}
	return -1
}

// emptyColumns says which address columns a row left empty.
func emptyColumns(columns []string, sources []addressSource) string {
	if len(sources) == 1 {
		return "the " + columns[sources[0].idx] + " column is"
	}
	names := make([]string, len(sources))
	for i, s := range sources {
		names[i] = columns[s.idx]
	}
	return "the " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " columns are all"
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

// maxRecordBytes bounds one CSV record. encoding/csv holds a whole record in
// memory, and a quote left open makes the rest of the file one record: a
// longer one is skipped (see recordSplitter).
const maxRecordBytes = 1 << 20

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
