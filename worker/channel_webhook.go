package worker

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// WebhookChannel POSTs each message as JSON to the campaign's URL.
//
// The request body is one JSON object:
//
//	{"campaign":12,"contact":345,"to":"...","subject":"...","body":"...","key":"12:345","attempt":1}
//
// and the request carries these headers:
//
//	Content-Type: application/json
//	Idempotency-Key: 12:345          the same on every attempt: de-duplicate on it
//	X-Tui-Timestamp: 1767225600      Unix seconds when this attempt was signed
//	X-Tui-Signature: sha256=<hex>    only when the worker has WEBHOOK_SECRET
//
// The signature is the lower-case hex HMAC-SHA256, keyed with the bytes of
// WEBHOOK_SECRET, of the X-Tui-Timestamp value, one full stop, and the raw
// request body, exactly as received:
//
//	HMAC-SHA256(secret, timestamp + "." + body)
//
// To verify a request, a receiver:
//  1. reads the raw body before parsing it (re-encoding the JSON changes it);
//  2. computes the HMAC above and compares it with the hex after "sha256="
//     in constant time (hmac.Equal in Go, crypto.timingSafeEqual in Node);
//  3. rejects a timestamp more than five minutes away from its own clock, so
//     a captured request cannot be replayed later;
//  4. answers 2xx once it has stored the message, and answers 2xx again for an
//     Idempotency-Key it has already seen: a worker that dies after sending but
//     before recording the answer sends the same message again.
//
// Answers: 2xx is success; 408, 429 and 5xx are retried with backoff (429 and
// 503 also slow the campaign down), honouring Retry-After in seconds or as an
// HTTP date; any other status fails the recipient with the status and the
// start of the response body as the reason. Redirects are followed only to
// the same host and only when they keep the POST (307, 308).
type WebhookChannel struct {
	secret []byte
	client *http.Client
	now    func() time.Time
}

// webhookTimeout bounds one request, from dial to the end of the answer.
const webhookTimeout = 15 * time.Second

// NewWebhookChannel returns a webhook channel that signs with secret, or
// sends unsigned requests when secret is empty.
func NewWebhookChannel(secret string) *WebhookChannel {
	return &WebhookChannel{secret: []byte(secret), client: newHTTPClient(webhookTimeout), now: time.Now}
}

