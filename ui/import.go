package ui

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"tui/internal/english"
	"tui/store"
)

// importer is the CSV import inside the contacts screen: a form for the
// path and tags, then the import running in a command with a spinner and a
// counter, then its report. The contacts screen owns it and drops it when
// it is closed.
type importer struct {
	c             *Common
	cwd           string
	keys          ImportKeyMap
	width, height int

	stage importStage
	form  *miniForm
	spin  spinner.Model

	// run identifies the current open or import; answers of earlier ones
	// are dropped. runs counts across every importer of the screen, so an
	// answer for a closed importer never matches a new one.
	run        int
	runs       *int
	cancel     context.CancelFunc
	cancelling bool
	name       string
	size       int64
	tags       []string
	columns    []store.AddressColumn
	progress   store.ImportProgress

	report  store.ImportReport
	stopped string // why the import stopped before the end, when it did
	scroll  int
	closed  bool
}

type importStage int

const (
	importForm importStage = iota
	importRunning
	importReport
)

type (
	importOpenedMsg struct {
		run  int
		file *os.File
		path string
		size int64
		err  error
	}
	importProgressMsg struct {
		run      int
		progress store.ImportProgress
		ch       <-chan store.ImportProgress
	}
	importDoneMsg struct {
		run    int
		report store.ImportReport
		err    error
	}
)

func newImporter(c *Common, runs *int, cwd string, knownTags []string) *importer {
	hint := "a CSV file; ~ is your home directory"
	if cwd != "" {
		hint = "relative paths start in " + cwd
	}
	m := &importer{
		c:    c,
		runs: runs,
		cwd:  cwd,
		keys: DefaultImportKeyMap(),
		spin: spinner.New(spinner.WithSpinner(spinner.Dot), spinner.WithStyle(lipgloss.NewStyle().Foreground(c.Styles.Accent))),
	}
	m.form = newMiniForm(c, "Import contacts from a CSV file",
		"A header row; an email, address, phone or psid column; every other column\n"+
			"becomes a template field like {{.city}}. A known address updates it.",
		newFormField("File", "contacts.csv or ~/Downloads/contacts.csv", hint).withPaths(cwd),
		newFormField("Tags", "optional: spring, newsletter", "added to every imported contact · tab completes").withTags(knownTags),
		newFormField("Columns", "optional: Messenger ID=psid, Mobile=phone", "address columns named otherwise, with their kind: email, phone or psid").withCheck(checkAddressColumns),
	)
	m.form.optionalFrom = 2 // enter on Tags imports, as before Columns existed
	return m
}

func (m *importer) focus() tea.Cmd { return m.form.focusField(0) }

func (m *importer) setSize(w, h int) { m.width, m.height = w, h }

// capturing is true while letters belong to the form, and while an import
// runs, so that esc reaches it and nothing else starts meanwhile.
func (m *importer) capturing() bool { return m.stage != importReport }

// Update handles one message for the import.
func (m *importer) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case importOpenedMsg:
		if msg.run != m.run || m.stage != importForm || m.form.busy == "" {
			return closeUnusedImport(msg)
		}
		if msg.err != nil {
			return m.form.fail(0, msg.err.Error())
		}
		return m.start(msg)
	case importProgressMsg:
		if msg.run != m.run || m.stage != importRunning {
			return nil
		}
		m.progress = msg.progress
		return waitImportProgress(msg.run, msg.ch)
	case importDoneMsg:
		if msg.run != m.run {
			return nil
		}
		return m.finish(msg)
	case spinner.TickMsg:
		if m.stage != importRunning {
			return nil
		}
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return cmd
	}
	switch m.stage {
	case importForm:
		return m.updateForm(msg)
	case importRunning:
		if k, ok := msg.(tea.KeyPressMsg); ok && key.Matches(k, m.keys.Cancel) && m.cancel != nil {
			m.cancelling = true
			m.cancel()
		}
	case importReport:
		if k, ok := msg.(tea.KeyPressMsg); ok {
			m.updateReport(k)
		}
	}
	return nil
}

