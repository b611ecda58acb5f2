package queue

import (
	"encoding/json"
	"fmt"
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
	At      time.Time `json:"at"`
}

// EventBatch is one entry of a campaign's events stream: every outcome a
// worker committed at once.
type EventBatch struct {
	Worker string
	Events []Event
}

func (b *EventBatch) values() ([]any, error) {
	data, err := json.Marshal(b.Events)
	if err != nil {
		return nil, err
	}
	return []any{"w", b.Worker, "e", string(data)}, nil
}

// ParseEventBatch reads an events stream entry.
func ParseEventBatch(values map[string]any) (EventBatch, error) {
	var b EventBatch
	b.Worker, _ = values["w"].(string)
	raw, _ := values["e"].(string)
	if err := json.Unmarshal([]byte(raw), &b.Events); err != nil {
		return b, fmt.Errorf("bad event batch: %w", err)
	}
	return b, nil
}
