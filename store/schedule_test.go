package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A schedule moves a draft to scheduled and back, refuses the past and
// campaigns that are no longer drafts, survives edits (which clear a failed
// start's reason), records a failure without changing the version, and is
// dropped from a duplicate; a borrowed handle does not close the database.
func TestScheduleLifecycle(t *testing.T) {
	s := fxOpen(t)
	c := fxCreate(t, s, "ann", "Xmas")
	clock := s.now()
	at := clock.Add(48 * time.Hour)

	if _, err := s.ScheduleCampaign("ann", c.ID, clock.Add(-time.Hour), "Europe/Paris"); !errors.Is(err, ErrInThePast) {
		t.Fatalf("a past time: %v", err)
	}
	sc, err := s.ScheduleCampaign("ann", c.ID, at, "Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Status != StatusScheduled || !sc.Schedule.At.Equal(at) || sc.Schedule.Zone != "Europe/Paris" || sc.Schedule.By != "ann" || sc.Version != c.Version+1 {
		t.Fatalf("scheduled: %+v %+v", sc, sc.Schedule)
	}
	if got := sc.Schedule.At.In(sc.Schedule.Location()).Location().String(); got != "Europe/Paris" {
		t.Errorf("location %s", got)
	}
	list, err := s.ScheduledCampaigns()
	if err != nil || len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("scheduled campaigns: %v %v", list, err)
	}

	// A failed start is recorded once, without a new version.
	if err := s.ScheduleFailed("tui", c.ID, sc.Version, "redis down"); err != nil {
		t.Fatal(err)
	}
	audits := fxAuditLen(t, s)
	if err := s.ScheduleFailed("tui", c.ID, sc.Version, "redis down"); err != nil || fxAuditLen(t, s) != audits {
		t.Errorf("the same failure recorded twice: %v", err)
	}
	failed, _ := s.Campaign(c.ID)
	if failed.Version != sc.Version || failed.Schedule.Error != "redis down" || failed.Schedule.ErrorVersion != sc.Version {
		t.Fatalf("after a failure: %+v", failed.Schedule)
	}
	// A stale version records nothing.
	if err := s.ScheduleFailed("tui", c.ID, sc.Version-1, "old"); err != nil {
		t.Fatal(err)
	}
	// An edit keeps the schedule and clears the failure.
	failed.Subject = "Merry {{.name}}"
	edited, err := s.UpdateCampaign("bob", failed)
	if err != nil {
		t.Fatal(err)
	}
	if edited.Schedule == nil || !edited.Schedule.At.Equal(at) || edited.Schedule.Error != "" || edited.Status != StatusScheduled {
		t.Fatalf("after an edit: %s %+v", edited.Status, edited.Schedule)
	}
	dup, err := s.DuplicateCampaign("ann", c.ID)
	if err != nil || dup.Schedule != nil || dup.Status != StatusDraft {
		t.Fatalf("duplicate: %v %+v", err, dup)
	}
	un, err := s.UnscheduleCampaign("ann", c.ID)
	if err != nil || un.Status != StatusDraft || un.Schedule != nil {
		t.Fatalf("unschedule: %v %+v", err, un)
	}
	if _, err := s.UnscheduleCampaign("ann", c.ID); err == nil || !strings.Contains(err.Error(), "not scheduled") {
		t.Fatalf("unschedule a draft: %v", err)
	}
	if list, _ := s.ScheduledCampaigns(); len(list) != 0 {
		t.Fatalf("still listed: %v", list)
	}
	// A cancelled campaign cannot be scheduled.
	if _, err := s.SetStatus("ann", c.ID, StatusCancelled); err != nil {
		t.Fatal(err)
	}
	var te *TransitionError
	if _, err := s.ScheduleCampaign("ann", c.ID, at, ""); !errors.As(err, &te) {
		t.Fatalf("schedule a cancelled campaign: %v", err)
	}

	b := s.Borrow()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Campaign(c.ID); err != nil {
		t.Fatalf("closing a borrowed handle closed the database: %v", err)
	}
}
