package ui

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

func exponentialBody(call string) string {
	var b strings.Builder
	b.WriteString(`{{define "t0"}}xx{{end}}`)
	for i := 1; i < 60; i++ {
		fmt.Fprintf(&b, `{{define "t%d"}}{{template "t%d" .}}{{template "t%d" .}}{{end}}`, i, i-1, i-1)
	}
	b.WriteString(call)
	return b.String()
}

// The template that grows exponentially is stopped by the render budget in
// the editor's preview, as it is typed, and refused when saved; the
// program's memory stays bounded throughout.
func TestPreviewStopsARunawayTemplate(t *testing.T) {
	st := newTestStore(t)
	seedContacts(t, st, "email,name\nada@example.com,Ada\n")
	s := startApp(t, st, 120, 30) // wide: the preview sits beside the form
	s.waitFor("No campaigns yet")
	s.press("n")
	s.waitFor("Preview for Ada")
	s.typeText("Bomb")
	s.press("tab", "tab", "tab") // channel, subject, body
	s.typeText("Hi {{.name}}")
	s.waitFor("Hi Ada")

	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	s.tm.Send(tea.PasteMsg{Content: exponentialBody(`{{template "t59" .}}`)})
	// Which limit stops it first depends on how fast this machine is
	// right now (under -race, time can run out before the steps do).
	unboxed := func(scr string) string { return flat(strings.ReplaceAll(scr, "│", " ")) }
	scr := s.waitUntil("the preview to name the render budget", func(scr string) bool {
		return strings.Contains(unboxed(scr), "(the render budget)")
	})
	took := time.Since(start)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("the preview stopped it %v after the paste; %d MB allocated meanwhile", took.Round(time.Millisecond), (after.TotalAlloc-before.TotalAlloc)>>20)
	if !strings.Contains(unboxed(scr), "100,000 steps") && !strings.Contains(unboxed(scr), "more than 1s of CPU") {
		t.Errorf("the preview does not name the limit:\n%s", scr)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 512<<20 {
		t.Errorf("%d MB allocated while the preview rendered", grew>>20)
	}

	s.press("ctrl+s")
	scr = s.waitFor("Not saved")
	if !strings.Contains(unboxed(scr), "render budget") {
		t.Errorf("the save was refused without naming the render budget:\n%s", scr)
	}
	if n := len(campaignsIn(t, st)); n != 0 {
		t.Errorf("%d campaigns were saved, want none", n)
	}
}
