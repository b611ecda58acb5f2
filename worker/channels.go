package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Channels builds each channel the first time a job needs it, from the
// worker's environment, and keeps it for the worker's life. A worker serves
// the campaigns of every channel: one without SMTP_URL still delivers file
// and webhook jobs, and leaves the smtp ones to workers that have it.
//
// Channels is itself a Channel that routes each delivery by its job's
// channel name, so a worker can hold just one.
type Channels struct {
	env           func(string) string
	outbox        string
	defaultOutbox string // when neither --outbox nor TUI_OUTBOX says

	mu     sync.Mutex
	built  map[string]builtChannel
	closed bool
}

type builtChannel struct {
	ch  Channel
	err error
}

// NewChannels reads settings through env (os.Getenv in production) when a
// channel is first used. outbox is the file channel's path (--outbox); when
// empty, TUI_OUTBOX is used.
func NewChannels(env func(string) string, outbox string) *Channels {
	return &Channels{env: env, outbox: outbox, built: map[string]builtChannel{}}
}

// WithDefaultOutbox sets the outbox the file channel uses when neither
// --outbox nor TUI_OUTBOX names one; its directory is made (0700) when the
// channel is first used, so a worker that never sends file jobs writes
// nothing.
func (cs *Channels) WithDefaultOutbox(path string) *Channels {
	cs.defaultOutbox = path
	return cs
}

// OutboxPath is where file jobs go: --outbox, TUI_OUTBOX or the default;
// "" when none is set.
func (cs *Channels) OutboxPath() string {
	switch {
	case cs.outbox != "":
		return cs.outbox
	case cs.env("TUI_OUTBOX") != "":
		return cs.env("TUI_OUTBOX")
	}
	return cs.defaultOutbox
}

// Get returns the named channel, building it on first use. A channel that
// cannot be built fails the same way on every call, with a permanent
// *DeliveryError that says what to set on the worker.
func (cs *Channels) Get(name string) (Channel, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return nil, Transient("the worker is shutting down: channel %s is closed", name)
	}
	if b, ok := cs.built[name]; ok {
		return b.ch, b.err
	}
	// Building only reads the environment and opens the outbox: nothing here
	// dials, so holding the lock is cheap.
	ch, err := cs.build(name)
	if err != nil {
		err = &DeliveryError{Reason: err.Error()}
		ch = nil
	}
	cs.built[name] = builtChannel{ch: ch, err: err}
	return ch, err
}

func (cs *Channels) build(name string) (Channel, error) {
	switch name {
	case "file":
		path := cs.OutboxPath()
		if path != "" && path == cs.defaultOutbox && cs.outbox == "" {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, fmt.Errorf("make the outbox's directory: %w (pass --outbox PATH to the worker or set TUI_OUTBOX)", err)
			}
		}
		return NewFileChannel(path)
	case "smtp":
		return NewSMTPChannel(cs.env("SMTP_URL"))
	case "webhook":
		return NewWebhookChannel(cs.env("WEBHOOK_SECRET")), nil
	case "messenger":
		ch, err := NewMessengerChannel(messengerConfigFromEnv(cs.env))
		if err != nil {
			return nil, err
		}
		return textOnly{ch}, nil
	case "":
		return nil, errors.New("the job names no channel")
	default:
		return nil, fmt.Errorf("unknown channel %q: this worker delivers through file, smtp, webhook and messenger", name)
	}
}

// Deliver routes the delivery to its job's channel.
func (cs *Channels) Deliver(ctx context.Context, d Delivery) error {
	ch, err := cs.Get(d.Job.Channel)
	if err != nil {
		return err
	}
	return ch.Deliver(ctx, d)
}

// Close closes every channel built so far; later deliveries fail as
// transient, so their jobs go to another worker.
func (cs *Channels) Close() error {
	cs.mu.Lock()
	built := cs.built
	cs.built, cs.closed = map[string]builtChannel{}, true
	cs.mu.Unlock()
	var errs []error
	for _, b := range built {
		if b.ch != nil {
			errs = append(errs, b.ch.Close())
		}
	}
	return errors.Join(errs...)
}
