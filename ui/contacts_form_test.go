package ui

import (
	"os"
	"path/filepath"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// typeInto sends each rune of s to the form as a key press and returns
// the commands the form asked for, unrun, as a program would hold them
// while the next keys arrive.
func typeInto(f *miniForm, s string) []tea.Cmd {
	var cmds []tea.Cmd
	for _, r := range s {
		_, cmd := f.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
		cmds = append(cmds, cmd)
	}
	return cmds
}

// TestKeysTypedBeforeThePathListingFollowTheTab: a tab pressed before the
// directory listing of the typed path arrived waits for it, and so do the
// keys typed after it — they go to the next field, not onto the path.
func TestKeysTypedBeforeThePathListingFollowTheTab(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "people.csv")
	if err := os.WriteFile(csv, []byte("email\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newMiniForm(nil, "Import", "",
		newFormField("File", "", "").withPaths(dir),
		newFormField("Tags", "", "").withTags([]string{"newsletter"}))

	cmds := typeInto(f, csv)
	if act, _ := f.Update(tea.KeyPressMsg{Code: tea.KeyTab}); act != formKeep || f.focus != 0 {
		t.Fatalf("tab before the listing left the field (focus %d)", f.focus)
	}
	typeInto(f, "news")
	act, _ := f.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	if act != formKeep {
		t.Fatalf("enter acted (%v) before the tab it followed", act)
	}
	if got := f.fields[0].input.Value(); got != csv {
		t.Fatalf("keys typed after tab went onto the path: %q", got)
	}

	// The listing of the whole path arrives; the tab, the letters and
	// enter then happen in the order they were typed.
	msg := cmds[len(cmds)-1]()
	act, _ = f.Update(msg)
	if got := f.fields[0].input.Value(); got != csv {
		t.Fatalf("file = %q, want %q", got, csv)
	}
	if got := f.fields[1].input.Value(); got != "news" {
		t.Fatalf("tags = %q, want the letters typed after tab", got)
	}
	if act != formSubmit {
		t.Fatalf("enter typed last did not submit the form (action %v, focus %d)", act, f.focus)
	}
}
