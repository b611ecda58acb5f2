package store

import (
	"fmt"
	"path/filepath"
	"testing"
)

func TestRecentCampaigns(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "tui.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.RecentCampaigns(10); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v, %v", got, err)
	}
	for i := 1; i <= 5; i++ {
		if _, err := st.CreateCampaign("t", Campaign{Name: fmt.Sprintf("c%d", i), Body: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(list []Campaign) string {
		s := ""
		for _, c := range list {
			s += c.Name + " "
		}
		return s
	}
	for _, tc := range []struct {
		limit int
		want  string
	}{
		{0, ""},
		{-1, ""},
		{3, "c5 c4 c3 "},
		{5, "c5 c4 c3 c2 c1 "},
		{50, "c5 c4 c3 c2 c1 "},
	} {
		got, err := st.RecentCampaigns(tc.limit)
		if err != nil || names(got) != tc.want {
			t.Errorf("RecentCampaigns(%d) = %q, %v; want %q", tc.limit, names(got), err, tc.want)
		}
	}
	// The same order as the full list.
	all, err := st.Campaigns()
	if err != nil {
		t.Fatal(err)
	}
	recent, _ := st.RecentCampaigns(5)
	if names(all) != names(recent) {
		t.Errorf("Campaigns = %q, RecentCampaigns = %q", names(all), names(recent))
	}
}