func (m *importer) updateForm(msg tea.Msg) tea.Cmd {
	action, cmd := m.form.Update(msg)
	switch action {
	case formCancel:
		m.run = m.nextRun() // a file still being opened is closed when its answer comes
		m.closed = true
		return nil
	case formSubmit:
		raw := m.form.fields[0].input.Value()
		if strings.TrimSpace(raw) == "" {
			return m.form.fail(0, "type the path of a CSV file")
		}
		m.tags = store.NormalizeTags([]string{m.form.value(1)})
		cols, err := parseAddressColumns(m.form.value(2))
		if err != nil {
			return m.form.fail(2, err.Error())
		}
		m.columns = cols
		m.form.err = ""
		m.form.busy = "Opening " + strings.TrimSpace(raw) + "…"
		m.run = m.nextRun()
		return openImportFile(m.run, raw, m.cwd)
	}
	return cmd
}

func (m *importer) nextRun() int {
	*m.runs++
	return *m.runs
}

// openImportFile resolves and opens the file in a command: a bad path
// comes back as an error for the path field, and nothing is read.
func openImportFile(run int, raw, cwd string) tea.Cmd {
	return func() tea.Msg {
		home, _ := os.UserHomeDir()
		path, err := resolveImportPath(raw, home, cwd)
		if err != nil {
			return importOpenedMsg{run: run, err: err}
		}
		f, err := os.Open(path)
		if err != nil {
			return importOpenedMsg{run: run, err: describeOpenError(raw, path, cwd, err)}
		}
		info, err := f.Stat()
		if err == nil && info.IsDir() {
			err = fmt.Errorf("%s is a directory: give the path of a CSV file in it", path)
		}
		if err != nil {
			f.Close()
			return importOpenedMsg{run: run, err: err}
		}
		return importOpenedMsg{run: run, file: f, path: path, size: info.Size()}
	}
}

// closeUnusedImport closes a file that was opened for an import that has
// been cancelled since.
func closeUnusedImport(msg tea.Msg) tea.Cmd {
	if m, ok := msg.(importOpenedMsg); ok && m.file != nil {
		f := m.file
		return func() tea.Msg { f.Close(); return nil }
	}
	return nil
}

// resolveImportPath turns what was typed into an absolute path: surrounding
// quotes (from a pasted path) go, ~ is the home directory, and a relative
// path starts in cwd.
func resolveImportPath(raw, home, cwd string) (string, error) {
	p := strings.TrimSpace(raw)
	if len(p) >= 2 && (p[0] == '"' || p[0] == '\'') && p[len(p)-1] == p[0] {
		p = p[1 : len(p)-1]
	}
	if p == "" {
		return "", errors.New("type the path of a CSV file")
	}
	if p == "~" || strings.HasPrefix(p, "~/") || strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		if home == "" {
			return "", errors.New("~ cannot be expanded: there is no home directory; give the full path")
		}
		p = filepath.Join(home, p[1:])
	} else if strings.HasPrefix(p, "~") {
		return "", fmt.Errorf("%s: only ~ for your own home directory is understood; give the full path", p)
	}
	if !filepath.IsAbs(p) {
		if cwd == "" {
			return "", fmt.Errorf("%s is relative and the working directory is unknown; give the full path", p)
		}
		p = filepath.Join(cwd, p)
	}
	return filepath.Clean(p), nil
}

