package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// MessengerConfig is the worker's Messenger setup, from its environment.
type MessengerConfig struct {
	// Token is the Page access token (MESSENGER_PAGE_TOKEN). It is sent only
	// in the Authorization header, never in a URL, so it never lands in an
	// access log, and never appears in a Reason.
	Token string
	// BaseURL is the Graph API's origin (MESSENGER_API_BASE), default
	// https://graph.facebook.com; tests point it at a local fake.
	BaseURL string
	// Version is the Graph API version (MESSENGER_API_VERSION), default v21.0.
	Version string
}

// Default Graph API endpoint and version when the environment names none.
const (
	DefaultMessengerBase    = "https://graph.facebook.com"
	DefaultMessengerVersion = "v21.0"
)

// MessengerChannel sends each message as a text through the Messenger Send
// API: POST {base}/{version}/me/messages with the recipient's page-scoped ID
// or phone number (the job's To, of the job's Kind).
//
// A job may carry a URL (the campaign's --url) to send through a path on the
// configured API origin, such as a proxy prefix; a URL on any other origin is
// refused, because the page token would go with the request.
type MessengerChannel struct {
	token   string
	base    *url.URL
	version string
	client  *http.Client
	now     func() time.Time
}

// messengerTimeout bounds one Send API call.
const messengerTimeout = 15 * time.Second

