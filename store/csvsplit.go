package store

import (
	"bufio"
	"bytes"
	"io"
)

// recordSplitter passes a CSV file to encoding/csv record by record, and
// takes out every record longer than maxRecordBytes: encoding/csv holds a
// whole record in memory, so one huge row (or a quote left open, which
// makes the rest of the file one record) would exhaust it; and once the
// reader has failed on a row it cannot go on to the next. The splitter
// finds where records end with the same rules as encoding/csv (a quote
// opens a quoted field only at the start of a field; "" inside one is a
// quote; a stray quote ends the record at the end of its line), so the
// two agree on every record, and the import can report the long one by its
// line and carry on.
type recordSplitter struct {
	r   *bufio.Reader
	rec []byte // the record being read, up to maxRecordBytes
	out []byte // whole records ready to be read
	// state of the record being read
	state        splitState
	recLines     int  // line ends inside the record so far
	tooLong      bool // the record passed maxRecordBytes: it is being skipped
	tooLongBytes int
	eof          bool

	lineIn  int // lines of the file consumed, before the current record
	lineOut int // lines passed on to encoding/csv
	// skipped holds the records taken out, in file order, until the import
	// reports them.
	skipped []skippedRecord
	// shifts maps the lines encoding/csv counts back to the file's.
	shifts []lineShift
}

type skippedRecord struct {
	line  int // the file's line where the record starts
	lines int // how many lines it spans
	bytes int
	toEOF bool // it never ended: a quote left open swallowed the rest
}

// lineShift: from encoding/csv's line after, the file's lines are by more.
type lineShift struct{ after, by int }

type splitState uint8

const (
	fieldStart splitState = iota
	unquoted
	quoted
	quoteInQuoted // a quote inside a quoted field: its end, or the first of ""
	quoteThenCR
	badToEOL // a stray quote: encoding/csv fails the record at its line's end
)

func newRecordSplitter(r *bufio.Reader) *recordSplitter {
	return &recordSplitter{r: r}
}

func (s *recordSplitter) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.eof {
			return 0, io.EOF
		}
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// fill scans on until some whole records are ready (or the file ends). It
// works on bufio's buffer in place, and leaps over the bytes that cannot
// change the state (most of a field) with bytes.IndexAny and IndexByte.
func (s *recordSplitter) fill() error {
	s.out = s.out[:0]
	for len(s.out) < 32<<10 && !s.eof {
		if s.r.Buffered() == 0 {
			if len(s.out) > 0 {
				// Pass on what is whole before waiting for more: the file
				// may be a pipe that is still being written.
				return nil
			}
			if _, err := s.r.Peek(1); err == io.EOF {
				s.eof = true
				s.endRecord()
				break
			} else if err != nil {
				return err
			}
		}
		buf, _ := s.r.Peek(s.r.Buffered())
		n := s.scan(buf)
		_, _ = s.r.Discard(n)
	}
	return nil
}

// scan runs over buf up to the end of a record, or all of it, keeps the
// record's bytes, and returns how many bytes it used.
func (s *recordSplitter) scan(buf []byte) int {
	i := 0
	for i < len(buf) {
		var j int
		switch s.state {
		case unquoted:
			j = bytes.IndexAny(buf[i:], ",\n\"")
		case badToEOL:
			j = bytes.IndexByte(buf[i:], '\n')
		case quoted:
			j = bytes.IndexByte(buf[i:], '"')
			end := len(buf)
			if j >= 0 {
				end = i + j
			}
			s.recLines += bytes.Count(buf[i:end], newline)
		}
		if j < 0 {
			break
		}
		i += j
		b := buf[i]
		i++
		if b == '\n' {
			s.recLines++
		}
		if s.step(b) {
			s.keep(buf[:i])
			s.endRecord()
			return i
		}
	}
	s.keep(buf)
	return len(buf)
}

var newline = []byte{'\n'}

// keep adds p to the record being read, unless the record is too long.
func (s *recordSplitter) keep(p []byte) {
	if s.tooLong {
		s.tooLongBytes += len(p)
		return
	}
	if len(s.rec)+len(p) > maxRecordBytes {
		s.tooLong, s.tooLongBytes = true, len(s.rec)+len(p)
		s.rec = s.rec[:0]
		return
	}
	s.rec = append(s.rec, p...)
}

// step moves the state machine over b and reports whether b ends a record.
func (s *recordSplitter) step(b byte) bool {
	switch s.state {
	case fieldStart:
		switch b {
		case '"':
			s.state = quoted
		case ',':
		case '\n':
			return true
		default:
			s.state = unquoted
		}
	case unquoted:
		switch b {
		case ',':
			s.state = fieldStart
		case '\n':
			return true
		case '"':
			s.state = badToEOL
		}
	case quoted:
		if b == '"' {
			s.state = quoteInQuoted
		}
	case quoteInQuoted:
		switch b {
		case '"':
			s.state = quoted
		case ',':
			s.state = fieldStart
		case '\n':
			return true
		case '\r':
			s.state = quoteThenCR
		default:
			s.state = badToEOL
		}
	case quoteThenCR:
		if b == '\n' {
			return true
		}
		s.state = badToEOL
	case badToEOL:
		if b == '\n' {
			return true
		}
	}
	return false
}

// endRecord passes the record on, or takes it out when it was too long.
func (s *recordSplitter) endRecord() {
	lines := s.recLines
	if s.eof && len(s.rec) > 0 && s.rec[len(s.rec)-1] != '\n' {
		lines++ // a last line without its line end
	}
	if s.tooLong {
		s.skipped = append(s.skipped, skippedRecord{line: s.lineIn + 1, lines: lines, bytes: s.tooLongBytes,
			toEOF: s.eof && s.state == quoted})
		s.shifts = append(s.shifts, lineShift{after: s.lineOut, by: s.shift() + s.recLines})
	} else {
		s.out = append(s.out, s.rec...)
		s.lineOut += s.recLines
	}
	s.lineIn += lines
	s.rec, s.recLines, s.tooLong, s.tooLongBytes, s.state = s.rec[:0], 0, false, 0, fieldStart
}

func (s *recordSplitter) shift() int {
	if len(s.shifts) == 0 {
		return 0
	}
	return s.shifts[len(s.shifts)-1].by
}

// fileLine turns a line encoding/csv counts into the file's line.
func (s *recordSplitter) fileLine(csvLine int) int {
	by := 0
	for _, sh := range s.shifts {
		if csvLine > sh.after {
			by = sh.by
		} else {
			break
		}
	}
	return csvLine + by
}

// takeSkipped returns the records taken out before the file's line
// before, in order, and forgets them.
func (s *recordSplitter) takeSkipped(before int) []skippedRecord {
	n := 0
	for n < len(s.skipped) && s.skipped[n].line < before {
		n++
	}
	out := s.skipped[:n:n]
	s.skipped = s.skipped[n:]
	return out
}
