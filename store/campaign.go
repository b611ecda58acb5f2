package store

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Status is where a campaign is in its life.
type Status string

// The statuses a campaign moves through; see transitions for the allowed moves.
const (
	StatusDraft     Status = "draft"
	StatusScheduled Status = "scheduled"
	StatusSending   Status = "sending"
	StatusPaused    Status = "paused"
	StatusCompleted Status = "completed"
	StatusCancelled Status = "cancelled"
	StatusFailed    Status = "failed"
)

// Statuses lists every status in display order.
var Statuses = []Status{StatusDraft, StatusScheduled, StatusSending, StatusPaused,
	StatusCompleted, StatusCancelled, StatusFailed}

// transitions is the one table of allowed status moves. SetStatus checks it
// inside the transaction that writes the new status.
var transitions = map[Status][]Status{
	StatusDraft:     {StatusScheduled, StatusSending, StatusCancelled},
	StatusScheduled: {StatusDraft, StatusSending, StatusCancelled},
	StatusSending:   {StatusPaused, StatusCompleted, StatusCancelled, StatusFailed},
	StatusPaused:    {StatusSending, StatusCancelled, StatusFailed},
	StatusCompleted: {StatusSending}, // retry-failed re-opens a finished send
	StatusFailed:    {StatusSending}, // retry-failed after a send that failed as a whole
	StatusCancelled: {},
}

