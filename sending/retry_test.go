package sending

import (
	"context"
	"strings"
	"testing"

	"tui/internal/redistest"
	"tui/internal/testkit/seed"
	"tui/store"
	"tui/worker"
)

// A retry with nothing to retry says so from the ledger and dials nothing:
// a completed send that failed nobody, or a campaign never sent. Redis
// being away must not be the answer to either.
func TestRetryWithNothingToRetryDialsNothing(t *testing.T) {
	srv := redistest.Start(t)
	rdb := rdbFor(t, srv)
	st, _ := seed.Open(t)
	svc := New(st, newConn(t, srv.URL()))
	c := startSend(t, st, svc, 10, store.Campaign{Name: "All sent"})
	runWorker(t, srv, channelFunc(func(worker.Delivery) error { return nil }))
	foldUntil(t, svc, rdb, c.ID, func(r store.FoldResult) bool { return r.Campaign.Status == store.StatusCompleted })
	draft := create(t, st, store.Campaign{Name: "Never sent", Tags: []string{"all"}})

	away := newConn(t, "redis://127.0.0.1:1/0")
	offline := New(st, away)
	for _, tc := range []struct {
		id   uint64
		want string
	}{
		{c.ID, `campaign "All sent" has no failed recipients to retry`},
		{draft.ID, `campaign "Never sent" has never been sent`},
	} {
		_, err := offline.RetryFailed(context.Background(), "t", tc.id, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("campaign %d: %v, want %q", tc.id, err, tc.want)
		}
	}
	if away.Dialled() != nil {
		t.Error("a retry with nothing to retry dialled Redis")
	}
	if got, err := st.Campaign(c.ID); err != nil || got.Status != store.StatusCompleted {
		t.Errorf("the completed campaign after the refused retry: %s, %v", got.Status, err)
	}
}
