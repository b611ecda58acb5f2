package sending

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"tui/queue"
	"tui/store"
)

// A test send renders a campaign for one contact and delivers it once to
// the addresses given, through the campaign's channel and a running
// worker, with the subject marked. It never touches the ledger, the
// campaign's status or its queue: the job travels on the test streams
// (queue.EnqueueTests) and the worker's answer comes back on a reply list.

// DefaultTestTimeout is how long a test send waits for the workers' answers:
// longer than an SMTP server's slowest reply.
const DefaultTestTimeout = 45 * time.Second

// MaxTestAddresses bounds the addresses of one test send.
const MaxTestAddresses = 10

// TestRequest is what to test.
type TestRequest struct {
	// Campaign as it stands; the editor passes unsaved changes.
	Campaign store.Campaign
	// Contact is the address or ID of the contact to render for; "" takes
	// the first recipient of the campaign (or the first contact at all).
	Contact string
	To      []string
	Timeout time.Duration
}

// TestReport is what a test send did.
type TestReport struct {
	Contact store.Contact // whom the message was rendered for
	Subject string
	Results []queue.TestResult // one per address that was answered
	Missing []string           // addresses no worker answered in time
}

// OK reports whether every address got the message.
func (r *TestReport) OK() bool {
	if len(r.Missing) > 0 {
		return false
	}
	for _, res := range r.Results {
		if !res.OK {
			return false
		}
	}
	return len(r.Results) > 0
}

// Lines describes the outcome, one line per address.
func (r *TestReport) Lines() []string {
	var out []string
	for _, res := range r.Results {
		if res.OK {
			out = append(out, fmt.Sprintf("✓ %s: delivered (worker %s)", res.To, res.Worker))
		} else {
			out = append(out, fmt.Sprintf("✗ %s: %s (worker %s)", res.To, res.Error, res.Worker))
		}
	}
	for _, m := range r.Missing {
		out = append(out, fmt.Sprintf("✗ %s: no worker answered in time: is one running with this channel's settings (SMTP_URL for smtp)? Its log says why", m))
	}
	return out
}

// ParseTestAddresses splits "a@x, b@y" into checked addresses.
func ParseTestAddresses(list string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		a, err := store.NormalizeAddress(f)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	switch {
	case len(out) == 0:
		return nil, errors.New("give at least one address to send the test to")
	case len(out) > MaxTestAddresses:
		return nil, fmt.Errorf("a test goes to at most %d addresses", MaxTestAddresses)
	}
	return out, nil
}

// TestSend renders and delivers the test, and waits for the answers.
func (s *Service) TestSend(ctx context.Context, actor string, req TestRequest) (TestReport, error) {
	var rep TestReport
	if len(req.To) == 0 || len(req.To) > MaxTestAddresses {
		return rep, fmt.Errorf("a test goes to 1 to %d addresses", MaxTestAddresses)
	}
	c := req.Campaign
	c.Normalize()
	if err := c.Validate(); err != nil {
		return rep, err
	}
	ct, err := s.testContact(&c, req.Contact)
	if err != nil {
		return rep, err
	}
	r, err := NewRenderer(&c, s.RenderLinks())
	if err != nil {
		return rep, err
	}
	msg, err := r.ForTest().Render(&ct)
	if err != nil {
		return rep, fmt.Errorf("render the test for %s: %w", ct.Address, err)
	}
	rep.Contact, rep.Subject = ct, msg.Subject
	rdb, err := s.Conn.Client(ctx)
	if err != nil {
		return rep, err
	}
	// A worker in this process starts with the connection just made: give
	// one a few seconds to say it is there.
	for wait := time.Now().Add(3 * time.Second); ; {
		ws, err := queue.Workers(ctx, rdb)
		if err != nil || anyAlive(ws, time.Now()) {
			break
		}
		if time.Now().After(wait) {
			return rep, errors.New("no worker is running to deliver the test: start one (tui --headless-worker on a server, or tui --worker) with this channel's settings in its environment")
		}
		if !queue.Sleep(ctx, 100*time.Millisecond) {
			return rep, ctx.Err()
		}
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultTestTimeout
	}
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	jobs := make([]queue.Job, len(req.To))
	for i, to := range req.To {
		jobs[i] = queue.Job{CampaignID: c.ID, ContactID: ct.ID, Round: 0, To: to, Channel: string(c.Channel), From: c.From,
			URL: c.URL, Subject: msg.Subject, Body: msg.Body, Format: msg.Format, Unsubscribe: msg.Unsubscribe,
			UnsubscribeMailto: msg.UnsubscribeMailto, Test: true}
	}
	deadline := time.Now().Add(timeout)
	entries, err := queue.EnqueueTests(ctx, rdb, id, jobs, deadline)
	if err != nil {
		_ = queue.WithdrawTests(context.Background(), rdb, entries)
		return rep, err
	}
	rep.Results, err = queue.AwaitTests(ctx, rdb, id, len(jobs), deadline)
	answered := map[string]bool{}
	for _, res := range rep.Results {
		answered[res.To] = true
	}
	for _, to := range req.To {
		if !answered[to] {
			rep.Missing = append(rep.Missing, to)
		}
	}
	if len(rep.Missing) > 0 {
		wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = queue.WithdrawTests(wctx, rdb, entries)
		cancel()
	}
	outcome := "delivered"
	if !rep.OK() {
		outcome = "not delivered to all"
	}
	_ = s.Store.RecordAudit(actor, "campaign.test", fmt.Sprintf("campaign %d %q", c.ID, c.Name),
		fmt.Sprintf("to %s, rendered for %s: %s", strings.Join(req.To, ", "), ct.Address, outcome))
	return rep, err
}

// testContact finds the contact a test is rendered for.
func (s *Service) testContact(c *store.Campaign, which string) (store.Contact, error) {
	which = strings.TrimSpace(which)
	if which != "" {
		if id, err := strconv.ParseUint(which, 10, 64); err == nil {
			ct, err := s.Store.Contact(id)
			if err != nil {
				return ct, fmt.Errorf("contact %d: %w", id, err)
			}
			return ct, nil
		}
		ct, err := s.Store.ContactByAddress(which)
		if err != nil {
			return ct, fmt.Errorf("contact %s: %w (give the address or ID of an existing contact)", which, err)
		}
		return ct, nil
	}
	ct, err := s.Store.FirstRecipient(c)
	if errors.Is(err, store.ErrNotFound) {
		// An audience still empty: any contact shows how the message looks.
		page, lerr := s.Store.ListContacts(store.ContactFilter{}, 0, 1, false)
		if lerr == nil && len(page.Contacts) > 0 {
			return page.Contacts[0], nil
		}
		return ct, errors.New("there is no contact to render the test for: import contacts first")
	}
	return ct, err
}

func anyAlive(ws []queue.WorkerInfo, now time.Time) bool {
	for i := range ws {
		if ws[i].Alive(now) && !ws[i].Stopping {
			return true
		}
	}
	return false
}