// CanMove reports whether a campaign may move from one status to another.
func CanMove(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Editable reports whether a campaign's content may still change.
func (s Status) Editable() bool { return s == StatusDraft || s == StatusScheduled }

// Phrase is the status as it reads after "is": "a draft", "sending", …
func (s Status) Phrase() string {
	if s == StatusDraft {
		return "a draft"
	}
	return string(s)
}

// Channel is how a campaign's messages are delivered.
type Channel string

// The delivery channels.
const (
	ChannelFile      Channel = "file"
	ChannelSMTP      Channel = "smtp"
	ChannelWebhook   Channel = "webhook"
	ChannelMessenger Channel = "messenger"
)

// Channels lists every channel in display order.
var Channels = []Channel{ChannelFile, ChannelSMTP, ChannelWebhook, ChannelMessenger}

// ParseChannel accepts a channel name.
func ParseChannel(s string) (Channel, error) {
	for _, c := range Channels {
		if string(c) == strings.ToLower(strings.TrimSpace(s)) {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown channel %q: use file, smtp, webhook or messenger", s)
}

// MessagingType is a Messenger message's messaging_type, as the Send API
// names it.
type MessagingType string

// The messaging types of the Send API.
const (
	// MessagingResponse answers a message the person sent, inside the
	// 24-hour standard messaging window.
	MessagingResponse MessagingType = "RESPONSE"
	// MessagingUpdate is sent proactively, inside the 24-hour window.
	MessagingUpdate MessagingType = "UPDATE"
	// MessagingMessageTag is sent with a message tag, which allows a
	// non-promotional update outside the window.
	MessagingMessageTag MessagingType = "MESSAGE_TAG"
)

// MessagingTypes lists the messaging types in the editor's order.
var MessagingTypes = []MessagingType{MessagingUpdate, MessagingResponse, MessagingMessageTag}

// MessageTags are the tags the Send API accepts with MESSAGE_TAG.
var MessageTags = []string{TagAccountUpdate, TagConfirmedEventUpdate, TagPostPurchaseUpdate, TagHumanAgent}

// The message tags.
const (
	TagAccountUpdate        = "ACCOUNT_UPDATE"
	TagConfirmedEventUpdate = "CONFIRMED_EVENT_UPDATE"
	TagPostPurchaseUpdate   = "POST_PURCHASE_UPDATE"
	// TagHumanAgent lets a person reply within 7 days of the user's last
	// message, not 24 hours.
	TagHumanAgent = "HUMAN_AGENT"
)

// ParseMessagingType accepts a messaging type in any case ("" is UPDATE).
func ParseMessagingType(s string) (MessagingType, error) {
	t := MessagingType(strings.ToUpper(strings.TrimSpace(s)))
	if t == "" {
		return "", nil
	}
	for _, known := range MessagingTypes {
		if t == known {
			return t, nil
		}
	}
	return t, fmt.Errorf("unknown messaging type %q: use UPDATE, RESPONSE or MESSAGE_TAG", s)
}

// EffectiveMessagingType is the messaging_type a messenger campaign sends.
func (c *Campaign) EffectiveMessagingType() MessagingType {
	if c.MessagingType == "" {
		return MessagingUpdate
	}
	return c.MessagingType
}

// Campaign is a message and its audience. Secrets never live here: SMTP
// passwords and tokens come from the worker's environment.
type Campaign struct {
	ID          uint64    `json:"id"`
	Name        string    `json:"name"`
	Channel     Channel   `json:"channel"`
	From        string    `json:"from,omitempty"` // smtp sender address
	URL         string    `json:"url,omitempty"`  // webhook URL, or messenger API base URL
	Subject     string    `json:"subject,omitempty"`
	Body        string    `json:"body"`
	Format      string    `json:"format,omitempty"`       // "" (plain text), "markdown" or "html": see BodyFormats
	Tags        []string  `json:"tags"`                   // audience: contacts with any of these; none means everyone
	ExcludeTags []string  `json:"exclude_tags"`           // minus contacts with any of these
	Rate        int       `json:"rate"`                   // messages per second across all workers; 0 is unlimited
	MaxAttempts int       `json:"max_attempts,omitempty"` // tries per recipient before it fails; 0 is DefaultMaxAttempts
	Status      Status    `json:"status"`
	Version     uint64    `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	UpdatedBy   string    `json:"updated_by,omitempty"`
	LastSend    *SendInfo `json:"last_send,omitempty"`

	// MessagingType and MessageTag are the messenger channel's
	// messaging_type and tag; "" means UPDATE (see EffectiveMessagingType).
	MessagingType MessagingType `json:"messaging_type,omitempty"`
	MessageTag    string        `json:"message_tag,omitempty"`

	// Schedule is when a scheduled campaign starts by itself (see
	// schedule.go); it stays after the start, as a record.
	Schedule *Schedule `json:"schedule,omitempty"`
}

// SendInfo summarises a campaign's latest send.
type SendInfo struct {
	StartedAt  time.Time  `json:"started_at"`
	StartedBy  string     `json:"started_by,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Total      int        `json:"total"`
	Sent       int        `json:"sent"`
	Failed     int        `json:"failed"`
}

// FieldError is a validation failure tied to a form field.
type FieldError struct {
	Field string // name, channel, from, url, subject, body, tags, exclude_tags, rate
	Msg   string
	Line  int   // for template errors, 1-based; 0 when unknown
	Col   int   // for template errors, 1-based; 0 when unknown
	Err   error // what it is, for errors.Is (ErrRenderBudget); may be nil
	// StartLine is, for an action left open, the line it started on: the
	// problem shows where the template ends, the cause is here. 0 otherwise.
	StartLine int
}

func (e *FieldError) Unwrap() error { return e.Err }

func (e *FieldError) Error() string {
	msg := e.Msg
	if e.StartLine > 0 {
		msg += fmt.Sprintf(" started on line %d", e.StartLine)
	}
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s: line %d, column %d: %s", e.Field, e.Line, e.Col, msg)
	case e.Line > 0:
		return fmt.Sprintf("%s: line %d: %s", e.Field, e.Line, msg)
	}
	return fmt.Sprintf("%s: %s", e.Field, msg)
}

// ValidationError lists every problem with a campaign at once.
type ValidationError struct{ Fields []*FieldError }

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		msgs[i] = f.Error()
	}
	return "invalid campaign: " + strings.Join(msgs, "; ")
}

// Field returns the first error for a field, or nil.
func (e *ValidationError) Field(name string) *FieldError {
	for _, f := range e.Fields {
		if f.Field == name {
			return f
		}
	}
	return nil
}

// ConflictError means someone else saved the campaign since it was read.
type ConflictError struct {
	Campaign Campaign // the stored version
}

func (e *ConflictError) Error() string {
	by := e.Campaign.UpdatedBy
	if by == "" {
		by = "someone else"
	}
	return fmt.Sprintf("campaign %q was changed by %s at %s after you opened it; reload to see their version",
		e.Campaign.Name, by, e.Campaign.UpdatedAt.Local().Format("15:04:05"))
}

// TransitionError is a refused status move.
type TransitionError struct {
	Name     string
	From, To Status
}

func (e *TransitionError) Error() string {
	msg := fmt.Sprintf("campaign %q is %s and cannot become %s", e.Name, e.From.Phrase(), e.To.Phrase())
	if hint := e.hint(); hint != "" {
		msg += ": " + hint
	}
	return msg
}

