package sending

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"tui/internal/english"
	"tui/store"
)

// MaxReportedErrors bounds the recipient errors a preflight keeps; the count
// stays exact.
const MaxReportedErrors = 100

// RecipientError is a message that cannot be rendered for one contact.
type RecipientError struct {
	ContactID uint64
	Address   string
	Err       error // usually a *store.FieldError with line and column
}

func (e RecipientError) String() string { return fmt.Sprintf("%s: %v", e.Address, e.Err) }

// Preflight is what a send would do, checked before anything changes.
type Preflight struct {
	Campaign   store.Campaign
	Recipients int
	Errors     []RecipientError // the first MaxReportedErrors, in contact order
	ErrorCount int              // every recipient that blocks the send
	Estimate   time.Duration    // at the campaign's rate; 0 when unlimited
	Sample     *store.Message
	SampleTo   string

	// LeftOut are the contacts with the campaign's tags whose address its
	// channel cannot reach: they are not recipients, and the preflight
	// says how many and why.
	LeftOut []store.Unreachable

	// The causes of ErrorCount, for the messenger channel's checks.
	RenderErrors int // templates that cannot be rendered
	TooLong      int // messenger: texts over MessengerTextLimit
	BadWindow    int // messenger: a last_interaction_at that is not a time

	// Messenger's messaging window: recipients whose last_interaction_at
	// is older than the window, and those without one. Outside the
	// window only MESSAGE_TAG reaches them: without it they block the send.
	OutsideWindow int
	WindowUnknown int
	// SampleUnsubscribe is the sample's one-click link ("" without one).
	SampleUnsubscribe string
	// Suppressed counts the contacts left out by the suppression list, by
	// source (store.SourceUnsubscribe, store.SourceBounce, "" by hand).
	Suppressed map[string]int
	// Warnings are things worth knowing that do not block the send.
	Warnings []string

	// OverBudget is set when a message went over the render budget: the
	// preflight stopped there (every other message would most likely cost
	// as much), so Recipients counts only the contacts read until then.
	OverBudget bool
}

// MessengerTextLimit is the longest text the Send API takes, in characters.
const MessengerTextLimit = 2000

// WindowField is the contact field that says when the person last wrote
// to the Page, which opens Messenger's 24-hour standard messaging window.
const WindowField = "last_interaction_at"

// Messenger's messaging windows: a message without a tag must be sent
// within 24 hours of the person's last message; HUMAN_AGENT within 7 days.
const (
	StandardWindow   = 24 * time.Hour
	HumanAgentWindow = 7 * 24 * time.Hour
)

// window is how long after the person's last message the campaign's
// messages may go.
func window(c *store.Campaign) time.Duration {
	if c.MessageTag == store.TagHumanAgent {
		return HumanAgentWindow
	}
	return StandardWindow
}

// needsWindow reports whether the campaign's messages can reach only those
// inside a messaging window: all but MESSAGE_TAG with a tag other than
// HUMAN_AGENT.
func needsWindow(c *store.Campaign) bool {
	return c.EffectiveMessagingType() != store.MessagingMessageTag || c.MessageTag == store.TagHumanAgent
}

// SuppressedText says who the suppression list left out, or "".
func (p *Preflight) SuppressedText() string {
	total := 0
	for _, n := range p.Suppressed {
		total += n
	}
	if total == 0 {
		return ""
	}
	var parts []string
	for _, k := range []struct{ src, word string }{{store.SourceUnsubscribe, "unsubscribed"}, {store.SourceBounce, "bounced"}, {"", "suppressed by hand"}} {
		if n := p.Suppressed[k.src]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k.word))
		}
	}
	return fmt.Sprintf("%d left out by the suppression list (%s)", total, strings.Join(parts, ", "))
}

// OK reports whether the send may start.
func (p *Preflight) OK() bool { return p.ErrorCount == 0 && p.Recipients > 0 }

