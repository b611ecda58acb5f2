package ui

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"tui/queue"
)

// The Redis indicator: the connection pushes its state to every subscriber;
// the App reads one state at a time with a command that it issues again
// after each, so the status bar and the live panes always show the latest.
// Subscribing reads state only: it never dials.

// redisStatusMsg carries the connection's newest state.
type redisStatusMsg struct{ status queue.Status }

// waitRedisStatus reads the next state, or nothing once the session ends.
func waitRedisStatus(ctx context.Context, ch <-chan queue.Status) tea.Cmd {
	return func() tea.Msg {
		select {
		case s := <-ch:
			return redisStatusMsg{status: s}
		case <-ctx.Done():
			return nil
		}
	}
}

// formatRTT shows a round trip the way people read it: 0.4 ms, 12 ms, 1.2 s.
func formatRTT(d time.Duration) string {
	switch {
	case d <= 0:
		return "<0.1 ms"
	case d < 100*time.Microsecond:
		return "<0.1 ms"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond)/time.Millisecond)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// formatWait shows the time to the next reconnect attempt: 0.5s, 4s.
func formatWait(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// redisTexts returns the indicator from the most to the least detailed, so
// a narrow terminal still says what matters. The first names the redacted
// URL; the status bar gives it up before anything else.
func redisTexts(s queue.Status) []string {
	var texts []string
	switch s.State {
	case queue.Idle:
		texts = []string{"redis: not connected — dials when a send starts", "redis: idle — dials on send", "redis: idle"}
	case queue.Dialling:
		texts = []string{"redis: dialling…"}
	case queue.Connected:
		texts = []string{"redis: connected (" + formatRTT(s.RTT) + ")", "redis: connected"}
	case queue.Reconnecting:
		texts = []string{
			fmt.Sprintf("redis: reconnecting (attempt %d, next in %s): %s", s.Attempt, formatWait(s.NextTry), s.Err),
			fmt.Sprintf("redis: reconnecting (attempt %d)", s.Attempt),
			"redis: reconnecting",
		}
	case queue.Unavailable:
		texts = []string{"redis: unavailable: " + s.Err, "redis: unavailable (see !)", "redis: unavailable"}
	default:
		texts = []string{"redis: " + s.State.String()}
	}
	if s.URL == "" {
		return texts
	}
	return append([]string{texts[0] + " · " + s.URL}, texts...)
}

// redisLost reports whether a connection that was up is down now: live
// panes then say so and keep their last numbers.
func redisLost(s queue.Status) bool {
	return s.State == queue.Reconnecting || s.State == queue.Unavailable
}
