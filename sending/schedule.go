package sending

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"tui/internal/english"
	"tui/queue"
	"tui/store"
)

// MissedLimit is how late a scheduled send may start when no process owned
// the database at its time: a send due longer ago than this (yesterday's
// "sale ends tonight") is not started by itself; it stays scheduled with
// the reason, for a person to send or schedule again.
const MissedLimit = 24 * time.Hour

// ScheduleRetryEvery is how often a scheduled start that failed because
// Redis could not be reached is tried again. A preflight that failed is
// tried again only once the campaign has been changed.
const ScheduleRetryEvery = 30 * time.Second

// ScheduleEvent is what the schedule did with one campaign.
type ScheduleEvent struct {
	Campaign store.Campaign
	// Late is set when the start came after the scheduled time because no
	// process owned the database then.
	Late time.Duration
	// Err is why the start failed; the campaign stays scheduled with it.
	Err    error
	Result Result
}

// Message is one sentence for a log or a status line.
func (e ScheduleEvent) Message() string {
	c := e.Campaign
	when := ScheduleText(c.Schedule)
	switch {
	case e.Err != nil:
		return fmt.Sprintf("scheduled send of %q (%s) did not start: %v", c.Name, when, e.Err)
	case e.Late > 0:
		return fmt.Sprintf("started %q, scheduled for %s: no tui owned the database then, so it starts %s late",
			c.Name, when, HumanDuration(e.Late))
	}
	return fmt.Sprintf("started %q as scheduled (%s): %s queued", c.Name, when, english.Count(e.Result.Total, "recipient", "recipients"))
}

// ScheduleText is the schedule's time in its own zone: "Thu 24 Dec 2026
// 09:00 CET (Europe/Paris)".
func ScheduleText(s *store.Schedule) string {
	if s == nil {
		return "not scheduled"
	}
	t := s.At.In(s.Location()).Format("Mon 2 Jan 2006 15:04 MST")
	if s.Zone != "" && !strings.HasSuffix(t, " "+s.Zone) {
		t += " (" + s.Zone + ")"
	}
	return t
}

