package ui

import (
	"tui/internal/termsafe"
	"tui/queue"
	"tui/sending"
	"tui/store"
)

// What the screens show of the store, of workers and of providers is made
// safe on its way in, in the commands that read it: control characters
// become visible stand-ins (␛, ␇…) before any layout is measured, so that
// what a name holds is shown whole and the columns stay straight. App.View
// cleans the whole frame too, as the last line of defence, but there a
// stray sequence can only be shown where lipgloss left it, with the layout
// already measured around it.
//
// A screen that saves what it was shown (the editor, the contact form)
// therefore saves the stand-ins: what a person sees is what is stored.

func safeLine(s string) string { return termsafe.Line(s) }

func safeList(list []string) []string {
	var out []string
	for i, s := range list {
		if t := termsafe.Line(s); t != s {
			if out == nil {
				out = append([]string(nil), list...)
			}
			out[i] = t
		}
	}
	if out == nil {
		return list
	}
	return out
}

func safeCampaign(c store.Campaign) store.Campaign {
	c.Name, c.From, c.URL = safeLine(c.Name), safeLine(c.From), safeLine(c.URL)
	c.Subject, c.Body = safeLine(c.Subject), termsafe.Text(c.Body)
	// Tags stay as they are: the screens look the audience up by them.
	// Where they are shown, safeList shows them.
	c.UpdatedBy = safeLine(c.UpdatedBy)
	if c.LastSend != nil && !termsafe.Safe(c.LastSend.StartedBy) {
		ls := *c.LastSend
		ls.StartedBy = safeLine(ls.StartedBy)
		c.LastSend = &ls
	}
	return c
}

func safeContact(c store.Contact) store.Contact {
	c.Name, c.Address = safeLine(c.Name), safeLine(c.Address)
	c.Tags = safeList(c.Tags)
	for k, v := range c.Fields {
		if sk, sv := safeLine(k), safeLine(v); sk != k || sv != v {
			fields := make(map[string]string, len(c.Fields))
			for k, v := range c.Fields {
				fields[safeLine(k)] = safeLine(v)
			}
			c.Fields = fields
			break
		}
	}
	return c
}

func safeContacts(list []store.Contact) {
	for i := range list {
		list[i] = safeContact(list[i])
	}
}

func safeLedger(e store.LedgerEntry) store.LedgerEntry {
	e.Address, e.LastError = safeLine(e.Address), safeLine(e.LastError)
	return e
}

func safeWorker(w queue.WorkerInfo) queue.WorkerInfo {
	w.ID, w.Host, w.RedisErr = safeLine(w.ID), safeLine(w.Host), safeLine(w.RedisErr)
	w.Cannot, w.Slowed = safeReasons(w.Cannot), safeReasons(w.Slowed)
	return w
}

// safeReasons is m with every reason made safe, m itself when all are.
func safeReasons(m map[uint64]string) map[uint64]string {
	for _, why := range m {
		if safeLine(why) != why {
			safe := make(map[uint64]string, len(m))
			for id, why := range m {
				safe[id] = safeLine(why)
			}
			return safe
		}
	}
	return m
}

func safeUpdate(u sending.Update) sending.Update {
	u.Campaign = safeCampaign(u.Campaign)
	if len(u.Failed) > 0 {
		failed := make([]store.LedgerEntry, len(u.Failed))
		for i, e := range u.Failed {
			failed[i] = safeLedger(e)
		}
		u.Failed = failed
	}
	if u.LastRetry != nil {
		retry := safeLedger(*u.LastRetry)
		u.LastRetry = &retry
	}
	if len(u.Workers) > 0 {
		workers := make([]queue.WorkerInfo, len(u.Workers))
		for i, w := range u.Workers {
			workers[i] = safeWorker(w)
		}
		u.Workers = workers
	}
	return u
}

func safeMessage(m store.Message) store.Message {
	return store.Message{Subject: safeLine(m.Subject), Body: termsafe.Text(m.Body)}
}

func safePreflight(p *sending.Preflight) *sending.Preflight {
	if p == nil {
		return nil
	}
	cp := *p
	cp.Campaign = safeCampaign(p.Campaign)
	cp.SampleTo = safeLine(p.SampleTo)
	if p.Sample != nil {
		m := safeMessage(*p.Sample)
		cp.Sample = &m
	}
	cp.Errors = make([]sending.RecipientError, len(p.Errors))
	for i, e := range p.Errors {
		e.Address = safeLine(e.Address)
		e.Err = safeError(e.Err)
		cp.Errors[i] = e
	}
	return &cp
}

// safeError shows err's text safely and keeps what it wraps for errors.Is
// and errors.As.
func safeError(err error) error {
	if err == nil || termsafe.Safe(err.Error()) {
		return err
	}
	return shownError{err}
}

type shownError struct{ err error }

func (e shownError) Error() string { return termsafe.Text(e.err.Error()) }
func (e shownError) Unwrap() error { return e.err }