// newHTTPClient keeps connections to a provider alive across deliveries
// (enough idle ones per host for a worker's whole concurrency) and never
// follows a redirect to another host or one that turns the POST into a GET.
func newHTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	tr.IdleConnTimeout = 90 * time.Second
	tr.ResponseHeaderTimeout = timeout
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 || req.Method != http.MethodPost || req.URL.Host != via[0].URL.Host ||
				req.URL.Scheme != via[0].URL.Scheme {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

type webhookPayload struct {
	Campaign uint64 `json:"campaign"`
	Contact  uint64 `json:"contact"`
	To       string `json:"to"`
	Subject  string `json:"subject"`
	Body     string `json:"body"`
	Key      string `json:"key"`
	Attempt  int    `json:"attempt"`
	// Redelivery: this recipient may have been delivered before (the job
	// was taken over from a worker that stopped answering, or queued again
	// after Redis lost the queue); receivers deduplicate by Key.
	Redelivery bool `json:"redelivery,omitempty"`
	// HTML is the HTML part of a Markdown or HTML campaign (Body is then
	// its text part); UnsubscribeURL the recipient's one-click link; Test
	// marks a test send.
	HTML           string `json:"html,omitempty"`
	UnsubscribeURL string `json:"unsubscribe_url,omitempty"`
	Test           bool   `json:"test,omitempty"`
}

// WebhookSignature returns the X-Tui-Signature value for a body sent at timestamp (the
// X-Tui-Timestamp value), as a receiver computes it.
func WebhookSignature(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Deliver POSTs the message to the job's URL.
func (c *WebhookChannel) Deliver(ctx context.Context, d Delivery) error {
	target, err := checkHTTPURL(d.Job.URL, "webhook", "--url")
	if err != nil {
		return err
	}
	key := d.Job.Key()
	p := parts(&d.Job)
	body, err := json.Marshal(webhookPayload{
		Campaign: d.Job.CampaignID, Contact: d.Job.ContactID, To: d.Job.To,
		Subject: d.Job.Subject, Body: p.Text, Key: key, Attempt: d.Attempt,
		Redelivery: d.Job.Redelivery, HTML: p.HTML, UnsubscribeURL: d.Job.Unsubscribe, Test: d.Job.Test,
	})
	if err != nil {
		return Permanent("encode the webhook body: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return Permanent("webhook request to %s: %v", target.Redacted(), err)
	}
	ts := strconv.FormatInt(c.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tui-worker")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("X-Tui-Timestamp", ts)
	req.Header.Set("X-Tui-Attempt", strconv.Itoa(d.Attempt))
	if d.Job.Redelivery {
		req.Header.Set("X-Tui-Redelivery", "1")
	}
	if len(c.secret) > 0 {
		req.Header.Set("X-Tui-Signature", WebhookSignature(c.secret, ts, body))
	}

	resp, err := c.client.Do(req)
	if err != nil {
		return httpTransportError("webhook", target, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Read what little the receiver said, so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		resp.Body.Close()
		return nil
	}
	return classifyHTTPStatus("webhook", resp, readExcerpt(resp.Body), c.now())
}

// Close drops the idle connections.
func (c *WebhookChannel) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// checkHTTPURL refuses a URL that can never work, as a permanent failure
// naming the campaign flag that sets it.
func checkHTTPURL(raw, channel, flag string) (*url.URL, error) {
	if raw == "" {
		return nil, Permanent("the campaign has no %s URL: set it with %s", channel, flag)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, Permanent("the campaign's %s URL %q is not an http:// or https:// URL: fix it with %s", channel, redactURLString(raw), flag)
	}
	return u, nil
}

// redactURLString hides a password in a URL that may not even parse.
func redactURLString(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	if i := strings.Index(raw, "@"); i >= 0 {
		return "…" + raw[i:]
	}
	return raw
}

// httpTransportError classifies a request that got no answer. A certificate
// the worker does not trust will not become trusted by retrying; anything
// else (refused, reset, timeout, DNS) may pass later.
func httpTransportError(channel string, target *url.URL, err error) error {
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verifyFail *tls.CertificateVerificationError
	)
	msg := err.Error()
	var uerr *url.Error
	if errors.As(err, &uerr) {
		msg = uerr.Err.Error()
	}
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verifyFail) {
		return Permanent("%s to %s: TLS certificate not trusted: %s", channel, target.Host, msg)
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return Transient("%s to %s: no answer in time: %s", channel, target.Host, msg)
	}
	return Transient("%s to %s: %s", channel, target.Host, msg)
}

// classifyHTTPStatus turns an answer that is not 2xx into a DeliveryError.
func classifyHTTPStatus(channel string, resp *http.Response, excerpt string, now time.Time) *DeliveryError {
	code := resp.StatusCode
	reason := fmt.Sprintf("%s answered HTTP %d %s", channel, code, http.StatusText(code))
	if code >= 300 && code < 400 {
		reason = fmt.Sprintf("%s answered HTTP %d redirecting to %q, which is not followed (another host, or a POST turned into a GET): set the final URL on the campaign",
			channel, code, resp.Header.Get("Location"))
	}
	if excerpt != "" {
		reason += ": " + excerpt
	}
	de := &DeliveryError{Reason: reason}
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		de.Transient, de.Throttled = true, true
	case code == http.StatusRequestTimeout || code >= 500:
		de.Transient = true
	}
	if de.Transient {
		de.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return de
}

// parseRetryAfter reads delay-seconds or an HTTP date; zero when absent,
// malformed or already past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		const maxSecs = int64(365 * 24 * time.Hour / time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		// HTTP dates have whole seconds: round up so the retry is never early.
		d := t.Sub(now)
		if r := d % time.Second; r != 0 {
			d += time.Second - r
		}
		return d
	}
	return 0
}

// maxExcerpt is how much of an error answer goes into a Reason; the rest of
// the answer, up to drainLimit, is read so the connection can be reused.
const (
	maxExcerpt = 200
	drainLimit = 64 << 10
)

// readExcerpt reads the start of a response body as one short line, then
// drains and closes the body.
func readExcerpt(body io.ReadCloser) string {
	defer body.Close()
	buf := make([]byte, 1024)
	n, _ := io.ReadFull(body, buf)
	_, _ = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	return excerpt(buf[:n])
}

// excerpt collapses whitespace and cuts to maxExcerpt bytes of valid UTF-8.
func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "\uFFFD")), " ")
	if len(s) <= maxExcerpt {
		return s
	}
	cut := maxExcerpt
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