// hint says what to do instead, for the refusals people meet.
func (e *TransitionError) hint() string {
	over := e.From == StatusCompleted || e.From == StatusFailed || e.From == StatusCancelled
	switch {
	case over && (e.To == StatusSending || e.To == StatusScheduled):
		h := "a campaign is sent once; duplicate it to send its message again (c in the app, or tui campaign duplicate)"
		if e.From != StatusCancelled {
			h += ", or send again to those it failed with tui campaign retry-failed"
		}
		return h
	case over:
		return "its send is over"
	case e.From == e.To:
		return fmt.Sprintf("it is %s already", e.From.Phrase())
	case e.To == StatusScheduled:
		return "its send has started; pause or cancel it instead"
	case e.To == StatusPaused:
		return "it has not been sent"
	}
	return ""
}

// MaxRate bounds --rate; a higher value is almost certainly a typo.
const MaxRate = 1_000_000

// DefaultMaxAttempts is how often a recipient is tried before it fails,
// unless the campaign says otherwise; MaxAttemptsLimit bounds what it may say.
const (
	DefaultMaxAttempts = 5
	MaxAttemptsLimit   = 20
)

// Attempts is the campaign's tries per recipient.
func (c *Campaign) Attempts() int {
	if c.MaxAttempts > 0 {
		return c.MaxAttempts
	}
	return DefaultMaxAttempts
}

// Normalize trims the campaign's fields and de-duplicates its tags.
func (c *Campaign) Normalize() {
	c.Name = strings.TrimSpace(c.Name)
	c.From = strings.TrimSpace(c.From)
	c.URL = strings.TrimSpace(c.URL)
	c.MessagingType = MessagingType(strings.ToUpper(strings.TrimSpace(string(c.MessagingType))))
	c.MessageTag = strings.ToUpper(strings.TrimSpace(c.MessageTag))
	c.Tags = NormalizeTags(c.Tags)
	c.ExcludeTags = NormalizeTags(c.ExcludeTags)
	c.Format = normalizeFormat(c.Format)
	if strings.TrimSpace(string(c.Channel)) == "" {
		c.Channel = ChannelFile
	}
	// "SMTP" must be stored as smtp, or the channel's own checks and the
	// worker's dispatch would not recognise it.
	if ch, err := ParseChannel(string(c.Channel)); err == nil {
		c.Channel = ch
	}
}

// Validate checks every field and the templates, and reports all problems.
func (c *Campaign) Validate() error {
	var errs []*FieldError
	add := func(field, msg string) { errs = append(errs, &FieldError{Field: field, Msg: msg}) }
	if c.Name == "" {
		add("name", "a name is required")
	} else if len([]rune(c.Name)) > 200 {
		add("name", "at most 200 characters")
	}
	channel, err := ParseChannel(string(c.Channel))
	if err != nil {
		add("channel", err.Error())
	}
	switch channel {
	case ChannelSMTP:
		if c.From == "" {
			add("from", "the smtp channel needs a from address")
		} else if _, err := mail.ParseAddress(c.From); err != nil {
			add("from", fmt.Sprintf("%q is not an email address", c.From))
		}
	case ChannelWebhook:
		if c.URL == "" {
			add("url", "the webhook channel needs a URL")
		} else if err := checkHTTPURL(c.URL); err != nil {
			add("url", err.Error())
		}
	case ChannelMessenger:
		if c.URL != "" {
			if err := checkHTTPURL(c.URL); err != nil {
				add("url", err.Error())
			}
		}
	}
	switch {
	case channel != ChannelMessenger && (c.MessagingType != "" || c.MessageTag != ""):
		add("messaging_type", "only messenger campaigns have a messaging type and a message tag")
	case channel == ChannelMessenger:
		if _, err := ParseMessagingType(string(c.MessagingType)); err != nil {
			add("messaging_type", err.Error())
		}
		switch {
		case c.MessagingType == MessagingMessageTag && c.MessageTag == "":
			add("message_tag", "MESSAGE_TAG needs a message tag: "+strings.Join(MessageTags, ", "))
		case c.MessageTag != "" && c.MessagingType != MessagingMessageTag:
			add("message_tag", "a message tag is sent only with messaging type MESSAGE_TAG")
		case c.MessageTag != "" && !slices.Contains(MessageTags, c.MessageTag):
			add("message_tag", fmt.Sprintf("unknown message tag %q: use %s", c.MessageTag, strings.Join(MessageTags, ", ")))
		}
	}
	if c.MaxAttempts < 0 || c.MaxAttempts > MaxAttemptsLimit {
		add("max_attempts", fmt.Sprintf("attempts per recipient must be between 1 and %d (0: the default, %d)", MaxAttemptsLimit, DefaultMaxAttempts))
	}
	if c.Rate < 0 || c.Rate > MaxRate {
		add("rate", fmt.Sprintf("messages per second must be between 0 (no limit) and %d", MaxRate))
	}
	if strings.TrimSpace(c.Body) == "" {
		add("body", "a body is required")
	}
	for _, f := range []struct{ name, value string }{{"name", c.Name}, {"from", c.From}, {"url", c.URL},
		{"subject", c.Subject}, {"body", c.Body}, {"tags", strings.Join(c.Tags, ",")}, {"exclude_tags", strings.Join(c.ExcludeTags, ",")}} {
		if p := textProblem(f.value); p != "" {
			add(f.name, p)
		}
	}
	if len(c.Body) > MaxBodyBytes {
		add("body", fmt.Sprintf("the body is longer than %s; a message that large will not be delivered", byteSize(MaxBodyBytes)))
	}
	if fe := checkFormat(c.Format); fe != nil {
		errs = append(errs, fe)
	}
	templatesOK := true
	if fe := CheckTemplate("subject", c.Subject); fe != nil {
		errs, templatesOK = append(errs, fe), false
	}
	if fe := CheckTemplate("body", c.Body); fe != nil {
		errs, templatesOK = append(errs, fe), false
	}
	if templatesOK && len(c.Body) <= MaxBodyBytes {
		if fe := checkRenderBudget(c); fe != nil {
			errs = append(errs, fe)
		}
	}
	for _, t := range c.Tags {
		for _, x := range c.ExcludeTags {
			if t == x {
				add("exclude_tags", fmt.Sprintf("tag %q is both included and excluded", t))
			}
		}
	}
	if len(errs) > 0 {
		return &ValidationError{Fields: errs}
	}
	return nil
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if u.User != nil {
		return errors.New("put credentials in the worker's environment, not in the URL")
	}
	return nil
}

