package ui

import (
	"bytes"
	"encoding/base64"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/charmbracelet/x/vt"

	"tui/queue"
	"tui/store"
)

// The screen-test harness: a real App in a real tea.Program (teatest v2),
// whose output goes through a real terminal emulator (x/vt), so tests read
// what a person would see.

// waitDeadline bounds every wait. It is generous because tests run with
// -race on a loaded two-core machine; a passing wait returns as soon as the
// screen shows what it waits for.
const waitDeadline = 10 * time.Second

// pollEvery is how often the harness looks for new output or re-reads the
// screen while waiting for a condition.
const pollEvery = 2 * time.Millisecond

type testScreen struct {
	t   *testing.T
	tm  *teatest.TestModel
	app *App

	mu  sync.Mutex // guards emu and lastCR
	emu *vt.Emulator
	// lastCR remembers whether the previous chunk ended in \r so a \r\n
	// split across two reads is not doubled.
	lastCR bool
	// osc52 holds the tail of the raw output, for what the emulator does
	// not keep: the clipboard writes (OSC 52) the program sent.
	osc52 []byte
	// raw is everything the program wrote (up to 64 MiB), for tests that
	// read the bytes a terminal received.
	raw []byte

	stop     chan struct{}
	copied   chan struct{}
	quitOnce sync.Once
}

// newTestStore opens a fresh database in the test's temporary directory.
func newTestStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "tui.db"))
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// startApp runs a fresh App on st in a w×h terminal. The program is ended
// by t.Cleanup if the test does not call quit.
func startApp(t *testing.T, st *store.Store, w, h int) *testScreen {
	t.Helper()
	c := NewCommon(st, "tester", queue.IdleStatus(queue.DefaultURL))
	app := NewApp(c)
	s := &testScreen{
		t:      t,
		app:    app,
		emu:    vt.NewEmulator(w, h),
		stop:   make(chan struct{}),
		copied: make(chan struct{}),
	}
	// The emulator answers queries (cursor position, colours) into a pipe;
	// nobody types through it here, but unread replies would block Write.
	go func() { _, _ = io.Copy(io.Discard, s.emu) }()
	s.tm = teatest.NewTestModel(t, app, teatest.WithInitialTermSize(w, h))
	go s.copyOutput()
	t.Cleanup(s.quit)
	return s
}

// copyOutput feeds everything the program writes into the emulator. The
// TestModel's output is a buffer that reads as empty rather than blocking,
// so the loop polls it.
func (s *testScreen) copyOutput() {
	defer close(s.copied)
	buf := make([]byte, 64*1024)
	out := s.tm.Output()
	for {
		n, _ := out.Read(buf)
		if n > 0 {
			s.write(buf[:n])
			continue
		}
		select {
		case <-s.stop:
			// One last read: the program may have written before it ended.
			for {
				n, _ := out.Read(buf)
				if n == 0 {
					return
				}
				s.write(buf[:n])
			}
		case <-time.After(pollEvery):
		}
	}
}

// write passes output to the emulator with lone \n turned into \r\n: the
// program believes a tty driver does that translation.
func (s *testScreen) write(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv := make([]byte, 0, len(p)+len(p)/8)
	prevCR := s.lastCR
	for _, b := range p {
		if b == '\n' && !prevCR {
			conv = append(conv, '\r')
		}
		conv = append(conv, b)
		prevCR = b == '\r'
	}
	s.lastCR = prevCR
	_, _ = s.emu.Write(conv)
	s.osc52 = append(s.osc52, p...)
	if len(s.raw) < 64<<20 {
		s.raw = append(s.raw, p...)
	}
	if len(s.osc52) > 1<<20 {
		// Only the recent output matters to a test waiting for a copy.
		s.osc52 = append(s.osc52[:0], s.osc52[len(s.osc52)-64<<10:]...)
	}
}

// rawOutput is a copy of every byte the program wrote so far.
func (s *testScreen) rawOutput() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.raw...)
}

// waitClipboard waits until the program has put text on the terminal's
// clipboard with OSC 52.
func (s *testScreen) waitClipboard(text string) {
	s.t.Helper()
	want := []byte("\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(text)))
	deadline := time.Now().Add(waitDeadline)
	for {
		s.mu.Lock()
		ok := bytes.Contains(s.osc52, want)
		got := string(s.osc52)
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %q on the clipboard; the clipboard writes seen: %q", text, got)
		}
		time.Sleep(pollEvery)
	}
}

