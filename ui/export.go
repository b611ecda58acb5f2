package ui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"tui/internal/english"
	"tui/store"
)

// exportDialog asks where to write a campaign's ledger as CSV, the file
// `tui campaign export ID FILE.csv` writes: who got the message, who
// failed and why.
type exportDialog struct {
	c    *Common
	id   uint64
	name string
	cwd  string
	form *miniForm
	done bool
}

type ledgerExportedMsg struct {
	id   uint64
	name string
	path string
	n    int
	err  error
}

var unsafeFileChars = regexp.MustCompile(`[^a-z0-9]+`)

// exportFileName is the file the dialog proposes: the campaign's name and
// ID, so two campaigns of one name never share a file.
func exportFileName(name string, id uint64) string {
	slug := strings.Trim(unsafeFileChars.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(slug) > 40 {
		slug = strings.Trim(slug[:40], "-")
	}
	if slug == "" {
		slug = "campaign"
	}
	return fmt.Sprintf("%s-%d-ledger.csv", slug, id)
}

func newExportDialog(c *Common, id uint64, name, cwd string) *exportDialog {
	hint := "a new CSV file; ~ is your home directory"
	if cwd != "" {
		hint = "relative paths start in " + cwd
	}
	field := newFormField("File", "ledger.csv", hint).withPaths(cwd)
	field.input.SetValue(exportFileName(name, id))
	field.input.CursorEnd()
	d := &exportDialog{c: c, id: id, name: name, cwd: cwd}
	d.form = newMiniForm(c, fmt.Sprintf("Export the ledger of '%s' (ID %d)", name, id),
		fmt.Sprintf("One row per recipient: address, state, tries, the last error — the file `tui campaign export %d FILE.csv` writes, on the machine tui runs on.", id),
		field)
	return d
}

func (d *exportDialog) focus() tea.Cmd { return d.form.focusField(0) }

// Done reports whether the dialog wrote the file or was cancelled.
func (d *exportDialog) Done() bool { return d.done }

// Update handles a message; the dialog is done once it wrote the file or
// was cancelled.
func (d *exportDialog) Update(msg tea.Msg) tea.Cmd {
	if m, ok := msg.(ledgerExportedMsg); ok {
		if m.id != d.id || d.form.busy == "" {
			return nil
		}
		if m.err != nil {
			return d.form.fail(0, m.err.Error())
		}
		d.done = true
		return Flash(fmt.Sprintf("Wrote %s of '%s' to %s", english.Count(m.n, "recipient", "recipients"), m.name, m.path))
	}
	action, cmd := d.form.Update(msg)
	switch action {
	case formCancel:
		d.done = true
		return nil
	case formSubmit:
		raw := d.form.value(0)
		if raw == "" {
			return d.form.fail(0, "type the path of the file to write")
		}
		d.form.busy = "Writing " + raw + "…"
		return writeLedgerFile(d.c.Ctx, d.c.Store, d.id, d.name, raw, d.cwd)
	}
	return cmd
}

// writeLedgerFile writes the ledger next to the target and renames it into
// place, so a failure leaves no half file; an existing file is kept.
func writeLedgerFile(ctx context.Context, st *store.Store, id uint64, name, raw, cwd string) tea.Cmd {
	return func() tea.Msg {
		fail := func(err error) tea.Msg { return ledgerExportedMsg{id: id, name: name, err: err} }
		home, _ := os.UserHomeDir()
		path, err := resolveImportPath(raw, home, cwd)
		if err != nil {
			return fail(err)
		}
		if _, err := os.Stat(path); err == nil {
			return fail(fmt.Errorf("%s exists already: give another name, or move it away first", path))
		}
		f, err := os.CreateTemp(filepath.Dir(path), ".tui-export-*")
		if err != nil {
			return fail(fmt.Errorf("cannot write in %s: %w; choose a directory you can write to", filepath.Dir(path), unwrapPathError(err)))
		}
		defer os.Remove(f.Name())
		n, err := st.WriteLedgerCSV(ctx, f, id)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), path)
		}
		if err != nil {
			return fail(fmt.Errorf("write %s: %w", path, err))
		}
		return ledgerExportedMsg{id: id, name: name, path: path, n: n}
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// View draws the dialog box.
func (d *exportDialog) View() string {
	st := d.c.Styles
	inner := min(72, max(d.c.Width-8, 30))
	return st.Dialog.Render(d.form.View(inner))
}

// ShortHelp lists the dialog's keys.
func (d *exportDialog) ShortHelp() []key.Binding {
	return []key.Binding{d.form.keys.Enter, d.form.keys.Next, d.form.keys.Cancel}
}