// CreateCampaign validates c and stores it as a new draft. It sets ID,
// Status, Version and timestamps.
func (s *Store) CreateCampaign(actor string, c Campaign) (Campaign, error) {
	c.Normalize()
	if err := c.Validate(); err != nil {
		return Campaign{}, err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCampaigns)
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		now := s.now().UTC()
		c.ID, c.Status, c.Version = id, StatusDraft, 1
		c.CreatedAt, c.UpdatedAt, c.UpdatedBy = now, now, actor
		c.LastSend, c.Schedule = nil, nil
		if err := putJSON(b, itob(id), &c); err != nil {
			return err
		}
		if err := addUint(tx.Bucket(bucketMeta), keyCampaignCount, 1); err != nil {
			return err
		}
		return s.audit(tx, actor, "campaign.create", c.ref(), "")
	})
	if err != nil {
		return Campaign{}, fmt.Errorf("create campaign: %w", err)
	}
	return c, nil
}

func (c *Campaign) ref() string { return fmt.Sprintf("campaign %d %q", c.ID, c.Name) }

// UpdateCampaign saves an edited campaign. c.Version must be the version that
// was read; if someone saved in between, it returns a *ConflictError and
// changes nothing. Only draft and scheduled campaigns may be edited.
func (s *Store) UpdateCampaign(actor string, c Campaign) (Campaign, error) {
	c.Normalize()
	if err := c.Validate(); err != nil {
		return Campaign{}, err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCampaigns)
		var cur Campaign
		if err := getJSON(b, itob(c.ID), &cur); err != nil {
			return err
		}
		if cur.Version != c.Version {
			return &ConflictError{Campaign: cur}
		}
		if !cur.Status.Editable() {
			return fmt.Errorf("campaign %q is %s; only draft and scheduled campaigns can be edited (duplicate it to change the message)", cur.Name, cur.Status)
		}
		// Fields the editor does not own stay as stored. A schedule whose
		// start failed is tried again once the campaign has changed.
		c.Status, c.CreatedAt, c.LastSend, c.Schedule = cur.Status, cur.CreatedAt, cur.LastSend, cur.Schedule.retried()
		c.Version = cur.Version + 1
		c.UpdatedAt, c.UpdatedBy = s.now().UTC(), actor
		if err := putJSON(b, itob(c.ID), &c); err != nil {
			return err
		}
		return s.audit(tx, actor, "campaign.update", c.ref(), "")
	})
	if err != nil {
		return Campaign{}, fmt.Errorf("save campaign: %w", err)
	}
	return c, nil
}

