package ui

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
	"tui/internal/termsafe"
	"tui/queue"
	"tui/store"
)

// hostile is what an attacker puts in every field they can reach: a
// clipboard write (OSC 52), a window title (OSC 2), a hyperlink (OSC 8), a
// query the terminal answers into the input (CSI 6n), a DCS for tmux, the
// 8-bit CSI, a bell and a bidi override. Each part starts with a marker
// that says which field it came from.
func hostile(field string) string {
	return field + "\x1b]52;c;aGFja2Vk\x07\x1b]2;pwned\x07\x1b]8;;http://evil.example/\x07link\x1b]8;;\x07" +
		"\x1b[6n\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\\u009b2J\a\u202eend"
}

// hostileTag has no separator a tag would be split at.
func hostileTag(field string) string { return field + "\x1b[6n\x07\u009b1m" }

// checkTerminalBytes fails the test for any sequence in out that came from
// the data: everything the program writes is the renderer's own cursor
// moves, colours and modes, and window titles that are plain text.
func checkTerminalBytes(t *testing.T, what string, out []byte) {
	t.Helper()
	s := string(out)
	for _, bad := range []string{"\x1b]52;", "\x1b]8;;http://evil", "pwned\x07", "\x1bPtmux", "\u009b", "\x1b[6n", "\u202e"} {
		if i := strings.Index(s, bad); i >= 0 {
			t.Errorf("%s: the terminal received %q raw, at byte %d of %d: …%q…", what, bad, i, len(s), s[max(i-60, 0):min(i+60, len(s))])
		}
	}
	// Every OSC is a window title of plain text, or a colour query.
	for _, m := range regexp.MustCompile(`\x1b\]([^\x07\x1b]*)(\x07|\x1b\\)?`).FindAllStringSubmatch(s, -1) {
		body := m[1]
		switch {
		case strings.HasPrefix(body, "2;") || strings.HasPrefix(body, "0;"):
			if !termsafe.Safe(body) || strings.ContainsAny(body, "\n\t") {
				t.Errorf("%s: a window title with control characters: %q", what, body)
			}
		case body == "10;?" || body == "11;?" || body == "12;?":
		default:
			t.Errorf("%s: an OSC that is not a window title: %q", what, m[0])
		}
	}
	// BEL only ends an OSC.
	for i := 0; i < len(s); i++ {
		if s[i] == 0x07 && !strings.Contains(s[max(i-200, 0):i], "\x1b]") {
			t.Errorf("%s: a bell outside an OSC at byte %d: …%q", what, i, s[max(i-40, 0):i+1])
			break
		}
	}
}