func describeOpenError(raw, path, cwd string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !filepath.IsAbs(strings.TrimSpace(raw)) && !strings.HasPrefix(strings.TrimSpace(raw), "~") {
			return fmt.Errorf("no file %s in %s, where relative paths start; check the path", strings.TrimSpace(raw), cwd)
		}
		return fmt.Errorf("no file at %s; check the path", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s cannot be read: permission denied; check its mode or copy it somewhere readable", path)
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// start runs the import in a command. Progress arrives through a channel
// that holds only the newest figures, read by a command that re-arms
// itself, so a slow screen never slows the import down.
func (m *importer) start(msg importOpenedMsg) tea.Cmd {
	ctx, cancel := context.WithCancel(context.Background())
	m.stage, m.cancel, m.cancelling = importRunning, cancel, false
	m.name, m.size, m.progress = filepath.Base(msg.path), msg.size, store.ImportProgress{}
	m.form.busy = ""
	ch := make(chan store.ImportProgress, 1)
	st, actor, name, tags, cols, run, f := m.c.Store, m.c.Actor, m.name, m.tags, m.columns, m.run, msg.file
	work := func() tea.Msg {
		defer cancel()
		defer f.Close()
		defer close(ch)
		rep, err := st.ImportCSV(ctx, f, store.ImportOptions{
			Actor: actor, Name: name, Tags: tags, AddressColumns: cols,
			Progress: func(p store.ImportProgress) { offerLatest(ch, p) },
		})
		return importDoneMsg{run: run, report: rep, err: err}
	}
	return tea.Batch(work, waitImportProgress(run, ch), m.spin.Tick)
}

// offerLatest puts p in a one-slot channel, replacing figures the screen
// has not read yet: progress of an import or of a send's queueing.
func offerLatest[T any](ch chan T, p T) {
	for {
		select {
		case ch <- p:
			return
		default:
			select {
			case <-ch:
			default:
			}
		}
	}
}

func waitImportProgress(run int, ch <-chan store.ImportProgress) tea.Cmd {
	return func() tea.Msg {
		p, ok := <-ch
		if !ok {
			return nil
		}
		return importProgressMsg{run: run, progress: p, ch: ch}
	}
}

func (m *importer) finish(msg importDoneMsg) tea.Cmd {
	m.cancel, m.cancelling = nil, false
	var ie *store.ImportError
	switch {
	case errors.As(msg.err, &ie):
		m.stage = importForm
		m.form.err = "Cannot import " + m.name + ": " + ie.Reason + ". Nothing was changed."
		return tea.Batch(m.form.focusField(0), ReportError(fmt.Errorf("import %s: %w; nothing was changed", m.name, msg.err)))
	case errors.Is(msg.err, context.Canceled):
		m.stage, m.report, m.scroll = importReport, msg.report, 0
		m.stopped = fmt.Sprintf("Cancelled after %s: the rows read before esc were saved.", english.Count(msg.report.Rows, "row", "rows"))
		return tea.Batch(
			Flash(fmt.Sprintf("Import of %s cancelled: %d created, %d updated", m.name, msg.report.Created, msg.report.Updated)),
			DataChanged(ContactData))
	case msg.err != nil:
		m.stage, m.report, m.scroll = importReport, msg.report, 0
		m.stopped = fmt.Sprintf("Stopped after %s: %v. The rows before it were saved; fix the cause and import the file again (known addresses are updated, not doubled).",
			english.Count(msg.report.Rows, "row", "rows"), msg.err)
		return tea.Batch(ReportError(fmt.Errorf("import %s: %w", m.name, msg.err)), DataChanged(ContactData))
	}
	m.stage, m.report, m.scroll, m.stopped = importReport, msg.report, 0, ""
	r := msg.report
	flash := fmt.Sprintf("Imported %s: %s created, %s updated", m.name, english.Thousands(r.Created), english.Thousands(r.Updated))
	if r.Skipped() > 0 {
		flash += ", " + english.Thousands(r.Skipped()) + " skipped"
	}
	return tea.Batch(Flash(flash), DataChanged(ContactData))
}

// problemRows is how many problem lines fit in the report, under its head
// and above the "more not listed" note and the scroll hint.
func (m *importer) problemRows() int {
	room := m.height - len(m.reportHead()) - 1
	if m.report.Skipped() > len(m.report.Problems) {
		room--
	}
	return max(room, 1)
}

func (m *importer) updateReport(k tea.KeyPressMsg) {
	n := len(m.report.Problems)
	page := m.problemRows()
	switch {
	case key.Matches(k, m.keys.Close):
		m.closed = true
	case key.Matches(k, m.keys.Up):
		m.scroll--
	case key.Matches(k, m.keys.Down):
		m.scroll++
	case key.Matches(k, m.keys.PageUp):
		m.scroll -= page
	case key.Matches(k, m.keys.PageDown):
		m.scroll += page
	case key.Matches(k, m.keys.Top):
		m.scroll = 0
	case key.Matches(k, m.keys.Bottom):
		m.scroll = n
	}
	m.scroll = max(min(m.scroll, n-page), 0)
}

// ShortHelp lists the keys of the current stage.
func (m *importer) ShortHelp() []key.Binding {
	switch m.stage {
	case importForm:
		return m.form.ShortHelp()
	case importRunning:
		return []key.Binding{m.keys.Cancel}
	}
	return []key.Binding{m.keys.Close, m.keys.Down, m.keys.PageDown}
}

// View renders the current stage.
func (m *importer) View() string {
	switch m.stage {
	case importForm:
		return m.form.View(min(m.width, 100))
	case importRunning:
		return m.runningView()
	}
	return m.reportView()
}

func (m *importer) runningView() string {
	st := m.c.Styles
	line := m.spin.View() + " Importing " + m.name + "… " + english.Count(m.progress.Rows, "row", "rows")
	if m.size > 0 {
		pct := min(int(m.progress.BytesRead*100/m.size), 100)
		line += fmt.Sprintf(" (%d%%)", pct)
	}
	hint := "esc stops the import; the rows read so far are saved"
	if m.cancelling {
		hint = "Cancelling… saving the rows read so far"
	}
	return strings.Join([]string{st.Title.Render("Import contacts"), "", line, "", st.Dim.Render(hint)}, "\n")
}

func (m *importer) reportHead() []string {
	st := m.c.Styles
	r := m.report
	title := st.Success.Render("✓") + " " + st.Title.Render("Imported "+m.name)
	if m.stopped != "" {
		title = st.Error.Render("✗") + " " + st.Title.Render("Import of "+m.name+" did not finish")
	}
	lines := []string{title}
	if m.stopped != "" {
		lines = append(lines, st.Error.Render(m.stopped))
	}
	lines = append(lines, fmt.Sprintf("%s read: %s created · %s updated · %s · %s",
		english.Count(r.Rows, "row", "rows"), english.Thousands(r.Created), english.Thousands(r.Updated),
		english.Count(r.Duplicates, "duplicate", "duplicates"), english.Thousands(r.Invalid)+" invalid"))
	if len(m.tags) > 0 {
		lines = append(lines, st.Dim.Render("Tagged "+strings.Join(m.tags, ", ")))
	}
	if len(r.Columns) > 0 {
		fields := make([]string, len(r.Columns))
		for i, c := range r.Columns {
			fields[i] = "{{." + c + "}}"
		}
		lines = append(lines, st.Dim.Render("Template fields: "+strings.Join(fields, " ")))
	}
	lines = append(lines, "")
	if r.Skipped() == 0 {
		lines = append(lines, st.Success.Render("No problems: every row was imported."))
	} else {
		lines = append(lines, st.Header.Render(fmt.Sprintf("Problems — %s not imported", english.Count(r.Skipped(), "row", "rows"))))
	}
	return lines
}

func (m *importer) reportView() string {
	st := m.c.Styles
	r := m.report
	lines := m.reportHead()
	room := m.problemRows()
	more := r.Skipped() - len(r.Problems)
	lineW := 0
	for _, p := range r.Problems {
		lineW = max(lineW, len(english.Thousands(p.Line)))
	}
	end := min(m.scroll+room, len(r.Problems))
	for _, p := range r.Problems[min(m.scroll, end):end] {
		lines = append(lines, "  "+st.Label.Render("line "+fmt.Sprintf("%*s", lineW, english.Thousands(p.Line)))+"  "+p.Reason)
	}
	if more > 0 {
		lines = append(lines, st.Dim.Render(fmt.Sprintf("  … and %s more not listed: a report keeps the first %s",
			english.Thousands(more), english.Thousands(store.MaxReportedProblems))))
	}
	if len(r.Problems) > room {
		lines = append(lines, st.Dim.Render(fmt.Sprintf("problems %s–%s of %s · j/k scroll · esc back",
			english.Thousands(m.scroll+1), english.Thousands(end), english.Thousands(len(r.Problems)))))
	} else {
		lines = append(lines, st.Dim.Render("esc or enter: back to the contacts"))
	}
	return strings.Join(lines, "\n")
}

// parseAddressColumns reads the Columns field: COLUMN=KIND, comma-separated.
func parseAddressColumns(v string) ([]store.AddressColumn, error) {
	var cols []store.AddressColumn
	for _, part := range strings.Split(v, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		col, err := store.ParseAddressColumn(part)
		if err != nil {
			return nil, err
		}
		cols = append(cols, col)
	}
	return cols, nil
}

// checkAddressColumns is the Columns field's check.
func checkAddressColumns(v string) string {
	if _, err := parseAddressColumns(v); err != nil {
		return err.Error()
	}
	return ""
}