// NewMessengerChannel checks the configuration and returns the channel.
func NewMessengerChannel(cfg MessengerConfig) (*MessengerChannel, error) {
	if cfg.Token == "" {
		return nil, errors.New("the messenger channel needs MESSENGER_PAGE_TOKEN (the Page access token) in the worker's environment")
	}
	if strings.ContainsAny(cfg.Token, " \t\r\n") {
		return nil, errors.New("MESSENGER_PAGE_TOKEN contains white space: copy the Page access token again without spaces or line breaks")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultMessengerBase
	}
	if cfg.Version == "" {
		cfg.Version = DefaultMessengerVersion
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.User != nil {
		return nil, fmt.Errorf("MESSENGER_API_BASE %q is not an http:// or https:// URL such as %s", redactURLString(cfg.BaseURL), DefaultMessengerBase)
	}
	if strings.ContainsAny(cfg.Version, "/?#% ") {
		return nil, fmt.Errorf("MESSENGER_API_VERSION %q is not a Graph API version such as %s", cfg.Version, DefaultMessengerVersion)
	}
	return &MessengerChannel{token: cfg.Token, base: base, version: cfg.Version,
		client: newHTTPClient(messengerTimeout), now: time.Now}, nil
}

// messengerRequest is the Send API's request body for a text message.
type messengerRequest struct {
	Recipient     messengerRecipient `json:"recipient"`
	MessagingType string             `json:"messaging_type"`
	Tag           string             `json:"tag,omitempty"`
	Message       struct {
		Text string `json:"text"`
	} `json:"message"`
}

// messengerRecipient names the person by exactly one of a page-scoped ID or
// a phone number.
type messengerRecipient struct {
	ID          string `json:"id,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
}

// MessengerTextLimit is the Send API's limit on a text message, in
// characters (Unicode code points).
const MessengerTextLimit = 2000

// graphError is the error object of a Graph API answer.
type graphError struct {
	Error *struct {
		Message      string `json:"message"`
		Type         string `json:"type"`
		Code         int    `json:"code"`
		Subcode      int    `json:"error_subcode"`
		IsTransient  bool   `json:"is_transient"`
		ErrorUserMsg string `json:"error_user_msg"`
		FBTraceID    string `json:"fbtrace_id"`
	} `json:"error"`
}

// Graph error codes that mean "slow down": application (4), user (17), page
// (32) and API (613) rate limits, and the Messenger platform's own (80006);
// subcode 2018022 is "too many send requests".
var graphThrottleCodes = map[int]bool{4: true, 17: true, 32: true, 613: true, 80006: true}

const graphThrottleSubcode = 2018022

// Graph error codes worth another try: unknown (1), service down (2), and
// "temporary send message failure" (1200).
var graphTransientCodes = map[int]bool{1: true, 2: true, 1200: true}

// Graph error codes and subcodes whose meaning the Messenger Platform's error
// reference documents, by whom they concern.
const (
	graphInvalidParameter = 100 // subcode 2018001: no matching user
	graphNoMatchingUser   = 2018001
	graphPermission       = 10 // subcode 2018278: outside the messaging window
	graphOutsideWindow    = 2018278
	graphNewsOutsideWin   = 2018336 // outside the window without News Messaging permission
	graphAccessToken      = 190     // invalid or expired token (subcodes 458–467)
	graphSession          = 102
	graphPermissions      = 200 // subcode 2018028: the app is not live
	graphNeedsMessaging   = 230 // the token lacks pages_messaging
	graphBlocked          = 368 // the Page is blocked from sending
	graphUnavailable      = 551 // the person is not available
)

// graphScope says whom a Graph error that is not worth retrying concerns,
// and what to do about one that concerns the worker. A code that names the
// Page, its token or its permissions stops the worker reading the campaign
// before anyone fails; one that names a person fails that person; anything
// else fails the person, and a run of them stops the worker.
func graphScope(code, subcode int) (Scope, string) {
	switch {
	case code == graphAccessToken || code == graphSession:
		return ScopeSender, "the Page access token (MESSENGER_PAGE_TOKEN) is invalid, expired or revoked: set a new one on the worker and restart it"
	case code == graphNeedsMessaging:
		return ScopeSender, "the Page access token lacks the pages_messaging permission: grant it, set the new token on the worker and restart it"
	case code == graphPermissions && (subcode == 0 || subcode == 2018028 || subcode == 2018027 || subcode == 2018021):
		return ScopeSender, "the app or Page may not message these people (permissions, or the app is not live): fix it in the Meta app dashboard and restart the worker"
	case code == graphPermission && subcode == 0:
		return ScopeSender, "the app has no permission to send for this Page: fix it in the Meta app dashboard and restart the worker"
	case code == graphBlocked:
		return ScopeSender, "Meta has blocked this Page from sending for now: see the Page's notifications, and restart the worker once it may send again"
	case code == graphPermission && (subcode == graphOutsideWindow || subcode == graphNewsOutsideWin):
		return ScopeRecipient, "the person's last message is older than the messaging window: send with messaging type MESSAGE_TAG and a tag"
	case code == graphInvalidParameter && subcode == graphNoMatchingUser, code == graphUnavailable:
		return ScopeRecipient, ""
	}
	return ScopeUnclear, ""
}

// endpoint is where the job's message goes.
func (c *MessengerChannel) endpoint(jobURL string) (*url.URL, error) {
	base := c.base
	if jobURL != "" {
		u, err := url.Parse(jobURL)
		if err != nil || u.Scheme != c.base.Scheme || u.Host != c.base.Host || u.User != nil {
			return nil, Permanent("the campaign's messenger URL %q is not on the configured Graph API origin %s: the page token is only sent there (set MESSENGER_API_BASE on the worker, or clear the campaign's --url)",
				redactURLString(jobURL), c.base.Scheme+"://"+c.base.Host)
		}
		base = u
	}
	return base.JoinPath(c.version, "me", "messages"), nil
}

// MessengerText is the text a job sends: the subject, a blank line and the
// body, or just the body when there is no subject. The line end a body file
// has at its end would show as an empty line in the chat bubble.
func MessengerText(subject, body string) string {
	body = strings.TrimRight(body, " \t\r\n")
	if subject == "" {
		return body
	}
	return subject + "\n\n" + body
}

// Deliver sends the message: to recipient.id for a page-scoped ID (and for
// jobs that name no kind, queued before kinds existed), to
// recipient.phone_number for a phone number, with the campaign's
// messaging_type (UPDATE unless it says otherwise) and tag.
func (c *MessengerChannel) Deliver(ctx context.Context, d Delivery) error {
	target, err := c.endpoint(d.Job.URL)
	if err != nil {
		return err
	}
	var m messengerRequest
	switch d.Job.Kind {
	case "", "psid":
		m.Recipient.ID = d.Job.To
	case "phone":
		m.Recipient.PhoneNumber = d.Job.To
	default:
		return Permanent("%s is an %s address, which Messenger cannot reach: send to it on another channel", d.Job.To, d.Job.Kind)
	}
	m.MessagingType = d.Job.MessagingType
	if m.MessagingType == "" {
		m.MessagingType = "UPDATE"
	}
	m.Tag = d.Job.Tag
	if m.MessagingType == "MESSAGE_TAG" && m.Tag == "" {
		return Permanent("the campaign's messaging type is MESSAGE_TAG but it names no message tag")
	}
	m.Message.Text = MessengerText(d.Job.Subject, d.Job.Body)
	if n := utf8.RuneCountInString(m.Message.Text); n > MessengerTextLimit {
		return Permanent("the message is %d characters; Messenger takes at most %d in one text message", n, MessengerTextLimit)
	}
	body, err := json.Marshal(&m)
	if err != nil {
		return Permanent("encode the messenger request: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return Permanent("messenger request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tui-worker")

	resp, err := c.client.Do(req)
	if err != nil {
		return c.redact(httpTransportError("messenger", target, err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, drainLimit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return c.redact(c.classify(resp, raw))
}

// classify reads the Graph error object; an answer without one is judged by
// its HTTP status alone.
func (c *MessengerChannel) classify(resp *http.Response, raw []byte) *DeliveryError {
	var ge graphError
	if json.Unmarshal(raw, &ge) != nil || ge.Error == nil {
		de := classifyHTTPStatus("messenger", resp, excerpt(raw), c.now())
		switch {
		case de.Transient:
		case resp.StatusCode == http.StatusUnauthorized:
			de.Scope = ScopeSender
			de.Reason += ": the Graph API refused the page token; check MESSENGER_PAGE_TOKEN and MESSENGER_API_BASE on the worker"
		default:
			de.Scope = ScopeUnclear
		}
		return de
	}
	e := ge.Error
	var reason strings.Builder
	fmt.Fprintf(&reason, "Graph error %d", e.Code)
	if e.Subcode != 0 {
		fmt.Fprintf(&reason, "/%d", e.Subcode)
	}
	if e.Type != "" {
		fmt.Fprintf(&reason, " (%s)", e.Type)
	}
	reason.WriteString(": ")
	reason.WriteString(excerpt([]byte(e.Message)))
	if e.ErrorUserMsg != "" && e.ErrorUserMsg != e.Message {
		reason.WriteString(" — " + excerpt([]byte(e.ErrorUserMsg)))
	}
	if e.FBTraceID != "" {
		reason.WriteString(" [fbtrace_id " + e.FBTraceID + "]")
	}
	de := &DeliveryError{Reason: reason.String()}
	switch {
	case graphThrottleCodes[e.Code] || e.Subcode == graphThrottleSubcode || resp.StatusCode == http.StatusTooManyRequests:
		de.Transient, de.Throttled = true, true
	case graphTransientCodes[e.Code] || e.IsTransient || resp.StatusCode >= 500:
		de.Transient = true
	default:
		var hint string
		de.Scope, hint = graphScope(e.Code, e.Subcode)
		switch {
		case hint != "" && de.Scope == ScopeSender:
			// What to do comes first: the pane and --wait show this
			// sentence, and Graph's own words can be long.
			de.Reason = hint + " (" + de.Reason + ")"
		case hint != "":
			de.Reason += ": " + hint
		}
	}
	if de.Transient {
		de.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return de
}

// redact keeps the token out of a Reason even if a server or a proxy echoes
// it back.
func (c *MessengerChannel) redact(err error) error {
	var de *DeliveryError
	if errors.As(err, &de) && strings.Contains(de.Reason, c.token) {
		de.Reason = strings.ReplaceAll(de.Reason, c.token, "[page token]")
	}
	return err
}

// Close drops the idle connections.
func (c *MessengerChannel) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// messengerConfigFromEnv reads the channel's settings.
func messengerConfigFromEnv(env func(string) string) MessengerConfig {
	return MessengerConfig{
		Token:   strings.TrimSpace(env("MESSENGER_PAGE_TOKEN")),
		BaseURL: env("MESSENGER_API_BASE"),
		Version: env("MESSENGER_API_VERSION"),
	}
}