// keyNames maps the names tests use to key codes.
var keyNames = map[string]rune{
	"enter":     tea.KeyEnter,
	"esc":       tea.KeyEscape,
	"escape":    tea.KeyEscape,
	"tab":       tea.KeyTab,
	"backspace": tea.KeyBackspace,
	"delete":    tea.KeyDelete,
	"up":        tea.KeyUp,
	"down":      tea.KeyDown,
	"left":      tea.KeyLeft,
	"right":     tea.KeyRight,
	"home":      tea.KeyHome,
	"end":       tea.KeyEnd,
	"pgup":      tea.KeyPgUp,
	"pgdown":    tea.KeyPgDown,
	"space":     tea.KeySpace,
	"f1":        tea.KeyF1,
}

// parseKey turns "ctrl+s", "shift+tab", "enter", "G" or "?" into the message
// a terminal would produce.
func parseKey(t *testing.T, name string) tea.KeyPressMsg {
	t.Helper()
	var mod tea.KeyMod
	rest := name
	for {
		prefix, tail, ok := strings.Cut(rest, "+")
		if !ok || tail == "" {
			break
		}
		switch prefix {
		case "ctrl":
			mod |= tea.ModCtrl
		case "alt":
			mod |= tea.ModAlt
		case "shift":
			mod |= tea.ModShift
		default:
			t.Fatalf("press(%q): unknown modifier %q", name, prefix)
		}
		rest = tail
	}
	if code, ok := keyNames[rest]; ok {
		k := tea.KeyPressMsg{Code: code, Mod: mod}
		if code == tea.KeySpace && mod == 0 {
			k.Text = " "
		}
		return k
	}
	r, size := utf8.DecodeRuneInString(rest)
	if size != len(rest) || r == utf8.RuneError {
		t.Fatalf("press(%q): unknown key", name)
	}
	k := tea.KeyPressMsg{Code: r, Mod: mod}
	if mod&(tea.ModCtrl|tea.ModAlt) == 0 {
		k.Text = string(r)
	}
	return k
}

// press sends keys one by one, by name: "n", "enter", "ctrl+s", "shift+tab".
func (s *testScreen) press(keys ...string) {
	s.t.Helper()
	for _, k := range keys {
		s.tm.Send(parseKey(s.t, k))
	}
}

// typeText types text one rune at a time; "\n" presses enter.
func (s *testScreen) typeText(text string) {
	s.t.Helper()
	for _, r := range text {
		if r == '\n' {
			s.tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
			continue
		}
		s.tm.Send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// screen returns the emulated screen as plain text, each line right-trimmed.
func (s *testScreen) screen() string {
	s.mu.Lock()
	raw := s.emu.String()
	s.mu.Unlock()
	lines := strings.Split(raw, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \r")
	}
	return strings.Join(lines, "\n")
}

// waitUntil polls the screen until cond holds, failing with the screen on
// timeout.
func (s *testScreen) waitUntil(what string, cond func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		scr := s.screen()
		if cond(scr) {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %s waiting for %s; the screen shows:\n%s", waitDeadline, what, frame(scr))
		}
		time.Sleep(pollEvery)
	}
}

// waitFor waits until the screen contains substr and returns the screen.
func (s *testScreen) waitFor(substr string) string {
	s.t.Helper()
	return s.waitUntil("the screen to show "+quote(substr), func(scr string) bool { return strings.Contains(scr, substr) })
}

// waitGone waits until the screen no longer contains substr.
func (s *testScreen) waitGone(substr string) string {
	s.t.Helper()
	return s.waitUntil(quote(substr)+" to disappear", func(scr string) bool { return !strings.Contains(scr, substr) })
}

// resize changes the terminal size, as a person dragging the window would.
func (s *testScreen) resize(w, h int) {
	s.mu.Lock()
	s.emu.Resize(w, h)
	s.mu.Unlock()
	s.tm.Send(tea.WindowSizeMsg{Width: w, Height: h})
}

// quit ends the program and waits for it and the output copier to finish.
func (s *testScreen) quit() {
	s.quitOnce.Do(func() {
		_ = s.tm.Quit()
		s.tm.WaitFinished(s.t, teatest.WithFinalTimeout(waitDeadline))
		close(s.stop)
		<-s.copied
		// Closing the reply pipe ends the draining goroutine.
		if c, ok := s.emu.InputPipe().(io.Closer); ok {
			_ = c.Close()
		}
	})
}

// finished waits for the program to end by itself (after q or ctrl+c) and
// fails if it does not.
func (s *testScreen) finished() {
	s.t.Helper()
	s.tm.WaitFinished(s.t, teatest.WithFinalTimeout(waitDeadline))
}

func quote(s string) string { return "\"" + s + "\"" }

func frame(scr string) string {
	lines := strings.Split(scr, "\n")
	for i, l := range lines {
		lines[i] = "│" + l
	}
	return strings.Join(lines, "\n")
}

// flat joins a screen's lines and collapses runs of spaces, so a message
// that wraps (its length depends on where the tests run) can be matched
// as one sentence.
func flat(scr string) string {
	return strings.Join(strings.Fields(scr), " ")
}
