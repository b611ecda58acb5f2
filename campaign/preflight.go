package campaign

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

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
	ErrorCount int
	Estimate   time.Duration // at the campaign's rate; 0 when unlimited
	Sample     *store.Message
	SampleTo   string
}

// OK reports whether the send may start.
func (p *Preflight) OK() bool { return p.ErrorCount == 0 && p.Recipients > 0 }

// Problem is the reason the send may not start, or "".
func (p *Preflight) Problem() string {
	switch {
	case p.Recipients == 0:
		return "the audience is empty: import contacts with the campaign's tags, or change its tags"
	case p.ErrorCount > 0:
		return fmt.Sprintf("%d of %d messages cannot be rendered; fix the template or the contacts' fields", p.ErrorCount, p.Recipients)
	}
	return ""
}

// Summary is the preflight in a few lines, for the command line and logs.
func (p *Preflight) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Campaign %d %q (%s channel)\n", p.Campaign.ID, p.Campaign.Name, p.Campaign.Channel)
	fmt.Fprintf(&b, "Recipients: %d\n", p.Recipients)
	fmt.Fprintf(&b, "Estimated duration: %s\n", p.EstimateText())
	if p.ErrorCount > 0 {
		fmt.Fprintf(&b, "Errors: %d\n", p.ErrorCount)
		for _, e := range p.Errors {
			fmt.Fprintf(&b, "  %s\n", e)
		}
		if more := p.ErrorCount - len(p.Errors); more > 0 {
			fmt.Fprintf(&b, "  … and %d more\n", more)
		}
	}
	return b.String()
}

// EstimateText says how long the send will take at its rate.
func (p *Preflight) EstimateText() string {
	if p.Campaign.Rate == 0 {
		return "no rate limit: as fast as the workers deliver"
	}
	return fmt.Sprintf("%s at %d/s", HumanDuration(p.Estimate), p.Campaign.Rate)
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
	r, err := store.NewRenderer(&c)
	if err != nil {
		return nil, err
	}
	p := &Preflight{Campaign: c}
	var mu sync.Mutex
	type item struct {
		seq int
		raw store.RawContact
	}
	work := make(chan []item, runtime.GOMAXPROCS(0))
	var errs []struct {
		seq int
		e   RecipientError
	}
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range work {
				for _, it := range batch {
					// Most records pass without building their message;
					// the sample and any error take the full path.
					if it.seq > 0 && r.CheckRaw(it.raw) == nil {
						continue
					}
					ct, err := it.raw.DecodeForMessage()
					var msg store.Message
					if err == nil {
						msg, err = r.Render(&ct)
					}
					if err == nil && it.seq > 0 {
						continue
					}
					mu.Lock()
					if err != nil {
						p.ErrorCount++
						errs = append(errs, struct {
							seq int
							e   RecipientError
						}{it.seq, RecipientError{ContactID: ct.ID, Address: ct.Address, Err: err}})
						if len(errs) >= 4*MaxReportedErrors { // keep memory bounded
							sortBySeq(errs, func(i int) int { return errs[i].seq })
							errs = errs[:MaxReportedErrors]
						}
					} else {
						p.Sample, p.SampleTo = &msg, ct.Address
					}
					mu.Unlock()
				}
			}
		}()
	}
	const batchSize = 256
	batch := make([]item, 0, batchSize)
	n := 0
	err = s.Store.ForEachRecipientRaw(&c, func(raw store.RawContact) bool {
		batch = append(batch, item{seq: n, raw: raw})
		n++
		if len(batch) == batchSize {
			select {
			case work <- batch:
			case <-ctx.Done():
				return false
			}
			batch = make([]item, 0, batchSize)
		}
		return true
	})
	if len(batch) > 0 && ctx.Err() == nil {
		work <- batch
	}
	close(work)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.Recipients = n
	// Keep the first errors in contact order, whatever order workers found them.
	sortBySeq(errs, func(i int) int { return errs[i].seq })
	for i := 0; i < len(errs) && i < MaxReportedErrors; i++ {
		p.Errors = append(p.Errors, errs[i].e)
	}
	if c.Rate > 0 {
		p.Estimate = time.Duration(float64(n) / float64(c.Rate) * float64(time.Second))
	}
	return p, nil
}
