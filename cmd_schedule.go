package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tui/sending"
	"tui/store"
)

// scheduleLayouts are the times --at accepts without an offset; --tz (or
// TZ, or the machine's zone) says where.
var scheduleLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"}

// scheduleZone is the zone a time is given in: --tz, else the caller's TZ,
// else this machine's. The name is what the campaign shows ("" when the
// machine's zone has no name tui can find).
func scheduleZone(e *env, tz string) (*time.Location, string, error) {
	name := strings.TrimSpace(tz)
	if name == "" {
		name = strings.TrimPrefix(e.getenv("TZ"), ":")
	}
	if name == "" {
		return time.Local, localZoneName(), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, "", usagef("--tz %q is not a time zone this machine knows: use an IANA name such as Europe/Paris, America/New_York or UTC", name)
	}
	return loc, name, nil
}

// localZoneName is the IANA name of this machine's zone, read from the
// /etc/localtime link, or "".
func localZoneName() string {
	target, err := os.Readlink("/etc/localtime")
	if err != nil {
		return ""
	}
	if _, after, ok := strings.Cut(target, "zoneinfo/"); ok {
		return after
	}
	return filepath.Base(target)
}

// parseScheduleTime reads --at in loc. A time with an offset (RFC 3339)
// is that instant. A wall-clock time the zone skips (the hour clocks jump
// over in spring) is refused rather than moved.
func parseScheduleTime(raw string, loc *time.Location, zone string) (time.Time, error) {
	raw = strings.TrimSpace(raw)
	if t, err := time.Parse(time.RFC3339, raw); err == nil {
		return t, nil
	}
	for _, layout := range scheduleLayouts {
		t, err := time.ParseInLocation(layout, raw, loc)
		if err != nil {
			continue
		}
		if t.Format(layout) != raw {
			where := zone
			if where == "" {
				where = "this machine's time zone"
			}
			return time.Time{}, usagef("--at %s does not exist in %s (the clocks skip that hour); choose another time", raw, where)
		}
		return t, nil
	}
	return time.Time{}, usagef("--at %q is not a time: use 2026-12-24T09:00 (with --tz ZONE, else the local zone) or 2026-12-24T09:00:00+01:00", raw)
}

func campaignSchedule(e *env, g *globals, args []string) error {
	fs := newFlagSet(e, "campaign schedule")
	g.register(fs)
	at := fs.String("at", "", "when: 2026-12-24T09:00")
	tz := fs.String("tz", "", "the time zone of --at: Europe/Paris (default TZ, else this machine's)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("campaign schedule needs exactly one campaign ID and --at TIME")
	}
	id, err := parseID(pos[0])
	if err != nil {
		return err
	}
	if strings.TrimSpace(*at) == "" {
		return usagef("campaign schedule needs --at TIME, such as --at 2026-12-24T09:00 --tz Europe/Paris")
	}
	loc, zone, err := scheduleZone(e, *tz)
	if err != nil {
		return err
	}
	when, err := parseScheduleTime(*at, loc, zone)
	if err != nil {
		return err
	}
	svc, closeAll, err := sendService(e, g)
	if err != nil {
		return err
	}
	defer closeAll()
	if _, err := findCampaign(svc.Store, id); err != nil {
		return err
	}
	if !when.After(time.Now()) {
		return usagef("--at %s is in the past (it is now %s): give a time to come, or send it now with `tui campaign send %d`",
			when.In(loc).Format("2006-01-02 15:04 MST"), time.Now().In(loc).Format("2006-01-02 15:04 MST"), id)
	}
	c, err := svc.Store.ScheduleCampaign(e.actor(), id, when, zone)
	if errors.Is(err, store.ErrInThePast) {
		return usagef("--at %s is in the past: give a time to come", *at)
	}
	if err := validationFailure("scheduled", err); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Scheduled %q for %s, %s.\n", c.Name, sending.ScheduleText(c.Schedule), sending.TimeLeft(when, time.Now()))
	if p, err := svc.Preflight(e.ctx, id); err == nil && !p.OK() {
		fmt.Fprintf(e.stderr, "Warning: the preflight fails now: %s. It runs again at that time, and the send starts only if it passes.\n", p.Problem())
	}
	if e.owned == nil {
		fmt.Fprintf(e.stderr, "No tui owns this database now: the send starts in whichever does at that time (tui serve, tui --ssh or the app); if none does, the next one to start sends it, up to a day late.\n")
	}
	return nil
}

func campaignUnschedule(e *env, g *globals, args []string) error {
	svc, c, closeAll, err := oneCampaign(e, g, "unschedule", args, nil)
	if err != nil {
		return err
	}
	defer closeAll()
	if _, err := svc.Store.UnscheduleCampaign(e.actor(), c.ID); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "%q is no longer scheduled; it is a draft again.\n", c.Name)
	return nil
}

// campaignDuplicate copies a campaign into a new draft, as c does in the
// app: the way to send a finished campaign's message again.
func campaignDuplicate(e *env, g *globals, args []string) error {
	svc, c, closeAll, err := oneCampaign(e, g, "duplicate", args, nil)
	if err != nil {
		return err
	}
	defer closeAll()
	d, err := svc.Store.DuplicateCampaign(e.actor(), c.ID)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, d.ID)
	fmt.Fprintf(e.stderr, "Copied %q into the draft %q (ID %d); edit it with `tui campaign edit %d`, send it with `tui campaign send %d`.\n",
		c.Name, d.Name, d.ID, d.ID, d.ID)
	return nil
}

// scheduleJSON is the stable --json shape of a campaign's schedule.
type scheduleJSON struct {
	At      time.Time  `json:"at"`
	Local   string     `json:"local"` // the time in its zone, RFC 3339 with offset
	Zone    string     `json:"zone"`
	By      string     `json:"by"`
	Error   string     `json:"error"`
	ErrorAt *time.Time `json:"error_at"`
}

func toScheduleJSON(s *store.Schedule) *scheduleJSON {
	if s == nil {
		return nil
	}
	return &scheduleJSON{At: s.At.UTC(), Local: s.At.In(s.Location()).Format(time.RFC3339), Zone: s.Zone, By: s.By,
		Error: s.Error, ErrorAt: s.ErrorAt}
}

// statusText is a campaign's status for a table: a scheduled one says
// when, or that its start failed.
func statusText(c *store.Campaign, now time.Time) string {
	if c.Status != store.StatusScheduled || c.Schedule == nil {
		return string(c.Status)
	}
	if c.Schedule.Error != "" {
		return "scheduled (start failed)"
	}
	return "scheduled (" + sending.TimeLeft(c.Schedule.At, now) + ")"
}

// scheduleLine says when a campaign starts (or started, and how late), for
// `campaign show`; "" when it has no schedule.
func scheduleLine(c *store.Campaign, now time.Time) string {
	s := c.Schedule
	if s == nil {
		return ""
	}
	when := sending.ScheduleText(s)
	switch {
	case c.Status == store.StatusScheduled && s.Error != "":
		return when + " — the start failed: " + s.Error
	case c.Status == store.StatusScheduled:
		return when + ", " + sending.TimeLeft(s.At, now)
	case c.LastSend != nil && (strings.HasSuffix(c.LastSend.StartedBy, sending.ScheduledLateMark) || c.LastSend.StartedAt.Sub(s.At) > time.Minute):
		return when + "; started " + sending.HumanDuration(c.LastSend.StartedAt.Sub(s.At)) + " late"
	}
	return when + "; started on time"
}
