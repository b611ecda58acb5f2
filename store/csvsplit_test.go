package store

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// csvTrace is what encoding/csv makes of a file: each record or error with
// the lines it reports.
func csvTrace(r io.Reader, fileLine func(int) int) []string {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	var out []string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			out = append(out, fmt.Sprintf("error %v at line %d (record from %d)", pe.Err, fileLine(pe.Line), fileLine(pe.StartLine)))
			continue
		}
		if err != nil {
			return append(out, "read error "+err.Error())
		}
		line, col := cr.FieldPos(0)
		out = append(out, fmt.Sprintf("%q at line %d col %d", rec, fileLine(line), col))
	}
}

// FuzzRecordSplitterIsInvisible: for files whose records are all under
// the limit, encoding/csv reads the same records, errors and lines through
// the splitter as from the file itself.
func FuzzRecordSplitterIsInvisible(f *testing.F) {
	for _, tc := range importCases {
		f.Add(tc.csv)
	}
	for _, s := range []string{
		"a,b\n\"x\"\"y\",z\n", "a,\"b\nc\"\n", "a,b\"c\nd,e\n", "\"a\"b,c\nd\n", "\"a\"\r\nb\r\n",
		"a,\"b\"\r\nc", "\"open\nquote\n", "a\r\rb\n", "\n\n,\n", "x,\"\"\"\",y\n", "\"a\"\rb\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		direct := csvTrace(strings.NewReader(data), func(l int) int { return l })
		sp := newRecordSplitter(bufio.NewReader(strings.NewReader(data)))
		through := csvTrace(sp, sp.fileLine)
		if strings.Join(direct, "\n") != strings.Join(through, "\n") {
			t.Fatalf("file %q\nencoding/csv alone:\n%s\nthrough the splitter:\n%s", data, strings.Join(direct, "\n"), strings.Join(through, "\n"))
		}
		if len(sp.skipped) > 0 {
			t.Fatalf("took out %+v from a small file", sp.skipped)
		}
	})
}
