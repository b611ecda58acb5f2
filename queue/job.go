package queue

import (
	"errors"
	"fmt"
	"strconv"
)

// Job is one delivery: everything a worker needs, and never a secret
// (passwords and tokens come from the worker's own environment).
type Job struct {
	CampaignID uint64
	ContactID  uint64
	Round      int
	To         string
	Channel    string
	From       string // smtp sender
	URL        string // webhook URL or messenger API base
	Subject    string
	Body       string
	Attempt    int // 1 for the first try; a retry is re-queued with the next number
	// Redelivery marks a job that may have reached the recipient before: it
	// was taken over from a worker that stopped answering, or queued again
	// after Redis lost the queue. Channels pass the mark on, and the ledger
	// counts the recipient as possibly delivered twice.
	Redelivery bool
	// TakenOver: the job was taken over from a worker that stopped
	// answering while holding it (a Redelivery too).
	TakenOver bool
	// Epoch is the queue epoch the job was queued in (see Control.Epoch).
	Epoch string

	// Messenger's recipient kind ("psid" or "phone"), messaging_type and
	// tag; empty for the other channels.
	Kind          string
	MessagingType string
	Tag           string
	// Format is how Body is written: "" or "text", "markdown", "html".
	// Channels that carry HTML build the parts from it.
	Format string
	// Unsubscribe is the recipient's signed one-click unsubscribe URL, and
	// UnsubscribeMailto a mailto: URI for the same, when configured.
	Unsubscribe       string
	UnsubscribeMailto string
	// Test marks a test send: delivered once, outside any campaign's queue.
	Test bool
}

// Key is the idempotency key: campaignID:contactID, the same on every
// attempt and every re-delivery.
func (j *Job) Key() string {
	b := make([]byte, 0, 24)
	b = strconv.AppendUint(b, j.CampaignID, 10)
	b = append(b, ':')
	return string(strconv.AppendUint(b, j.ContactID, 10))
}

// StreamID is the job's entry ID in its campaign's stream: round-contactID.
// Redis refuses an ID that is not above the stream's last one, so enqueueing
// a recipient twice in a round is impossible, even after a crash.
func (j *Job) StreamID() string {
	b := make([]byte, 0, 24)
	b = strconv.AppendInt(b, int64(j.Round), 10)
	b = append(b, '-')
	return string(strconv.AppendUint(b, j.ContactID, 10))
}

// values is the stream entry's field list: the job, packed.
func (j *Job) values() []any {
	return []any{JobField, string(j.appendPacked(nil))}
}

// ParseJob reads a job back from a stream entry of a campaign's stream:
// packed in JobField, or (queued by an older tui) one field per value.
func ParseJob(campaignID uint64, id string, values map[string]any) (Job, error) {
	if packed, ok := values[JobField].(string); ok {
		return parsePackedJob(campaignID, id, packed)
	}
	f := jobFields{j: Job{CampaignID: campaignID, Attempt: 1}}
	for k, v := range values {
		if s, ok := v.(string); ok {
			f.set(k, s)
		}
	}
	return f.job(id)
}

// parsePackedJob reads a job packed in JobField's value; its fields are
// slices of packed.
func parsePackedJob(campaignID uint64, id, packed string) (Job, error) {
	f := jobFields{j: Job{CampaignID: campaignID, Attempt: 1}}
	if err := unpack(packed, f.set); err != nil {
		return f.j, fmt.Errorf("job %s: %w", id, err)
	}
	return f.job(id)
}

// jobFields gathers a job's fields as they are read, in any order.
type jobFields struct {
	j                                    Job
	key, contact, round, attempt, redlvy string
}

func (f *jobFields) set(name, value string) {
	j := &f.j
	switch name {
	case "key":
		f.key = value
	case "contact":
		f.contact = value
	case "round":
		f.round = value
	case "attempt":
		f.attempt = value
	case "to":
		j.To = value
	case "channel":
		j.Channel = value
	case "subject":
		j.Subject = value
	case "body":
		j.Body = value
	case "from":
		j.From = value
	case "url":
		j.URL = value
	case "redelivery":
		f.redlvy = value
	case "epoch":
		j.Epoch = value
	case "kind":
		j.Kind = value
	case "mtype":
		j.MessagingType = value
	case "tag":
		j.Tag = value
	case "format":
		j.Format = value
	case "unsub":
		j.Unsubscribe = value
	case "unsub_mailto":
		j.UnsubscribeMailto = value
	case "test":
		j.Test = value == "1"
	}
}

// job checks what was read and returns the job.
func (f *jobFields) job(id string) (Job, error) {
	j := f.j
	// Retries are re-queued with Redis-made IDs; the fields are the truth.
	contact, err1 := strconv.ParseUint(f.contact, 10, 64)
	round, err2 := strconv.Atoi(f.round)
	if err1 != nil || err2 != nil {
		return j, fmt.Errorf("job %s: missing contact or round", id)
	}
	j.Round, j.ContactID = round, contact
	if a, err := strconv.Atoi(f.attempt); err == nil && a > 0 {
		j.Attempt = a
	}
	switch f.redlvy {
	case "":
	case "takeover":
		j.Redelivery, j.TakenOver = true, true
	default:
		j.Redelivery = true
	}
	if j.To == "" || j.Channel == "" {
		return j, errors.New("job " + id + ": missing to or channel")
	}
	// The expected key is built on the stack: this runs for every job read.
	var kb [48]byte
	want := strconv.AppendUint(append(strconv.AppendUint(kb[:0], j.CampaignID, 10), ':'), contact, 10)
	if f.key != string(want) {
		return j, fmt.Errorf("job %s: key %q does not match %d:%d", id, f.key, j.CampaignID, contact)
	}
	return j, nil
}

// parseStreamID splits "ms-seq".
func parseStreamID(id string) (ms, seq uint64, err error) {
	for i := 0; i < len(id); i++ {
		if id[i] == '-' {
			if ms, err = strconv.ParseUint(id[:i], 10, 64); err != nil {
				return 0, 0, err
			}
			seq, err = strconv.ParseUint(id[i+1:], 10, 64)
			return ms, seq, err
		}
	}
	return 0, 0, fmt.Errorf("stream ID %q has no '-'", id)
}

// redeliveryField is the stream field of a possible redelivery (why), or
// "" for a job that is none.
func (j *Job) redeliveryField() string {
	switch {
	case !j.Redelivery:
		return ""
	case j.TakenOver:
		return "takeover"
	}
	return "1"
}
