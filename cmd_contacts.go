package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"tui/internal/english"
	"tui/internal/termsafe"
	"tui/store"
)

func contactsCmd(e *env, g *globals, args []string) error {
	if len(args) == 0 {
		return usagef("contacts needs a subcommand: import or list")
	}
	switch args[0] {
	case "help", "--help", "-help", "-h":
		return &helpRequest{command: "contacts"}
	case "import":
		return contactsImport(e, g, args[1:])
	case "list", "ls":
		return contactsList(e, g, args[1:])
	}
	return usagef("unknown contacts subcommand %q: use import or list", args[0])
}

func contactsImport(e *env, g *globals, args []string) error {
	fs := newFlagSet(e, "contacts import")
	g.register(fs)
	var tags, addrCols stringList
	fs.Var(&tags, "tag", "tag every imported contact (repeatable)")
	fs.Var(&addrCols, "address-column", "COLUMN=KIND: a column of addresses of KIND (email, phone, psid or auto), in order of preference (repeatable; default email, address, phone, psid)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("contacts import needs exactly one CSV file")
	}
	path := pos[0]
	var cols []store.AddressColumn
	for _, a := range addrCols {
		col, err := store.ParseAddressColumn(a)
		if err != nil {
			return &usageError{msg: "--address-column: " + err.Error()}
		}
		cols = append(cols, col)
	}
	// The database first: when its owner runs the command, the file is
	// the owner's to read (opened here, by this process, and passed over).
	st, err := openStore(e, g)
	if err != nil {
		return err
	}
	defer st.Close()
	f, err := e.fs().Open(path)
	if err != nil {
		return readProblem(path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if info.IsDir() {
		return fmt.Errorf("%s is a directory; give the path of a CSV file", path)
	}

	opts := store.ImportOptions{Actor: e.actor(), Name: filepath.Base(path), Tags: tags, AddressColumns: cols}
	if fd, ok := e.stderr.(*os.File); ok && term.IsTerminal(int(fd.Fd())) && !*asJSON {
		last := time.Now()
		opts.Progress = func(p store.ImportProgress) {
			if time.Since(last) < 200*time.Millisecond {
				return
			}
			last = time.Now()
			pct := 0
			if info.Size() > 0 {
				pct = int(p.BytesRead * 100 / info.Size())
			}
			fmt.Fprintf(e.stderr, "\rImporting %s… %d rows (%d%%)", filepath.Base(path), p.Rows, pct)
		}
		defer fmt.Fprint(e.stderr, "\r\033[K")
	}
	rep, err := st.ImportCSV(e.ctx, f, opts)
	var ie *store.ImportError
	if errors.As(err, &ie) {
		return fmt.Errorf("%s was not imported: %s. Nothing was changed", path, ie.Reason)
	}
	if err != nil {
		return fmt.Errorf("import %s stopped after %d rows (%d created, %d updated; those are saved): %w",
			path, rep.Rows, rep.Created, rep.Updated, err)
	}
	if *asJSON {
		if rep.Problems == nil {
			rep.Problems = []store.RowProblem{}
		}
		return writeJSON(e.stdout, rep)
	}
	fmt.Fprintf(e.stdout, "Imported %s: %s — %s created, %s updated, %s, %s invalid\n", path, english.Count(rep.Rows, "row", "rows"),
		english.Thousands(rep.Created), english.Thousands(rep.Updated), english.Count(rep.Duplicates, "duplicate", "duplicates"), english.Thousands(rep.Invalid))
	for _, p := range rep.Problems {
		fmt.Fprintf(e.stderr, "%s:%d: %s\n", path, p.Line, p.Reason)
	}
	if more := rep.Skipped() - len(rep.Problems); more > 0 {
		fmt.Fprintf(e.stderr, "… and %d more rows skipped (only the first %d are listed)\n", more, store.MaxReportedProblems)
	}
	return nil
}

// contactJSON is the stable --json shape of a contact (see README).
type contactJSON struct {
	ID        uint64            `json:"id"`
	Address   string            `json:"address"`
	Kind      store.AddressKind `json:"kind"`
	Name      string            `json:"name"`
	Fields    map[string]string `json:"fields"`
	Tags      []string          `json:"tags"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

func contactsList(e *env, g *globals, args []string) error {
	defer noticeInterrupt(e)()
	fs := newFlagSet(e, "contacts list")
	g.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("contacts list takes no arguments (got %q)", pos[0])
	}
	st, err := openStore(e, g)
	if err != nil {
		return err
	}
	defer st.Close()
	// A million contacts are a million lines: written through one buffer,
	// not a write per line.
	out := bufio.NewWriterSize(e.stdout, 64<<10)
	if *asJSON {
		if err := streamContactsJSON(e.ctx, out, st); err != nil {
			return err
		}
		return out.Flush()
	}
	counts, err := st.Counts()
	if err != nil {
		return err
	}
	if counts.Contacts == 0 {
		fmt.Fprintln(e.stderr, "No contacts yet. Import some with: tui contacts import FILE.csv [--tag TAG]")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tKIND\tNAME\tTAGS\tFIELDS")
	n := 0
	err = st.ForEachContact(func(c store.Contact) error {
		if n++; n%contactsPerBlock == 0 {
			// The table is aligned by blocks, so that a long list streams
			// in bounded memory, and a signal stops it.
			if err := e.ctx.Err(); err != nil {
				return err
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		_, err := fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.ID, termsafe.Line(c.Address), c.Kind, oneLine(c.Name, 30),
			termsafe.Line(strings.Join(c.Tags, ",")), fieldSummary(c.Fields, 60))
		return err
	})
	if err == nil {
		err = tw.Flush()
	}
	if err == nil {
		err = out.Flush()
	}
	return err
}

// contactsPerBlock is how many rows of `contacts list` are aligned together.
const contactsPerBlock = 5000

func fieldSummary(fields map[string]string, max int) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if k != "name" && k != "email" && k != "address" && k != "phone" && k != "psid" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + fields[k]
	}
	return oneLine(strings.Join(parts, " "), max)
}

// streamContactsJSON writes a JSON array one contact at a time, so a million
// contacts never sit in memory at once.
func streamContactsJSON(ctx context.Context, w io.Writer, st *store.Store) error {
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	first, n := true, 0
	err := st.ForEachContact(func(c store.Contact) error {
		if n++; n%contactsPerBlock == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		out := contactJSON{ID: c.ID, Address: c.Address, Kind: c.Kind, Name: c.Name, Fields: c.Fields, Tags: c.Tags,
			CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
		if out.Fields == nil {
			out.Fields = map[string]string{}
		}
		if out.Tags == nil {
			out.Tags = []string{}
		}
		data, err := json.Marshal(out)
		if err != nil {
			return err
		}
		data = termsafe.JSON(data)
		sep := ",\n  "
		if first {
			sep, first = "\n  ", false
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	end := "\n]\n"
	if first {
		end = "]\n"
	}
	_, err = io.WriteString(w, end)
	return err
}
