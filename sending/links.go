package sending

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strings"

	"tui/message"
	"tui/store"
)

// Links makes the one-click unsubscribe links of messages: an HTTPS URL on
// the listener (tui --headless-worker --listen) with a signed token per
// recipient, and a mailto: when one is configured. They come from the
// environment of the process that renders the messages (the app, --ssh, or
// the command line that sends):
//
//	TUI_UNSUBSCRIBE_URL     the listener's public base, https://news.example.com/u
//	TUI_UNSUBSCRIBE_SECRET  the HMAC key, the same as the listener's (16+ characters)
//	TUI_UNSUBSCRIBE_MAILTO  optional: an address for List-Unsubscribe's mailto:
type Links struct {
	base   string // without a trailing slash
	mailto string
	signer *message.Signer
	db     string // the database whose messages these are (store.Identity), "" for none
}

// WithDatabase returns the links of the messages of database db: each
// carries the database's tag before its token (…/TAG/TOKEN), so that the
// owners of two databases sharing a Redis each take only their own
// requests.
func (l *Links) WithDatabase(db string) *Links {
	if l == nil {
		return nil
	}
	c := *l
	c.db = db
	return &c
}

// LinksFromEnv reads the unsubscribe settings; nil when TUI_UNSUBSCRIBE_URL
// is not set. The error says what to fix; it never contains the secret.
func LinksFromEnv(getenv func(string) string) (*Links, error) {
	raw := strings.TrimSpace(getenv("TUI_UNSUBSCRIBE_URL"))
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("TUI_UNSUBSCRIBE_URL %q must be the listener's public HTTPS address, such as https://news.example.com/u", raw)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("TUI_UNSUBSCRIBE_URL %q must use https: mailbox providers ignore one-click links over plain http (run the listener behind a reverse proxy that terminates TLS)", raw)
	}
	secret := getenv("TUI_UNSUBSCRIBE_SECRET")
	if secret == "" {
		return nil, fmt.Errorf("TUI_UNSUBSCRIBE_URL is set but TUI_UNSUBSCRIBE_SECRET is not: set the same secret here and on the listener (openssl rand -hex 32)")
	}
	signer, err := message.NewSigner(secret)
	if err != nil {
		return nil, fmt.Errorf("TUI_UNSUBSCRIBE_SECRET: %w", err)
	}
	l := &Links{base: strings.TrimRight(u.String(), "/"), signer: signer}
	if m := strings.TrimSpace(getenv("TUI_UNSUBSCRIBE_MAILTO")); m != "" {
		a, err := mail.ParseAddress(m)
		if err != nil || a.Name != "" {
			return nil, fmt.Errorf("TUI_UNSUBSCRIBE_MAILTO %q is not a plain email address", m)
		}
		l.mailto = a.Address
	}
	return l, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// For returns the links of one recipient's message.
func (l *Links) For(campaignID, contactID uint64, test bool) (link, mailto string) {
	tok := l.signer.Sign(message.Token{Campaign: campaignID, Contact: contactID, Test: test})
	link = l.base + "/" + tok
	if tag, ok := l.signer.SignDatabase(l.db, tok); ok {
		link = l.base + "/" + tag + "/" + tok
	}
	if l.mailto != "" {
		mailto = "mailto:" + l.mailto + "?subject=unsubscribe%20" + tok
	}
	return link, mailto
}

// Base is the listener's public base URL.
func (l *Links) Base() string { return l.base }

// RenderLinks is the links of this database's messages, tagged with its
// identity; nil when no unsubscribe link is configured. Without an identity
// (the database could not be read) the links carry no tag, which every
// owner folds as before tags.
func (s *Service) RenderLinks() *Links {
	if s.Links == nil {
		return nil
	}
	ident, err := s.identity()
	if err != nil {
		return s.Links
	}
	return s.Links.WithDatabase(ident.ID)
}

// linkWarnings says what a campaign's messages will lack that mailbox
// providers ask of bulk mail.
func (s *Service) linkWarnings(c *store.Campaign) []string {
	if c.Channel != store.ChannelSMTP || s.Links != nil {
		return nil
	}
	return []string{"the messages will carry no one-click unsubscribe (List-Unsubscribe): Gmail and Yahoo require it of bulk senders. Set TUI_UNSUBSCRIBE_URL and TUI_UNSUBSCRIBE_SECRET and run a listener (README: One-click unsubscribe)"}
}