// Escape sequences in every field a person, a file, a worker or a
// provider can fill reach the terminal as visible text, never raw: the
// campaign list and details, the window title, the editor, the preflight,
// the progress pane with its workers and failures, the failures view,
// the contacts and a contact's details, the suppression list.
func TestEscapeSequencesInEveryFieldNeverReachTheTerminal(t *testing.T) {
	srv := redistest.Start(t)
	st := newTestStore(t)
	csv := "email,name,city,note\n" +
		"ann@example.com," + hostile("NAME") + "," + hostile("CITY") + "," + hostile("NOTE") + "\n" +
		"bob@example.com,Bob,Oslo,fine\n"
	seedContacts(t, st, csv, hostileTag("TAG"))
	if _, err := st.Suppress("tester", "cy@example.com", hostile("REASON")); err != nil {
		t.Fatal(err)
	}
	name := hostile("CAMP")
	camp, err := st.CreateCampaign(hostile("ACTOR"), store.Campaign{Name: name, Channel: store.ChannelFile,
		Tags: []string{hostileTag("TAG")}, Subject: hostile("SUBJ") + "{{.name}}", Body: hostile("BODY") + "{{.city}} {{.note}}"})
	if err != nil {
		t.Fatal(err)
	}
	rec := holdingRecorder()
	rec.setFail("bob@example.com", hostile("PROVIDER"))
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ghost := queue.WorkerInfo{ID: hostile("WORKERID"), Host: hostile("HOST"), LastSeen: time.Now(), Processed: 3,
		Slowed: map[uint64]string{camp.ID: hostile("SLOWED")}}
	if err := queue.Heartbeat(context.Background(), rdb, ghost); err != nil {
		t.Fatal(err)
	}
	rig := newSendRig(t, st, srv.URL(), rigOptions{worker: true, rec: rec})
	s := startAppWith(t, rig.common(), 140, 45)

	shown := termsafe.Line(name)
	s.waitFor(shown[:40]) // the list, and the details beside it at this width
	s.press("s")
	s.waitFor("Recipients  2")
	scr := s.screen()
	for _, want := range []string{"SUBJ␛]52;c;aGFja2Vk␇", "BODY␛]52"} {
		if !strings.Contains(scr, want) {
			t.Errorf("the preflight's sample does not show %q:\n%s", want, frame(scr))
		}
	}
	s.press("y")
	scr = s.waitFor("WORKERID␛]52") // the ghost's id, while the deliveries wait
	if !strings.Contains(scr, "HOST␛]52") {
		t.Errorf("the pane does not show the worker's host as text:\n%s", frame(scr))
	}
	s.waitFor("SLOWED␛]52") // why the ghost is slowed, as text
	rec.release()
	s.waitFor("Completed with 1 failure")
	s.waitFor("PROVIDER␛]52")
	s.press("f")
	s.waitFor("Failures of")
	s.waitFor("PROVIDER␛]52")
	s.press("esc")
	s.press("esc")
	s.waitFor("LAST SEND")
	s.press("e") // a completed campaign opens read-only
	s.waitFor("SUBJ␛]52")
	s.press("esc")
	s.waitFor("LAST SEND")

	s.press("2")
	s.waitFor("NAME␛]52")
	s.press("enter")
	scr = s.waitFor("Contact ann@example.com")
	if !strings.Contains(scr, "CITY␛]52") || !strings.Contains(scr, "NOTE␛]52") || !strings.Contains(scr, "tag␛[6n") {
		t.Errorf("the contact's details:\n%s", frame(scr))
	}
	s.press("esc")
	s.press("3")
	s.waitFor("REASON␛]52")

	checkTerminalBytes(t, "the app", s.rawOutput())
	if !strings.Contains(string(s.rawOutput()), "\x1b]2;tui — Campaigns › CAMP␛]52;c;aGFja2Vk␇") {
		t.Errorf("no window title shows the campaign's name as text")
	}
	_ = camp
}

// Over SSH, what one person (or their SSH user name) puts into a campaign
// reaches another person's terminal as text: the list, the details, the
// window title and who changed it.
func TestEscapeSequencesNeverReachAnotherSSHSession(t *testing.T) {
	alice, bob := newClientKey(t), newClientKey(t)
	r := startSSH(t, rigConfig{}, alice, bob)
	if _, err := r.st.CreateCampaign("seed", store.Campaign{Name: hostile("CAMP"), Channel: store.ChannelFile,
		Subject: hostile("SUBJ"), Body: hostile("BODY")}); err != nil {
		t.Fatal(err)
	}
	b := r.connect("bob", bob, "xterm-256color", 140, 40)
	b.waitFor("CAMP␛]52") // selected, with its details beside the list
	a := r.connect(hostile("USER"), alice, "xterm-256color", 140, 40)
	a.waitFor("CAMP␛]52")
	a.press("e")
	a.waitFor("Edit campaign")
	a.press("tab", "tab") // channel, subject
	a.typeText(" again")
	a.press("ctrl+s")
	a.waitFor("Saved")
	scr := b.waitFor("by USER␛]52")
	if !strings.Contains(scr, "SUBJ␛]52") {
		t.Errorf("bob's screen:\n%s", frame(scr))
	}
	checkTerminalBytes(t, "bob's terminal", []byte(b.rawOutput()))
	checkTerminalBytes(t, "alice's terminal", []byte(a.rawOutput()))
	if !strings.Contains(b.rawOutput(), "\x1b]2;tui — Campaigns › CAMP␛]52;c;aGFja2Vk␇") {
		t.Errorf("bob's window title does not show the name as text")
	}
	// The server's log names the user safely too (slog quotes it; tui's
	// own logger shows it as the screens do: see termsafe.LogAttr).
	r.waitLog("ssh session started", "user=\"USER")
	if strings.ContainsAny(r.logs.String(), "\x1b\x07") {
		t.Errorf("the server's log holds a raw escape")
	}
}
