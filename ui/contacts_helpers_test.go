package ui

import (
	"context"
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"tui/queue"
	"tui/store"
)

// ctSeed imports a CSV straight into the store.
func ctSeed(t testing.TB, st *store.Store, csv string, tags ...string) {
	t.Helper()
	if _, err := st.ImportCSV(context.Background(), strings.NewReader(csv), store.ImportOptions{Actor: "seed", Name: "seed.csv", Tags: tags}); err != nil {
		t.Fatalf("seed contacts: %v", err)
	}
}

// ctSnapshot summarises everything an import or a refused action could
// change: the totals, every contact, the suppression list and the audit log.
func ctSnapshot(t *testing.T, st *store.Store) string {
	t.Helper()
	var b strings.Builder
	counts, err := st.Counts()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "%+v", counts)
	err = st.ForEachContact(func(c store.Contact) error {
		fmt.Fprintf(&b, " %s%v%v", c.Address, c.Tags, c.Fields)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sups, err := st.Suppressions()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, " suppressed%v", len(sups))
	audit, err := st.Audit(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, " audit%d", len(audit))
	return b.String()
}

func ctStatus() queue.Status { return queue.IdleStatus(queue.DefaultURL) }

// ctKey builds the message a terminal sends for a printable key or a
// named one.
func ctKey(name string) tea.KeyPressMsg {
	switch name {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	}
	r := []rune(name)[0]
	return tea.KeyPressMsg{Code: r, Text: name}
}

// ctCSV builds a CSV of n contacts: user0001@example.com, ...; every
// third lives in Utrecht.
func ctCSV(n int) string {
	var b strings.Builder
	b.WriteString("email,name,city\n")
	for i := 1; i <= n; i++ {
		city := "Paris"
		if i%3 == 0 {
			city = "Utrecht"
		}
		fmt.Fprintf(&b, "user%04d@example.com,User %d,%s\n", i, i, city)
	}
	return b.String()
}