// DuplicateCampaign copies a campaign into a new draft named "Copy of …".
func (s *Store) DuplicateCampaign(actor string, id uint64) (Campaign, error) {
	src, err := s.Campaign(id)
	if err != nil {
		return Campaign{}, err
	}
	cp := src
	cp.Name = "Copy of " + src.Name
	if r := []rune(cp.Name); len(r) > 200 {
		cp.Name = string(r[:200])
	}
	cp.Tags = append([]string(nil), src.Tags...)
	cp.ExcludeTags = append([]string(nil), src.ExcludeTags...)
	return s.CreateCampaign(actor, cp)
}

// DeleteCampaign removes a campaign and its ledger. A campaign that is sending
// or paused must be cancelled first. version 0 skips the conflict check.
func (s *Store) DeleteCampaign(actor string, id, version uint64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCampaigns)
		var cur Campaign
		if err := getJSON(b, itob(id), &cur); err != nil {
			return err
		}
		if version != 0 && cur.Version != version {
			return &ConflictError{Campaign: cur}
		}
		if cur.Status == StatusSending || cur.Status == StatusPaused {
			return fmt.Errorf("campaign %q is %s; cancel the send before deleting it", cur.Name, cur.Status)
		}
		if err := b.Delete(itob(id)); err != nil {
			return err
		}
		if tx.Bucket(bucketLedger).Bucket(itob(id)) != nil {
			if err := tx.Bucket(bucketLedger).DeleteBucket(itob(id)); err != nil {
				return err
			}
		}
		if err := addUint(tx.Bucket(bucketMeta), keyCampaignCount, -1); err != nil {
			return err
		}
		return s.audit(tx, actor, "campaign.delete", cur.ref(), "")
	})
	if err != nil {
		return fmt.Errorf("delete campaign %d: %w", id, err)
	}
	return nil
}

// SetStatus moves a campaign to a new status if the transition table allows
// it, checked and written in one transaction.
func (s *Store) SetStatus(actor string, id uint64, to Status) (Campaign, error) {
	var c Campaign
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		c, err = s.setStatusTx(tx, actor, id, to)
		return err
	})
	if err != nil {
		return Campaign{}, fmt.Errorf("change campaign %d status: %w", id, err)
	}
	return c, nil
}

func (s *Store) setStatusTx(tx *bolt.Tx, actor string, id uint64, to Status) (Campaign, error) {
	b := tx.Bucket(bucketCampaigns)
	var c Campaign
	if err := getJSON(b, itob(id), &c); err != nil {
		return c, err
	}
	if !CanMove(c.Status, to) {
		return c, &TransitionError{Name: c.Name, From: c.Status, To: to}
	}
	from := c.Status
	now := s.now().UTC()
	c.Status, c.Version, c.UpdatedAt, c.UpdatedBy = to, c.Version+1, now, actor
	if err := putJSON(b, itob(id), &c); err != nil {
		return c, err
	}
	return c, s.audit(tx, actor, "campaign.status", c.ref(), fmt.Sprintf("%s → %s", from, to))
}

// Campaign reads one campaign.
func (s *Store) Campaign(id uint64) (Campaign, error) {
	var c Campaign
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketCampaigns).Get(itob(id))
		if raw == nil {
			return ErrNotFound
		}
		return decodeCampaign(raw, &c)
	})
	if err != nil {
		return Campaign{}, fmt.Errorf("read campaign %d: %w", id, err)
	}
	return c, nil
}

// Campaigns lists every campaign, newest first.
func (s *Store) Campaigns() ([]Campaign, error) {
	var out []Campaign
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCampaigns)
		out = make([]Campaign, 0, getUint(tx.Bucket(bucketMeta), keyCampaignCount))
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var cp Campaign
			if err := decodeCampaign(v, &cp); err != nil {
				return fmt.Errorf("campaign %d: %w", btoi(k), err)
			}
			out = append(out, cp)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	return out, nil
}

// NormalizeTags lower-cases, trims and de-duplicates tags and sorts them.
// Commas and spaces separate tags in a single string.
func NormalizeTags(tags []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, t := range tags {
		for _, f := range strings.FieldsFunc(t, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
			f = strings.ToLower(strings.TrimSpace(f))
			if f != "" && !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	sort.Strings(out)
	return out
}