// Problem is the reason the send may not start, or "".
func (p *Preflight) Problem() string {
	if p.Recipients == 0 {
		if n := p.leftOutCount(); n > 0 {
			return fmt.Sprintf("nobody in the audience can be reached on the %s channel (%s): change the channel, or the campaign's tags",
				p.Campaign.Channel, p.LeftOutText())
		}
		return "the audience is empty: import contacts with the campaign's tags, or change its tags"
	}
	if p.OverBudget {
		return "the template goes over the render budget (see the error); the check stopped there: fix the template"
	}
	if p.ErrorCount == 0 {
		return ""
	}
	var causes []string
	if p.RenderErrors > 0 {
		causes = append(causes, fmt.Sprintf("%d of %d messages cannot be rendered; fix the template or the contacts' fields", p.RenderErrors, p.Recipients))
	}
	if p.TooLong > 0 {
		causes = append(causes, fmt.Sprintf("%d of %d messages are longer than the %d characters Messenger takes in one text; shorten the subject or the body",
			p.TooLong, p.Recipients, MessengerTextLimit))
	}
	if p.BadWindow > 0 {
		causes = append(causes, recipientsVerb(p.BadWindow, "has a "+WindowField+" that is not a time", "have a "+WindowField+" that is not a time")+
			" (use 2025-03-01T09:30:00Z, 2025-03-01 09:30 or Unix seconds)")
	}
	if p.OutsideWindow > 0 && needsWindow(&p.Campaign) {
		causes = append(causes, p.windowSentence())
	}
	if len(causes) == 0 {
		return fmt.Sprintf("%d of %d recipients cannot be sent to", p.ErrorCount, p.Recipients)
	}
	return strings.Join(causes, "; ")
}

// windowSentence says how many recipients are outside Messenger's messaging
// window and what reaches them.
func (p *Preflight) windowSentence() string {
	c := &p.Campaign
	if c.MessageTag == store.TagHumanAgent {
		return fmt.Sprintf("%d of %d recipients last wrote to the Page more than 7 days ago (%s), past what HUMAN_AGENT allows: the campaign needs another message tag (%s), or leave them out",
			p.OutsideWindow, p.Recipients, WindowField, otherTags())
	}
	return fmt.Sprintf("%d of %d recipients last wrote to the Page more than 24 hours ago (%s), outside Messenger's standard messaging window: the campaign needs a message tag — messaging type MESSAGE_TAG with %s — or leave them out",
		p.OutsideWindow, p.Recipients, WindowField, otherTags())
}

func otherTags() string {
	var tags []string
	for _, t := range store.MessageTags {
		if t != store.TagHumanAgent {
			tags = append(tags, t)
		}
	}
	return strings.Join(tags, ", ") + " or " + store.TagHumanAgent
}

// WindowNote says, when no recipient blocks the send for it, how the
// messaging window stands: how many are outside it and what reaches them,
// and how many could not be checked. "" when there is nothing to say.
func (p *Preflight) WindowNote() string {
	if p.Campaign.Channel != store.ChannelMessenger {
		return ""
	}
	var parts []string
	if p.OutsideWindow > 0 && !needsWindow(&p.Campaign) {
		parts = append(parts, fmt.Sprintf("%s outside the 24-hour window; the %s tag reaches them", recipientsVerb(p.OutsideWindow, "is", "are"), p.Campaign.MessageTag))
	}
	if p.WindowUnknown > 0 && needsWindow(&p.Campaign) {
		parts = append(parts, fmt.Sprintf("%s no %s, so whether they are inside the messaging window is not known: Messenger refuses those outside it (10/2018278)",
			recipientsVerb(p.WindowUnknown, "has", "have"), WindowField))
	}
	return strings.Join(parts, "; ")
}

func (p *Preflight) leftOutCount() int {
	n := 0
	for _, u := range p.LeftOut {
		n += u.Count
	}
	return n
}

// LeftOutText says how many contacts the channel leaves out and why.
func (p *Preflight) LeftOutText() string {
	var parts []string
	for _, u := range p.LeftOut {
		noun := "contacts"
		if u.Count == 1 {
			noun = "contact"
		}
		parts = append(parts, fmt.Sprintf("%d %s %s", u.Count, noun, strings.Replace(u.Why, "have", hasOrHave(u.Count), 1)))
	}
	return strings.Join(parts, "; ")
}

