// Package queue is tui's link to Redis. Nothing in it dials until a send
// starts; until then the connection is Idle and says so.
package queue

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ConnState is the life of the lazy Redis connection.
type ConnState int

// The connection states, in the order a connection usually passes them.
const (
	Idle         ConnState = iota // never dialled: dials when a send starts
	Dialling                      // first dial in progress
	Connected                     // up; RTT is fresh
	Reconnecting                  // lost; retrying with backoff
	Unavailable                   // could not connect; Err says why
)

func (s ConnState) String() string {
	switch s {
	case Idle:
		return "idle"
	case Dialling:
		return "dialling"
	case Connected:
		return "connected"
	case Reconnecting:
		return "reconnecting"
	case Unavailable:
		return "unavailable"
	}
	return fmt.Sprintf("ConnState(%d)", int(s))
}

// Status is a snapshot of the connection for display.
type Status struct {
	State   ConnState
	URL     string        // redacted: safe to show
	RTT     time.Duration // when Connected
	Attempt int           // when Reconnecting
	NextTry time.Duration // when Reconnecting
	Err     string        // when Reconnecting or Unavailable; redacted
}

// IdleStatus is the state of a connection that has never been needed.
func IdleStatus(rawURL string) Status { return Status{State: Idle, URL: RedactURL(rawURL)} }

// Describe is the indicator's text: short, and honest about what happens next.
func (s Status) Describe() string {
	switch s.State {
	case Idle:
		return "not connected — dials when a send starts"
	case Dialling:
		return "dialling " + s.URL + "…"
	case Connected:
		return fmt.Sprintf("connected %s (%s)", s.URL, roundRTT(s.RTT))
	case Reconnecting:
		return fmt.Sprintf("reconnecting (attempt %d, next in %s): %s", s.Attempt, s.NextTry.Round(time.Second), s.Err)
	case Unavailable:
		return "unavailable: " + s.Err
	}
	return s.State.String()
}

func roundRTT(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// DefaultURL is where Redis is looked for when neither --redis nor REDIS_URL
// says otherwise.
const DefaultURL = "redis://localhost:6379/0"

// RedactURL hides the password of a redis:// URL (and any query parameter
// that looks like a secret) so it can be shown and logged.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Unparseable: show the scheme and host part only if we can find them.
		if at := strings.LastIndex(raw, "@"); at >= 0 {
			if i := strings.Index(raw, "://"); i >= 0 && i < at {
				return raw[:i+3] + "xxxxx@" + raw[at+1:]
			}
			return "xxxxx@" + raw[at+1:]
		}
		return raw
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	for k := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "pass") || strings.Contains(lk, "secret") || strings.Contains(lk, "token") {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