// TimeLeft says how long until a schedule's time, or how long ago it was:
// "in 2h05m", "in 3 days", "due 4m ago".
func TimeLeft(at, now time.Time) string {
	d := at.Sub(now)
	if d < 0 {
		return "due " + shortDuration(-d) + " ago"
	}
	return "in " + shortDuration(d)
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()+0.5))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// RunSchedule starts scheduled campaigns when their time comes, through the
// same preflight and start as a person's send, until ctx ends. It is run by
// the process that owns the database. A campaign whose time passed before
// this call (no process owned the database then) starts at once and the
// event says how late — unless it is later than MissedLimit. A start that
// fails leaves the campaign scheduled with the reason; nothing is queued.
// It dials Redis only to start a send.
func (s *Service) RunSchedule(ctx context.Context, report func(ScheduleEvent)) {
	began := time.Now()
	retryAt := map[uint64]time.Time{} // Redis was away: not before then
	for ctx.Err() == nil {
		next := time.Second
		due, err := s.Store.ScheduledCampaigns()
		if err == nil {
			now := time.Now()
			for _, c := range due {
				if wait := c.Schedule.At.Sub(now); wait > 0 {
					next = min(next, wait)
					continue
				}
				if t, ok := retryAt[c.ID]; ok && now.Before(t) {
					continue
				}
				if sc := c.Schedule; sc.Error != "" && sc.ErrorVersion == c.Version && sc.ErrorAt != nil && sc.ErrorAt.After(began) {
					if _, transient := retryAt[c.ID]; !transient {
						continue // a preflight failure waits for a change (or the next start)
					}
				}
				delete(retryAt, c.ID)
				ev := s.startScheduled(ctx, c, began, now)
				if ev.Err != nil && isUnreachable(ev.Err) {
					retryAt[c.ID] = time.Now().Add(ScheduleRetryEvery)
				}
				if ctx.Err() != nil {
					return
				}
				if report != nil {
					report(ev)
				}
			}
		}
		t := time.NewTimer(max(next, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func isUnreachable(err error) bool {
	var ue *queue.UnavailableError
	return errors.As(err, &ue) || queue.IsUnreachable(err)
}

// ScheduledLateMark follows the name of who scheduled a send that started
// late, its time missed while no tui owned the database, in the send's
// "started by".
const ScheduledLateMark = "(scheduled, started late)"

// startScheduled runs one due campaign's preflight and start.
func (s *Service) startScheduled(ctx context.Context, c store.Campaign, began, now time.Time) ScheduleEvent {
	ev := ScheduleEvent{Campaign: c}
	late := now.Sub(c.Schedule.At)
	missed := c.Schedule.At.Before(began)
	if missed {
		ev.Late = late
	}
	fail := func(err error) ScheduleEvent {
		ev.Err = err
		_ = s.Store.ScheduleFailed("tui", c.ID, c.Version, err.Error())
		return ev
	}
	if missed && late > MissedLimit {
		return fail(fmt.Errorf("missed: it was due %s ago, while no tui owned the database, and a send more than a day late is not started by itself; send it now with `tui campaign send %d`, or schedule it again",
			HumanDuration(late), c.ID))
	}
	p, err := s.Preflight(ctx, c.ID)
	if err != nil {
		return fail(fmt.Errorf("preflight: %w", err))
	}
	if !p.OK() {
		problem := p.Problem()
		if len(p.Errors) > 0 {
			problem += " (first: " + p.Errors[0].String() + ")"
		}
		return fail(fmt.Errorf("the preflight at the scheduled time blocks the send: %s; nothing was sent — fix the campaign (it stays scheduled and is tried again once changed) or unschedule it", problem))
	}
	actor := c.Schedule.By
	if actor == "" {
		actor = "tui"
	}
	by := actor + " (scheduled)"
	if missed {
		by = actor + " " + ScheduledLateMark
	}
	res, err := s.Start(ctx, by, c.ID, p.Campaign.Version, nil)
	if err != nil {
		if errors.As(err, new(*store.ConflictError)) {
			return fail(fmt.Errorf("the campaign changed during its preflight: %w", err))
		}
		ev.Err = err
		if isUnreachable(err) {
			ev.Err = fmt.Errorf("%w; tried again every %s", err, HumanDuration(ScheduleRetryEvery))
		}
		_ = s.Store.ScheduleFailed("tui", c.ID, c.Version, ev.Err.Error())
		return ev
	}
	ev.Campaign, ev.Result = res.Campaign, res
	return ev
}

// scheduleLayouts are the wall-clock times a schedule is written in.
var scheduleLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"}

// ParseSchedule reads a schedule as people type it in the editor:
// "2026-12-24 09:00 Europe/Paris" — a date, a time, and optionally a time
// zone (this machine's when none is named). A time the zone's clocks skip
// is refused rather than moved.
func ParseSchedule(text string) (time.Time, string, error) {
	fields := strings.Fields(text)
	zone := ""
	if n := len(fields); n >= 2 && (strings.Contains(fields[n-1], "/") || strings.EqualFold(fields[n-1], "UTC")) {
		zone, fields = fields[n-1], fields[:n-1]
	}
	loc := time.Local
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("%q is not a time zone this machine knows: use a name such as Europe/Paris or UTC", zone)
		}
		loc = l
	}
	raw := strings.Join(fields, " ")
	for _, layout := range scheduleLayouts {
		t, err := time.ParseInLocation(layout, raw, loc)
		if err != nil {
			continue
		}
		if t.Format(layout) != raw {
			return time.Time{}, "", fmt.Errorf("%s does not exist in %s: the clocks skip that hour; choose another time", raw, orLocal(zone))
		}
		return t, zone, nil
	}
	return time.Time{}, "", fmt.Errorf("%q is not a date and time: write it as 2026-12-24 09:00, then a time zone such as Europe/Paris if it is not this machine's", text)
}

func orLocal(zone string) string {
	if zone == "" {
		return "this machine's time zone"
	}
	return zone
}

// FormatSchedule writes a schedule as ParseSchedule reads it.
func FormatSchedule(s *store.Schedule) string {
	if s == nil {
		return ""
	}
	t := s.At.In(s.Location()).Format("2006-01-02 15:04")
	if s.Zone != "" {
		t += " " + s.Zone
	}
	return t
}