// recipientsVerb is "1 recipient is" or "3 recipients are".
func recipientsVerb(n int, one, many string) string {
	return english.Count(n, "recipient", "recipients") + " " + english.Plural(n, one, many)
}

func hasOrHave(n int) string {
	if n == 1 {
		return "has"
	}
	return "have"
}

// Summary is the preflight in a few lines, for the command line and logs.
func (p *Preflight) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Campaign %d %q (%s channel)\n", p.Campaign.ID, p.Campaign.Name, p.Campaign.Channel)
	if p.OverBudget {
		fmt.Fprintf(&b, "Recipients: at least %d (the check stopped at a message over the render budget)\n", p.Recipients)
	} else {
		fmt.Fprintf(&b, "Recipients: %d\n", p.Recipients)
	}
	if c := p.Campaign; c.Channel == store.ChannelMessenger {
		mt := string(c.EffectiveMessagingType())
		if c.MessageTag != "" {
			mt += " (tag " + c.MessageTag + ")"
		}
		fmt.Fprintf(&b, "Messaging type: %s\n", mt)
	}
	if len(p.LeftOut) > 0 {
		fmt.Fprintf(&b, "Left out: %s\n", p.LeftOutText())
	}
	if note := p.WindowNote(); note != "" {
		fmt.Fprintf(&b, "Window: %s\n", note)
	}
	if t := p.SuppressedText(); t != "" {
		fmt.Fprintf(&b, "Excluded: %s\n", t)
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "Note: %s\n", w)
	}
	fmt.Fprintf(&b, "Estimated duration: %s\n", p.EstimateText())
	if p.ErrorCount > 0 {
		fmt.Fprintf(&b, "Errors: %d\n", p.ErrorCount)
		// One line per cause, not per recipient: a hundred contacts
		// without a field are one problem to fix.
		for _, g := range p.ErrorGroups() {
			fmt.Fprintf(&b, "  %s\n", g.Text(2))
		}
		if more := p.ErrorCount - len(p.Errors); more > 0 {
			fmt.Fprintf(&b, "  … and %d more recipients (the first %d are listed)\n", more, len(p.Errors))
		}
	}
	return b.String()
}

// ErrorGroup is one cause of the preflight's errors and the recipients it
// blocks, in contact order.
type ErrorGroup struct {
	Reason    string
	Addresses []string
}

// ErrorGroups gathers the listed errors by cause, in the order each cause
// first appears.
func (p *Preflight) ErrorGroups() []ErrorGroup {
	var out []ErrorGroup
	at := map[string]int{}
	for _, e := range p.Errors {
		reason := e.Err.Error()
		i, ok := at[reason]
		if !ok {
			i = len(out)
			at[reason] = i
			out = append(out, ErrorGroup{Reason: reason})
		}
		out[i].Addresses = append(out[i].Addresses, e.Address)
	}
	return out
}

// Cause says the reason for all the group's recipients: "the contact has
// no field" becomes "100 contacts have no field"; other reasons are
// preceded by the count.
func (g ErrorGroup) Cause() string {
	n := len(g.Addresses)
	if n == 1 {
		return g.Reason
	}
	if i := strings.Index(g.Reason, "the contact has "); i >= 0 {
		return g.Reason[:i] + fmt.Sprintf("%d contacts have ", n) + g.Reason[i+len("the contact has "):]
	}
	return fmt.Sprintf("%d contacts: %s", n, g.Reason)
}

// Who names the first show addresses and how many more there are.
func (g ErrorGroup) Who(show int) string {
	if len(g.Addresses) <= show+1 {
		show = len(g.Addresses)
	}
	who := strings.Join(g.Addresses[:show], ", ")
	if more := len(g.Addresses) - show; more > 0 {
		who += fmt.Sprintf(" and %d more", more)
	}
	return who
}

