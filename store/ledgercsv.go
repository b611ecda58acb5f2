package store

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteLedgerCSV writes a campaign's ledger as CSV, one row per recipient,
// and returns how many rows it wrote. `campaign export` and the app's
// export write the same file.
// ctx stops a long export between rows.
func (s *Store) WriteLedgerCSV(ctx context.Context, w io.Writer, id uint64) (int, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"contact_id", "address", "state", "attempts", "last_error", "round", "updated_at", "possibly_twice"}); err != nil {
		return 0, err
	}
	n := 0
	err := s.ForEachLedger(id, func(le LedgerEntry) error {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		return cw.Write([]string{strconv.FormatUint(le.ContactID, 10), CSVSafe(le.Address), string(le.State),
			strconv.Itoa(le.Attempts), CSVSafe(le.LastError), strconv.Itoa(le.Round), le.UpdatedAt.UTC().Format(time.RFC3339),
			strconv.FormatBool(le.Redelivered)})
	})
	if err != nil {
		return n, err
	}
	cw.Flush()
	return n, cw.Error()
}

// CSVSafe defuses cells a spreadsheet would run as a formula.
func CSVSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
