package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Schedule is when a campaign starts by itself: whichever process owns the
// database at that time runs the preflight and starts it, as a person
// pressing send would.
type Schedule struct {
	At   time.Time `json:"at"`             // the instant, UTC
	Zone string    `json:"zone,omitempty"` // the time zone it was given in ("" the machine's), for display
	By   string    `json:"by,omitempty"`   // who scheduled it
	// Error is why the start at the scheduled time failed (a preflight
	// error, Redis away); the campaign stays scheduled and nothing was sent.
	Error   string     `json:"error,omitempty"`
	ErrorAt *time.Time `json:"error_at,omitempty"`
	// Version is the campaign version Error was found in: a campaign that
	// changed since is tried again.
	ErrorVersion uint64 `json:"error_version,omitempty"`
}

// Location is the schedule's time zone, or time.Local when it has none or
// this machine does not know it.
func (s *Schedule) Location() *time.Location {
	if s == nil || s.Zone == "" {
		return time.Local
	}
	if loc, err := time.LoadLocation(s.Zone); err == nil {
		return loc
	}
	return time.Local
}

// retried drops the recorded failure: the campaign changed, and the next
// look at the schedule tries it again.
func (s *Schedule) retried() *Schedule {
	if s == nil || s.Error == "" {
		return s
	}
	cp := *s
	cp.Error, cp.ErrorAt, cp.ErrorVersion = "", nil, 0
	return &cp
}

// ErrInThePast means a schedule's time has already passed.
var ErrInThePast = errors.New("the time is in the past")

// ScheduleCampaign schedules a draft campaign (or moves a scheduled one's
// time) to start at at. The campaign must be valid, and at in the future.
func (s *Store) ScheduleCampaign(actor string, id uint64, at time.Time, zone string) (Campaign, error) {
	var c Campaign
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCampaigns)
		if err := getJSON(b, itob(id), &c); err != nil {
			return err
		}
		now := s.now().UTC()
		if !at.After(now) {
			return fmt.Errorf("%w (%s, now %s)", ErrInThePast, at.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
		}
		if c.Status != StatusScheduled && !CanMove(c.Status, StatusScheduled) {
			return &TransitionError{Name: c.Name, From: c.Status, To: StatusScheduled}
		}
		if err := c.Validate(); err != nil {
			return err
		}
		from := c.Status
		c.Status, c.Version, c.UpdatedAt, c.UpdatedBy = StatusScheduled, c.Version+1, now, actor
		c.Schedule = &Schedule{At: at.UTC(), Zone: zone, By: actor}
		if err := putJSON(b, itob(id), &c); err != nil {
			return err
		}
		return s.audit(tx, actor, "campaign.schedule", c.ref(), fmt.Sprintf("%s → scheduled for %s", from, at.UTC().Format(time.RFC3339)))
	})
	if err != nil {
		return Campaign{}, fmt.Errorf("schedule campaign %d: %w", id, err)
	}
	return c, nil
}

// UnscheduleCampaign moves a scheduled campaign back to draft.
func (s *Store) UnscheduleCampaign(actor string, id uint64) (Campaign, error) {
	var c Campaign
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCampaigns)
		if err := getJSON(b, itob(id), &c); err != nil {
			return err
		}
		if c.Status != StatusScheduled {
			return fmt.Errorf("campaign %q is %s, not scheduled", c.Name, c.Status.Phrase())
		}
		now := s.now().UTC()
		c.Status, c.Version, c.UpdatedAt, c.UpdatedBy = StatusDraft, c.Version+1, now, actor
		c.Schedule = nil
		if err := putJSON(b, itob(id), &c); err != nil {
			return err
		}
		return s.audit(tx, actor, "campaign.unschedule", c.ref(), "scheduled → draft")
	})
	if err != nil {
		return Campaign{}, fmt.Errorf("unschedule campaign %d: %w", id, err)
	}
	return c, nil
}

// ScheduledCampaigns lists the campaigns waiting for their time.
func (s *Store) ScheduledCampaigns() ([]Campaign, error) {
	var out []Campaign
	marker := []byte(`"status":"scheduled"`)
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCampaigns).ForEach(func(k, v []byte) error {
			if !bytes.Contains(v, marker) {
				return nil // most campaigns are not scheduled: no decode
			}
			var c Campaign
			if err := decodeCampaign(v, &c); err != nil {
				return fmt.Errorf("campaign %d: %w", btoi(k), err)
			}
			if c.Status == StatusScheduled && c.Schedule != nil {
				out = append(out, c)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list scheduled campaigns: %w", err)
	}
	return out, nil
}

// ScheduleFailed records why a scheduled start failed, if the campaign is
// still scheduled at version. It does not change the version: the record
// is about the schedule, and a form open on the campaign stays valid.
func (s *Store) ScheduleFailed(actor string, id, version uint64, reason string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCampaigns)
		var c Campaign
		if err := getJSON(b, itob(id), &c); err != nil {
			return err
		}
		if c.Status != StatusScheduled || c.Version != version || c.Schedule == nil {
			return nil // it moved on: nothing to record
		}
		if c.Schedule.Error == reason && c.Schedule.ErrorVersion == version {
			return nil // the same failure again: the record stands
		}
		now := s.now().UTC()
		c.Schedule.Error, c.Schedule.ErrorAt, c.Schedule.ErrorVersion = reason, &now, version
		if err := putJSON(b, itob(id), &c); err != nil {
			return err
		}
		return s.audit(tx, actor, "campaign.schedule_failed", c.ref(), reason)
	})
}