// Text is the group in one line: the cause, then who.
func (g ErrorGroup) Text(show int) string {
	if len(g.Addresses) == 1 {
		return g.Addresses[0] + ": " + g.Reason
	}
	return g.Cause() + ": " + g.Who(show)
}

// EstimateText says how long the send will take at its rate.
func (p *Preflight) EstimateText() string {
	if p.Campaign.Rate == 0 {
		return "no rate limit: as fast as the workers deliver"
	}
	return fmt.Sprintf("%s at %s/s", HumanDuration(p.Estimate), english.Thousands(p.Campaign.Rate))
}

// HumanDuration rounds a duration for people: 45s, 12m30s, 3h20m.
func HumanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(10 * time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

// Preflight resolves the campaign's audience and renders every message. It
// changes nothing and dials nothing.
func (s *Service) Preflight(ctx context.Context, id uint64) (*Preflight, error) {
	c, err := s.Store.Campaign(id)
	if err != nil {
		return nil, err
	}
	if !c.Status.Editable() {
		return nil, &store.TransitionError{Name: c.Name, From: c.Status, To: store.StatusSending}
	}
	r, err := NewRenderer(&c, s.RenderLinks())
	if err != nil {
		return nil, err
	}
	// A message over the render budget stops the whole check: the others
	// would most likely each cost as much, and the first one says what to
	// fix. Cancelling ctx stops it too, within a few template steps.
	parent := ctx
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	r = r.WithContext(ctx)
	p := &Preflight{Campaign: c, Warnings: s.linkWarnings(&c)}
	if p.Suppressed, err = s.Store.SuppressedInAudience(&c); err != nil {
		return nil, err
	}
	if p.LeftOut, err = s.Store.UnreachableRecipients(&c); err != nil {
		return nil, err
	}
	messenger := c.Channel == store.ChannelMessenger
	now := time.Now()
	var mu sync.Mutex
	// errs keeps each error with its contact's ID: the audience's order.
	type seqError struct {
		id uint64
		e  RecipientError
	}
	var errs []seqError
	byID := func(a, b seqError) int { return cmp.Compare(a.id, b.id) }
	// The audience is walked in parts of the contact ID range, each part
	// checking its own recipients as it reads them: one walker handing
	// records to checkers was the sender's longest stretch on one core.
	// The sample is the first recipient of the first part that has any.
	type sample struct {
		msg   *store.Message
		to    string
		unsub string
	}
	parts := runtime.GOMAXPROCS(0)
	counts := make([]int, parts)
	samples := make([]*sample, parts)
	err = s.Store.ForEachRecipientInParts(&c, parts, func(part int, id uint64, raw store.RawContact) bool {
		counts[part]++
		first := counts[part] == 1
		// Most records pass without building their message; the samples
		// and any error take the full path, and so does every messenger
		// message, whose length and window are checked.
		if !first && !messenger && r.CheckRaw(raw) == nil {
			return ctx.Err() == nil
		}
		ct, err := raw.DecodeForMessage()
		var msg Rendered
		if err == nil {
			msg, err = r.Render(&ct)
		}
		var window windowState
		if err == nil && messenger {
			window, err = checkMessenger(&c, &ct, &msg.Message, now)
		}
		if err == nil && !first && window == inWindow {
			return ctx.Err() == nil
		}
		if err != nil && ctx.Err() != nil {
			return false // stopped: not this contact's fault
		}
		if err == nil && first {
			samples[part] = &sample{&msg.Message, ct.Key(), msg.Unsubscribe}
		}
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, store.ErrRenderBudget) && !p.OverBudget {
			p.OverBudget = true
			stop()
		}
		switch window {
		case outsideWindow:
			p.OutsideWindow++
		case windowUnknown:
			p.WindowUnknown++
		}
		if err != nil {
			switch err.(type) {
			case tooLongError:
				p.TooLong++
			case badWindowError:
				p.BadWindow++
			case outsideWindowError: // counted as OutsideWindow
			default:
				p.RenderErrors++
			}
			p.ErrorCount++
			errs = append(errs, seqError{id, RecipientError{ContactID: ct.ID, Address: ct.Key(), Err: err}})
			if len(errs) >= 4*MaxReportedErrors { // keep memory bounded
				slices.SortStableFunc(errs, byID)
				errs = errs[:MaxReportedErrors]
			}
		}
		return ctx.Err() == nil
	})
	if err != nil {
		return nil, err
	}
	if err := parent.Err(); err != nil {
		return nil, err
	}
	n := 0
	for part, count := range counts {
		if n == 0 && count > 0 && samples[part] != nil {
			p.Sample, p.SampleTo, p.SampleUnsubscribe = samples[part].msg, samples[part].to, samples[part].unsub
		}
		n += count
	}
	p.Recipients = n
	// Keep the first errors in contact order, whatever order the parts found them.
	slices.SortStableFunc(errs, byID)
	for i := 0; i < len(errs) && i < MaxReportedErrors; i++ {
		p.Errors = append(p.Errors, errs[i].e)
	}
	if c.Rate > 0 {
		p.Estimate = time.Duration(float64(n) / float64(c.Rate) * float64(time.Second))
	}
	return p, nil
}

