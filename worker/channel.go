// Package worker consumes the delivery jobs of sends and delivers them
// through channels. It never opens the database: a headless worker has none.
package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tui/queue"
)

// Delivery is one attempt at one job.
type Delivery struct {
	Job     queue.Job
	Attempt int    // 1 for the first try
	Worker  string // the worker's identity, host-pid
}

// Channel delivers messages one way (file, smtp, webhook, messenger).
// Deliver returns nil on success, or an error that Classify understands:
// a *DeliveryError says whether trying again can help.
type Channel interface {
	Deliver(ctx context.Context, d Delivery) error
	// Close releases connections; the worker calls it at shutdown.
	Close() error
}

// DeliveryError is a failed delivery with the provider's reason.
type DeliveryError struct {
	// Transient failures (timeouts, 4xx SMTP replies, HTTP 408/429/5xx,
	// Graph rate limits) are retried with backoff; the rest fail at once.
	Transient bool
	// Throttled is set when the provider asked us to slow down (SMTP 421,
	// HTTP 429): the campaign's rate backs off.
	Throttled bool
	// RetryAfter is the provider's requested delay, when it named one.
	RetryAfter time.Duration
	// Reason is the provider's words, short, never containing a secret.
	Reason string
	// Scope says whom a permanent failure concerns: the recipient (the
	// zero value), or this worker's whole channel.
	Scope Scope
	// Bounce: the provider refused the address itself for good (no such
	// mailbox, no such domain, mailbox disabled); the owner suppresses it.
	Bounce bool
}

// Scope is whom a permanent failure concerns.
type Scope uint8

const (
	// ScopeRecipient fails this recipient: no such user, mailbox full.
	ScopeRecipient Scope = iota
	// ScopeSender means this worker cannot deliver on the channel at all
	// (a revoked token, a failed login, an untrusted certificate): the
	// worker gives the job back and stops reading the campaign, failing
	// nobody, and a worker without the fault delivers it.
	ScopeSender
	// ScopeUnclear may concern the recipient or the sender (a policy
	// refusal, an invalid parameter): the recipient fails, and a run of
	// them with no success between stops the worker as ScopeSender does.
	ScopeUnclear
)

func (e *DeliveryError) Error() string {
	kind := "permanent"
	if e.Transient {
		kind = "transient"
	}
	return fmt.Sprintf("%s failure: %s", kind, e.Reason)
}

// Permanent returns a failure that retrying cannot fix.
func Permanent(format string, args ...any) error {
	return &DeliveryError{Reason: fmt.Sprintf(format, args...)}
}

// Transient returns a failure that a later attempt may not have.
func Transient(format string, args ...any) error {
	return &DeliveryError{Transient: true, Reason: fmt.Sprintf(format, args...)}
}

// Classify turns any delivery error into a *DeliveryError. Errors a channel
// did not classify (network errors, context deadlines) count as transient.
func Classify(err error) *DeliveryError {
	if err == nil {
		return nil
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de
	}
	return &DeliveryError{Transient: true, Reason: err.Error()}
}
