// Package seed makes databases for tests: a fresh store in a temporary
// directory, contacts imported as a CSV would bring them, a draft campaign.
package seed

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"tui/store"
)

// Open opens a fresh database in a temporary directory and closes it when
// the test ends. It returns the store and the file's path.
func Open(t testing.TB) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tui.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

// Contacts imports n contacts, c<i>@example.com named "Name <i>" and living
// in "City <i mod 97>", each tagged with tags.
func Contacts(t testing.TB, st *store.Store, n int, tags ...string) {
	t.Helper()
	importRows(t, st, "email,name,city", n, func(i int) string { return fmt.Sprintf("c%d@example.com,Name %d,City %d", i, i, i%97) },
		store.ImportOptions{Actor: "test", Tags: tags})
}

func importRows(t testing.TB, st *store.Store, header string, n int, row func(i int) string, opts store.ImportOptions) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprintln(pw, header)
		for i := 1; i <= n; i++ {
			fmt.Fprintln(pw, row(i))
		}
		pw.Close()
	}()
	rep, err := st.ImportCSV(context.Background(), pr, opts)
	if err != nil || rep.Created != n {
		t.Fatalf("import %d contacts: %+v %v", n, rep, err)
	}
}

// Campaign makes a database in a temporary directory with n contacts
// (c<i>@example.com, "Name <i>", no other field) tagged "all" and one draft
// file campaign named "Kill me" to all of them, closes it, and returns its
// path and the campaign's ID.
func Campaign(t testing.TB, n int) (db string, id uint64) {
	t.Helper()
	st, db := Open(t)
	defer st.Close()
	importRows(t, st, "email,name", n, func(i int) string { return fmt.Sprintf("c%d@example.com,Name %d", i, i) },
		store.ImportOptions{Tags: []string{"all"}})
	c, err := st.CreateCampaign("test", store.Campaign{Name: "Kill me", Channel: store.ChannelFile,
		Tags: []string{"all"}, Subject: "Hi {{.name}}", Body: "Hello {{.name}}"})
	if err != nil {
		t.Fatal(err)
	}
	return db, c.ID
}
