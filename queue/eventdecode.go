package queue

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// decodeEvents reads what appendEvents writes, without reflection: the
// owner folds every outcome of every send, and encoding/json's decoding
// was most of a fold's time. Anything it does not expect — a field in
// another order, an escape in a string — makes it fail, and the caller
// falls back to encoding/json, which reads any valid batch.
func decodeEvents(s string, out []Event) ([]Event, error) {
	p := eventParser{s: s}
	if !p.byte('[') {
		return nil, errFastPath
	}
	if p.byte(']') {
		return out, p.end()
	}
	for {
		var e Event
		if !p.lit(`{"k":`) {
			return nil, errFastPath
		}
		k, ok := p.uint()
		if !ok {
			return nil, errFastPath
		}
		e.Contact = k
		if p.lit(`,"rd":`) {
			v, ok := p.uint()
			if !ok {
				return nil, errFastPath
			}
			e.Round = int(v)
		}
		if !p.lit(`,"t":`) {
			return nil, errFastPath
		}
		t, ok := p.str()
		if !ok {
			return nil, errFastPath
		}
		e.Type = eventType(t)
		if p.lit(`,"a":`) {
			v, ok := p.uint()
			if !ok {
				return nil, errFastPath
			}
			e.Attempt = int(v)
		}
		if p.lit(`,"r":`) {
			if e.Reason, ok = p.str(); !ok {
				return nil, errFastPath
			}
		}
		if p.lit(`,"re":true`) {
			e.TakenOver = true
		}
		if !p.lit(`,"at":`) {
			return nil, errFastPath
		}
		at, ok := p.str()
		if !ok {
			return nil, errFastPath
		}
		var err error
		if e.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, errFastPath
		}
		if !p.byte('}') {
			return nil, errFastPath
		}
		out = append(out, e)
		if p.byte(']') {
			return out, p.end()
		}
		if !p.byte(',') {
			return nil, errFastPath
		}
	}
}

var errFastPath = errors.New("not the encoder's own form")

// eventType shares the names of the known types instead of a string each.
func eventType(t string) EventType {
	for _, known := range []EventType{EventDelivered, EventFailed, EventRetry, EventReclaimed, EventSkipped} {
		if string(known) == t {
			return known
		}
	}
	return EventType(t)
}

type eventParser struct {
	s string
	i int
}

func (p *eventParser) byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *eventParser) lit(l string) bool {
	if len(p.s)-p.i >= len(l) && p.s[p.i:p.i+len(l)] == l {
		p.i += len(l)
		return true
	}
	return false
}

func (p *eventParser) uint() (uint64, bool) {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	v, err := strconv.ParseUint(p.s[start:p.i], 10, 64)
	return v, err == nil
}

// str reads a string without escapes (one with escapes is left to
// encoding/json).
func (p *eventParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			// encoding/json replaces invalid UTF-8; leave that to it.
			return v, utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

func (p *eventParser) end() error {
	if p.i != len(p.s) {
		return errFastPath
	}
	return nil
}

// parseEvents reads an events entry's batch, by the fast path when it can.
func parseEvents(raw string) ([]Event, error) {
	if events, err := decodeEvents(raw, nil); err == nil {
		return events, nil
	}
	var events []Event
	err := json.Unmarshal([]byte(raw), &events)
	return events, err
}
