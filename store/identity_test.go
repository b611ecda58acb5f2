package store

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A database keeps its identity; a copy of its file at another path gets
// its own, unless a send is under way in it: then it is the same database
// moved, and keeps the identity its sends' keys in Redis carry.
func TestIdentityIsKeptAndACopyGetsItsOwn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tui.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Identity()
	if err != nil || len(id.ID) != 16 || !strings.HasSuffix(id.Name, ":"+path) {
		t.Fatalf("identity %+v, %v", id, err)
	}
	if again, _ := s.Identity(); !reflect.DeepEqual(again, id) {
		t.Fatalf("identity changed from %+v to %+v", id, again)
	}
	// Another host name (a container started again) changes the name only.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		moved := id
		moved.Name = "elsewhere:" + path
		return putJSON(tx.Bucket(bucketMeta), keyIdentity, moved)
	}); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Identity(); !reflect.DeepEqual(again, id) {
		t.Fatalf("after another host: %+v, want %+v", again, id)
	}
	s.Close()
	reopen := func(p string) (*Store, Identity) {
		t.Helper()
		st, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		got, err := st.Identity()
		if err != nil {
			t.Fatal(err)
		}
		return st, got
	}
	if _, got := reopen(path); !reflect.DeepEqual(got, id) {
		t.Fatalf("reopened: %+v, want %+v", got, id)
	}
	copied := filepath.Join(dir, "try.db")
	copyFile(t, path, copied)
	if _, got := reopen(copied); got.ID == id.ID || !strings.HasSuffix(got.Name, ":"+copied) {
		t.Errorf("a copy has identity %+v, the original %+v", got, id)
	} else if !reflect.DeepEqual(got.Earlier, []string{id.ID}) || !got.Names(id.ID) || !got.Names(got.ID) || got.Names("0000000000000000") {
		t.Errorf("a copy does not name the original it came from: %+v, the original %+v", got, id)
	}

	// With a send under way, a file at a new path is the same database moved.
	live := filepath.Join(dir, "live.db")
	st := fxOpen(t)
	c, _ := fxSentToAll(t, st, 5, 20)
	ident, err := st.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if sst, _ := st.SendState(c.ID); sst.FinishedAt != nil {
		t.Fatal("the send is over already")
	}
	src := st.Path()
	st.Close()
	if err := os.Rename(src, live); err != nil {
		t.Fatal(err)
	}
	if _, got := reopen(live); got.ID != ident.ID || !strings.HasSuffix(got.Name, ":"+live) {
		t.Errorf("moved with a send under way: %+v, was %+v", got, ident)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
