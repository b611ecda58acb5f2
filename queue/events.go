package queue

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// EventType is what happened to a delivery.
type EventType string

// The outcomes workers report.
const (
	EventDelivered EventType = "delivered" // final: sent
	EventFailed    EventType = "failed"    // final: failed, with the reason
	EventRetry     EventType = "retry"     // a transient failure; another attempt is scheduled
	EventReclaimed EventType = "reclaimed" // a dead worker's job was taken over
	EventSkipped   EventType = "skipped"   // final: not sent (cancelled, or already done)
)

// Event is one outcome for one recipient.
type Event struct {
	Contact uint64    `json:"k"`
	Round   int       `json:"rd,omitempty"`
	Type    EventType `json:"t"`
	Attempt int       `json:"a,omitempty"`
	Reason  string    `json:"r,omitempty"`
	// TakenOver: the job was taken over from a worker that stopped
	// answering; that worker may have delivered it before.
	TakenOver bool `json:"re,omitempty"`
	// Bounce: the provider refused the address for good (no such
	// mailbox, no such domain): the owner suppresses it.
	Bounce bool      `json:"b,omitempty"`
	At     time.Time `json:"at"`
}

// EventBatch is one entry of a campaign's events stream: every outcome a
// worker committed at once.
type EventBatch struct {
	Worker string
	Events []Event
}

func (b *EventBatch) values() ([]any, error) {
	return []any{"w", b.Worker, "e", appendEvents(make([]byte, 0, 64*len(b.Events)), b.Events)}, nil
}

// appendEvents encodes events as json.Marshal would, without reflection: a
// worker writes one batch per commit at full speed.
func appendEvents(dst []byte, events []Event) []byte {
	dst = append(dst, '[')
	for i := range events {
		e := &events[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"k":`...)
		dst = strconv.AppendUint(dst, e.Contact, 10)
		if e.Round != 0 {
			dst = append(dst, `,"rd":`...)
			dst = strconv.AppendInt(dst, int64(e.Round), 10)
		}
		dst = append(dst, `,"t":`...)
		dst = strconv.AppendQuote(dst, string(e.Type))
		if e.Attempt != 0 {
			dst = append(dst, `,"a":`...)
			dst = strconv.AppendInt(dst, int64(e.Attempt), 10)
		}
		if e.Reason != "" {
			reason, _ := json.Marshal(e.Reason)
			dst = append(dst, `,"r":`...)
			dst = append(dst, reason...)
		}
		if e.TakenOver {
			dst = append(dst, `,"re":true`...)
		}
		if e.Bounce {
			dst = append(dst, `,"b":true`...)
		}
		dst = append(dst, `,"at":"`...)
		dst = e.At.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, `"}`...)
	}
	return append(dst, ']')
}

// ParseEventBatch reads an events stream entry.
func ParseEventBatch(values map[string]any) (EventBatch, error) {
	var b EventBatch
	b.Worker, _ = values["w"].(string)
	raw, _ := values["e"].(string)
	events, err := parseEvents(raw)
	if err != nil {
		return b, fmt.Errorf("bad event batch: %w", err)
	}
	b.Events = events
	return b, nil
}