type windowState int

const (
	inWindow windowState = iota
	outsideWindow
	windowUnknown
)

// checkMessenger checks one rendered messenger message: its length, and
// the recipient's messaging window. A recipient outside the window is an
// error only when the campaign's messaging type cannot reach them.
func checkMessenger(c *store.Campaign, ct *store.Contact, msg *store.Message, now time.Time) (windowState, error) {
	// As the worker sends it (worker.MessengerText).
	text := strings.TrimRight(msg.Body, " \t\r\n")
	if msg.Subject != "" {
		text = msg.Subject + "\n\n" + text
	}
	if n := utf8.RuneCountInString(text); n > MessengerTextLimit {
		return inWindow, tooLongError{n}
	}
	raw, ok := ct.Fields[WindowField]
	if !ok || strings.TrimSpace(raw) == "" {
		return windowUnknown, nil
	}
	last, err := ParseInteractionTime(raw)
	if err != nil {
		return inWindow, badWindowError{err}
	}
	age := now.Sub(last)
	if age <= window(c) {
		return inWindow, nil
	}
	if !needsWindow(c) {
		return outsideWindow, nil
	}
	return outsideWindow, outsideWindowError{last: last, age: age, window: window(c)}
}

type tooLongError struct{ n int }

func (e tooLongError) Error() string {
	return fmt.Sprintf("the message is %d characters; Messenger takes at most %d in one text", e.n, MessengerTextLimit)
}

type badWindowError struct{ err error }

func (e badWindowError) Error() string { return e.err.Error() }

type outsideWindowError struct {
	last        time.Time
	age, window time.Duration
}

func (e outsideWindowError) Error() string {
	name := "24-hour"
	if e.window == HumanAgentWindow {
		name = "7-day HUMAN_AGENT"
	}
	return fmt.Sprintf("outside the %s window: last wrote to the Page %s ago (%s); only a message tag reaches them",
		name, ageText(e.age), e.last.UTC().Format("2006-01-02 15:04 UTC"))
}

// ageText is a time since, in hours or days.
func ageText(d time.Duration) string {
	if h := int(d / time.Hour); h < 48 {
		return fmt.Sprintf("%d hours", h)
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

// interactionLayouts are the forms a last_interaction_at may take; one
// without a zone is UTC.
var interactionLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"}

// ParseInteractionTime reads a last_interaction_at: an RFC 3339 time, a
// date and time without a zone (UTC), a date, or Unix seconds or
// milliseconds.
func ParseInteractionTime(raw string) (time.Time, error) {
	s := strings.TrimSpace(raw)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		if n >= 1e12 {
			return time.UnixMilli(n), nil
		}
		return time.Unix(n, 0), nil
	}
	for _, layout := range interactionLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New(WindowField + " " + strconv.Quote(s) + " is not a time: use 2025-03-01T09:30:00Z, 2025-03-01 09:30 or Unix seconds")
}
