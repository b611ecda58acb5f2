package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestAudience(t *testing.T) {
	s := fxOpen(t)
	fxAddContact(t, s, "ann@example.com", map[string]string{"name": "Ann"}, "customers")
	fxAddContact(t, s, "bob@example.com", map[string]string{"name": "Bob"}, "customers", "vip") // in two include tags
	fxAddContact(t, s, "cat@example.com", map[string]string{"name": "Cat"}, "vip")
	fxAddContact(t, s, "dan@example.com", map[string]string{"name": "Dan"}, "customers", "churned")
	fxAddContact(t, s, "eve@example.com", map[string]string{"name": "Eve"}, "customers")
	fxAddContact(t, s, "fay@example.com", map[string]string{"name": "Fay"})
	fxAddContact(t, s, "+4420794609", map[string]string{"name": "Gus"}, "vip")
	if _, err := s.Suppress("alice", "EVE@example.com", "unsubscribed"); err != nil {
		t.Fatal(err)
	}
	// A suppressed address that is not a contact changes nothing.
	if _, err := s.Suppress("alice", "stranger@example.com", "bounced"); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name          string
		tags, exclude []string
		want          string // sorted names
	}{
		{"no tags is everyone but the suppressed", nil, nil, "Ann,Bob,Cat,Dan,Fay,Gus"},
		{"one tag", []string{"customers"}, nil, "Ann,Bob,Dan"},
		{"two tags, Bob counted once", []string{"customers", "vip"}, nil, "Ann,Bob,Cat,Dan,Gus"},
		{"tags in any case and order", []string{"VIP", " Customers"}, nil, "Ann,Bob,Cat,Dan,Gus"},
		{"exclude", []string{"customers", "vip"}, []string{"churned"}, "Ann,Bob,Cat,Gus"},
		{"exclude from everyone", nil, []string{"vip"}, "Ann,Dan,Fay"},
		{"two excludes", nil, []string{"vip", "churned"}, "Ann,Fay"},
		{"unknown include tag is nobody", []string{"nobody-has-this"}, nil, ""},
		{"unknown and known include tag", []string{"nobody-has-this", "vip"}, nil, "Bob,Cat,Gus"},
		{"unknown exclude tag", []string{"vip"}, []string{"nobody-has-this"}, "Bob,Cat,Gus"},
		{"everything excluded", []string{"vip"}, []string{"vip"}, ""},
	}
	for _, tc := range cases {
		c := Campaign{Name: tc.name, Tags: tc.tags, ExcludeTags: tc.exclude}
		n, err := s.AudienceSize(&c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var names []string
		err = s.ForEachRecipient(&c, func(ct Contact) bool {
			names = append(names, ct.Name)
			return true
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		sort.Strings(names)
		if got := strings.Join(names, ","); got != tc.want {
			t.Errorf("%s: recipients %s, want %s", tc.name, got, tc.want)
		}
		if n != len(names) {
			t.Errorf("%s: AudienceSize %d, ForEachRecipient visited %d", tc.name, n, len(names))
		}
		first, err := s.FirstRecipient(&c)
		switch {
		case tc.want == "" && !errors.Is(err, ErrNotFound):
			t.Errorf("%s: FirstRecipient of an empty audience: %+v, %v", tc.name, first, err)
		case tc.want != "" && err != nil:
			t.Errorf("%s: FirstRecipient: %v", tc.name, err)
		case tc.want != "" && !strings.Contains(","+tc.want+",", ","+first.Name+","):
			t.Errorf("%s: FirstRecipient %s is not in the audience", tc.name, first.Name)
		}
	}

	// Unsuppressing brings Eve back.
	if err := s.Unsuppress("alice", "eve@example.com"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.AudienceSize(&Campaign{Tags: []string{"customers"}}); n != 4 {
		t.Errorf("after unsuppress: %d, want 4", n)
	}
}

func TestForEachRecipientStops(t *testing.T) {
	s := fxOpen(t)
	for _, a := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		fxAddContact(t, s, a, nil, "t")
	}
	for _, c := range []Campaign{{}, {Tags: []string{"t"}}} {
		seen := 0
		if err := s.ForEachRecipient(&c, func(Contact) bool { seen++; return seen < 2 }); err != nil {
			t.Fatal(err)
		}
		if seen != 2 {
			t.Errorf("tags %v: visited %d after asking to stop at 2", c.Tags, seen)
		}
	}
}

func TestFirstRecipientIsFirstInAudienceOrder(t *testing.T) {
	s := fxOpen(t)
	if _, err := s.FirstRecipient(&Campaign{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty database: %v", err)
	}
	fxAddContact(t, s, "first@example.com", map[string]string{"name": "First"}, "x")
	fxAddContact(t, s, "second@example.com", map[string]string{"name": "Second"}, "x")
	got, err := s.FirstRecipient(&Campaign{Tags: []string{"x"}})
	if err != nil || got.Name != "First" {
		t.Errorf("got %+v, %v", got, err)
	}
	if _, err := s.Suppress("alice", "first@example.com", ""); err != nil {
		t.Fatal(err)
	}
	got, err = s.FirstRecipient(&Campaign{Tags: []string{"x"}})
	if err != nil || got.Name != "Second" {
		t.Errorf("with the first suppressed: %+v, %v", got, err)
	}
}

func TestSuppressionList(t *testing.T) {
	s := fxOpen(t)
	if _, err := s.Suppress("alice", "not an address", ""); err == nil {
		t.Error("suppressed an invalid address")
	}
	sup, err := s.Suppress("alice", "B@Example.com", "")
	if err != nil || sup.Address != "b@example.com" || sup.Reason != "suppressed by hand" || sup.By != "alice" {
		t.Errorf("suppress: %+v, %v", sup, err)
	}
	// Suppressing again updates the reason and is counted once.
	if _, err := s.Suppress("bob", "b@example.com", "bounced"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Suppress("bob", "a@example.com", "complained"); err != nil {
		t.Fatal(err)
	}
	list, err := s.Suppressions()
	if err != nil || len(list) != 2 || list[0].Address != "a@example.com" || list[1].Reason != "bounced" {
		t.Errorf("list %+v, %v", list, err)
	}
	if counts, _ := s.Counts(); counts.Suppressed != 2 {
		t.Errorf("count %d", counts.Suppressed)
	}
	if err := s.Unsuppress("alice", "c@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unsuppress an address not on the list: %v", err)
	}
	if err := s.Unsuppress("alice", "A@example.com"); err != nil {
		t.Fatal(err)
	}
	if counts, _ := s.Counts(); counts.Suppressed != 1 {
		t.Errorf("count %d after unsuppress", counts.Suppressed)
	}
}

// NewestFailures keeps the n failures updated last, oldest first, however
// many there are.
func TestNewestFailures(t *testing.T) {
	s := fxOpen(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var entries []LedgerEntry
	for i := 1; i <= 30; i++ {
		state := RecipientFailed
		if i%3 == 0 {
			state = RecipientSent
		}
		// Contact order and time order differ: the newest come first.
		entries = append(entries, LedgerEntry{CampaignID: 5, ContactID: uint64(i), Address: fmt.Sprintf("c%d@example.com", i),
			State: state, UpdatedAt: base.Add(-time.Duration(i) * time.Minute)})
	}
	if err := s.PutLedger(entries); err != nil {
		t.Fatal(err)
	}
	got, err := s.NewestFailures(5, 3)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, e := range got {
		ids = append(ids, e.ContactID)
	}
	if fmt.Sprint(ids) != "[4 2 1]" {
		t.Errorf("newest 3 failures, oldest first: got contacts %v, want [4 2 1]", ids)
	}
	if got, err := s.NewestFailures(99, 3); err != nil || len(got) != 0 {
		t.Errorf("a campaign without a ledger: %v, %v", got, err)
	}
}

func TestLedger(t *testing.T) {
	s := fxOpen(t)
	entries := []LedgerEntry{
		{CampaignID: 7, ContactID: 2, Address: "b@example.com", State: RecipientQueued},
		{CampaignID: 7, ContactID: 1, Address: "a@example.com", State: RecipientSent, Attempts: 1},
		{CampaignID: 8, ContactID: 1, Address: "a@example.com", State: RecipientFailed, LastError: "550 no such user"},
	}
	if err := s.PutLedger(entries); err != nil {
		t.Fatal(err)
	}
	// Writing an entry again replaces it: folding an event twice is harmless.
	if err := s.PutLedger([]LedgerEntry{{CampaignID: 7, ContactID: 2, Address: "b@example.com", State: RecipientSent, Attempts: 2}}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	err := s.ForEachLedger(7, func(e LedgerEntry) error {
		keys = append(keys, e.Key()+"="+string(e.State))
		if e.UpdatedAt.IsZero() {
			t.Errorf("%s has no time", e.Key())
		}
		return nil
	})
	if err != nil || strings.Join(keys, " ") != "7:1=sent 7:2=sent" {
		t.Errorf("ledger 7: %v, %v", keys, err)
	}
	counts, err := s.LedgerCounts(8)
	if err != nil || counts[RecipientFailed] != 1 || len(counts) != 1 {
		t.Errorf("ledger 8: %v, %v", counts, err)
	}
	if counts, err := s.LedgerCounts(9); err != nil || len(counts) != 0 {
		t.Errorf("ledger of a campaign never sent: %v, %v", counts, err)
	}
	for _, st := range []RecipientState{RecipientSent, RecipientFailed, RecipientSkipped, RecipientCancelled} {
		if !st.Final() {
			t.Errorf("%s should be final", st)
		}
	}
	for _, st := range []RecipientState{RecipientQueued, RecipientRetrying} {
		if st.Final() {
			t.Errorf("%s should not be final", st)
		}
	}
}

// TestAudienceMatchesNaiveModel compares the audience with a direct
// computation over many contacts with tags of every density, gaps in the
// ids and suppressed addresses, for every combination of include and
// exclude tags.
func TestAudienceMatchesNaiveModel(t *testing.T) {
	defer func(n uint64) { minPartIDs = n }(minPartIDs)
	minPartIDs = 100 // 3,000 contacts in up to 7 parts
	s := fxOpen(t)
	rng := rand.New(rand.NewPCG(7, 11))
	tagNames := []string{"dense", "half", "sparse", "rare"}
	density := []int{95, 50, 10, 1}
	type model struct {
		tags       map[string]bool
		suppressed bool
	}
	contacts := map[uint64]*model{}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i := 0; i < 3000; i++ {
			var tags []string
			for j, name := range tagNames {
				if rng.IntN(100) < density[j] {
					tags = append(tags, name)
				}
			}
			c, _, err := s.upsertContact(tx, Contact{Address: fmt.Sprintf("u%d@example.com", i), Tags: tags}, time.Now())
			if err != nil {
				return err
			}
			m := &model{tags: map[string]bool{}}
			for _, tg := range tags {
				m.tags[tg] = true
			}
			contacts[c.ID] = m
		}
		return putUint(tx.Bucket(bucketMeta), keyContactCount, 3000)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Gaps: delete runs of contacts; suppress others.
	for id := uint64(1); id <= 3000; id++ {
		switch r := rng.IntN(100); {
		case r < 8:
			if err := s.DeleteContact("t", id); err != nil {
				t.Fatal(err)
			}
			delete(contacts, id)
		case r < 12:
			if _, err := s.Suppress("t", fmt.Sprintf("u%d@example.com", id-1), "test"); err != nil {
				t.Fatal(err)
			}
			contacts[id].suppressed = true
		}
	}
	fxCheckIndexes(t, s)

	subsets := [][]string{nil}
	for mask := 1; mask < 1<<len(tagNames); mask++ {
		var sub []string
		for j, name := range tagNames {
			if mask&(1<<j) != 0 {
				sub = append(sub, name)
			}
		}
		subsets = append(subsets, sub)
	}
	for _, inc := range subsets {
		for _, exc := range subsets {
			c := Campaign{Name: "model", Tags: inc, ExcludeTags: exc}
			var want []uint64
			for id, m := range contacts {
				in := len(inc) == 0
				for _, tg := range inc {
					in = in || m.tags[tg]
				}
				for _, tg := range exc {
					in = in && !m.tags[tg]
				}
				if in && !m.suppressed {
					want = append(want, id)
				}
			}
			sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
			var got []uint64
			if err := s.ForEachRecipient(&c, func(ct Contact) bool { got = append(got, ct.ID); return true }); err != nil {
				t.Fatal(err)
			}
			sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("include %v exclude %v: %d recipients, want %d", inc, exc, len(got), len(want))
			}
			n, err := s.AudienceSize(&c)
			if err != nil || n != len(want) {
				t.Fatalf("include %v exclude %v: AudienceSize %d, %v; want %d", inc, exc, n, err, len(want))
			}
			// In parts: everyone once, each part in ascending ID order.
			for _, parts := range []int{1, 3, 7} {
				var mu sync.Mutex
				got = got[:0]
				last := make([]uint64, parts)
				err := s.ForEachRecipientInParts(&c, parts, func(part int, id uint64, raw RawContact) bool {
					if raw == nil || id <= last[part] {
						t.Errorf("part %d: contact %d after %d, or without its record", part, id, last[part])
					}
					last[part] = id
					mu.Lock()
					got = append(got, id)
					mu.Unlock()
					return true
				})
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(got)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("include %v exclude %v in %d parts: %d recipients, want %d", inc, exc, parts, len(got), len(want))
				}
			}
		}
	}
}

// AudienceSizes gives each campaign the count AudienceSize gives it alone,
// sharing one count between campaigns with the same audience.
func TestAudienceSizesAgreeWithAudienceSize(t *testing.T) {
	s := fxOpen(t)
	fxAddContact(t, s, "ann@example.com", nil, "customers")
	fxAddContact(t, s, "bob@example.com", nil, "customers", "vip")
	fxAddContact(t, s, "+4420794609", nil, "vip")
	fxAddContact(t, s, "cat@example.com", nil)
	cs := []Campaign{
		{Name: "a", Tags: []string{"vip"}, Channel: ChannelFile},
		{Name: "b", Tags: []string{"VIP "}, Channel: ChannelWebhook}, // the same audience as a
		{Name: "c", Tags: []string{"vip"}, Channel: ChannelSMTP},     // the phone is not reachable
		{Name: "d", Channel: ChannelSMTP},
		{Name: "e", Tags: []string{"customers", "vip"}, ExcludeTags: []string{"Customers"}, Channel: ChannelFile},
		{Name: "f", Tags: []string{"vip", "customers"}, ExcludeTags: []string{"customers"}, Channel: ChannelFile},
	}
	sizes, err := s.AudienceSizes(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cs {
		want, err := s.AudienceSize(&cs[i])
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := sizes[AudienceKey(&cs[i])]; !ok || got != want {
			t.Errorf("%s: AudienceSizes %d (present %v), AudienceSize %d", cs[i].Name, got, ok, want)
		}
	}
	if AudienceKey(&cs[0]) != AudienceKey(&cs[1]) || AudienceKey(&cs[0]) == AudienceKey(&cs[2]) || AudienceKey(&cs[4]) != AudienceKey(&cs[5]) {
		t.Errorf("keys: %q %q %q %q %q", AudienceKey(&cs[0]), AudienceKey(&cs[1]), AudienceKey(&cs[2]), AudienceKey(&cs[4]), AudienceKey(&cs[5]))
	}
	if len(sizes) != 4 {
		t.Errorf("%d distinct audiences counted, want 4: %v", len(sizes), sizes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.AudienceSizes(ctx, cs); !errors.Is(err, context.Canceled) {
		t.Errorf("counting after the context ended: %v", err)
	}
}
