// Package graphtest is a fake of the Messenger Platform's Send API for
// tests: an HTTP server on loopback that checks every request against the
// shape Meta documents, records what arrives, and answers with the
// documented error objects when a test asks it to.
//
// What it checks, from the Send API reference and the Messenger Platform
// pages (developers.facebook.com/docs/messenger-platform/reference/send-api,
// …/send-messages, …/send-messages/message-tags):
//
//   - POST to /{version}/me/messages (or /{version}/{page-id}/messages);
//   - the Page access token, which the worker sends in the Authorization
//     header and never in the URL;
//   - a JSON body with recipient, messaging_type, message and, with
//     MESSAGE_TAG only, tag;
//   - a recipient named by exactly one of id (a page-scoped ID) or
//     phone_number (+ and the digits);
//   - messaging_type RESPONSE, UPDATE or MESSAGE_TAG; tag one of
//     ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE,
//     HUMAN_AGENT;
//   - message.text: UTF-8, not empty, at most 2,000 characters.
//
// A request that breaks a rule is answered with error 100 (invalid
// parameter), as Graph would, and the test fails at its end.
package graphtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Error is a Graph error object, as the Messenger Platform's error
// reference lists it.
type Error struct {
	Status    int // the HTTP status; 400 when zero
	Code      int
	Subcode   int
	Message   string
	Transient bool // is_transient
}

// The documented errors a test may ask for (Messenger Platform, "Send API
// error codes" and "Common error codes").
var (
	ErrTemporary      = Error{Code: 1200, Message: "(#1200) Temporary send message failure. Please try again later"}
	ErrUnexpected     = Error{Status: 500, Code: 2, Message: "An unexpected error has occurred. Please retry your request later.", Transient: true}
	ErrAppRateLimit   = Error{Code: 4, Message: "(#4) Application request limit reached"}
	ErrPhoneRateLimit = Error{Code: 4, Subcode: 2018022, Message: "(#4) Too many send requests to phone numbers"}
	ErrPageRateLimit  = Error{Code: 32, Message: "(#32) Page request limit reached"}
	ErrAPIRateLimit   = Error{Code: 613, Message: "(#613) Calls to this api have exceeded the rate limit."}
	ErrInvalidParam   = Error{Code: 100, Message: "(#100) Invalid parameter"}
	ErrNoMatchingUser = Error{Code: 100, Subcode: 2018001, Message: "(#100) No matching user found"}
	ErrInvalidToken   = Error{Code: 190, Message: "Invalid OAuth access token - Cannot parse access token"}
	ErrExpiredToken   = Error{Code: 190, Subcode: 463, Message: "Error validating access token: Session has expired."}
	ErrOutsideWindow  = Error{Code: 10, Subcode: 2018278, Message: "(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview"}
	ErrNoPermission   = Error{Code: 10, Message: "(#10) Application does not have permission for this action"}
	ErrAppNotLive     = Error{Code: 200, Subcode: 2018028, Message: "(#200) Cannot message users who are not admins, developers or testers of the app until pages_messaging permission is reviewed and the app is live."}
	ErrNeedsMessaging = Error{Code: 230, Message: "(#230) Requires pages_messaging permission to manage the object"}
	ErrPageBlocked    = Error{Code: 368, Subcode: 1390008, Message: "(#368) The action attempted has been deemed abusive or is otherwise disallowed"}
	ErrUnavailable    = Error{Code: 551, Subcode: 1545041, Message: "(#551) This person isn't available right now."}
)

// Documented lists every error above, for tests that try each one.
var Documented = []Error{ErrTemporary, ErrUnexpected, ErrAppRateLimit, ErrPhoneRateLimit, ErrPageRateLimit,
	ErrAPIRateLimit, ErrInvalidParam, ErrNoMatchingUser, ErrInvalidToken, ErrExpiredToken, ErrOutsideWindow,
	ErrNoPermission, ErrAppNotLive, ErrNeedsMessaging, ErrPageBlocked, ErrUnavailable}

// MessagingTypes and Tags are the values the Send API accepts.
var (
	MessagingTypes = []string{"RESPONSE", "UPDATE", "MESSAGE_TAG"}
	Tags           = []string{"ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "HUMAN_AGENT"}
)

// TextLimit is the longest message.text, in characters.
const TextLimit = 2000

// Request is one request as it arrived.
type Request struct {
	Path          string
	Body          string // the raw JSON
	Recipient     string // the id or phone_number
	ByPhone       bool   // named by phone_number
	MessagingType string
	Tag           string
	Text          string
}

// Server is the fake Send API.
type Server struct {
	*httptest.Server
	t testing.TB

	mu          sync.Mutex
	token       string
	expired     map[string]bool
	answers     map[string]Error     // by recipient
	lastMessage map[string]time.Time // by recipient: opens the messaging window
	requests    []Request
	delivered   map[string]int // by recipient
	violations  []string
	now         func() time.Time
}

// Start runs a fake Send API that accepts the Page access token token; the
// test fails at its end if any request broke the documented shape.
func Start(t testing.TB, token string) *Server {
	t.Helper()
	s := &Server{t: t, token: token, expired: map[string]bool{}, answers: map[string]Error{},
		lastMessage: map[string]time.Time{}, delivered: map[string]int{}, now: time.Now}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Close()
		for _, v := range s.Violations() {
			t.Errorf("a Send API request broke the documented shape: %s", v)
		}
	})
	return s
}

// Expire makes a token answer 190/463 (the session has expired) instead of
// 190 (cannot parse the token).
func (s *Server) Expire(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired[token] = true
}

// Answer makes every message to recipient fail with e.
func (s *Server) Answer(recipient string, e Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[recipient] = e
}

// LastMessage records when recipient last wrote to the Page: past 24 hours,
// only MESSAGE_TAG reaches them (HUMAN_AGENT: 7 days), and other types get
// 10/2018278.
func (s *Server) LastMessage(recipient string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastMessage[recipient] = at
}

// Requests returns every well-formed request so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Delivered returns how many messages each recipient was sent.
func (s *Server) Delivered() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.delivered))
	for k, v := range s.delivered {
		out[k] = v
	}
	return out
}

// Violations lists the requests that broke the documented shape.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

var (
	pathRE  = regexp.MustCompile(`/v[0-9]+\.[0-9]+/(me|[0-9]+)/messages$`)
	psidRE  = regexp.MustCompile(`^[0-9]{5,20}$`)
	phoneRE = regexp.MustCompile(`^\+[0-9][0-9 ().-]{3,20}$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if r.Method != http.MethodPost || !pathRE.MatchString(r.URL.Path) {
		s.violation(w, fmt.Sprintf("%s %s: the Send API is POST /{version}/me/messages", r.Method, r.URL.Path))
		return
	}
	if r.URL.Query().Has("access_token") {
		s.violation(w, "the page token was sent in the URL, where access logs keep it")
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	expired := s.expired[token]
	s.mu.Unlock()
	switch {
	case !ok || token == "":
		writeError(w, Error{Code: 190, Message: "An active access token must be used to query information about the current user."})
		return
	case expired:
		writeError(w, ErrExpiredToken)
		return
	case token != s.token:
		writeError(w, ErrInvalidToken)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.violation(w, fmt.Sprintf("Content-Type %q, not application/json", ct))
		return
	}
	req, problem := parse(raw)
	if problem != "" {
		s.violation(w, problem+": "+string(raw))
		return
	}
	req.Path = r.URL.Path
	s.mu.Lock()
	s.requests = append(s.requests, req)
	answer, scripted := s.answers[req.Recipient]
	last, known := s.lastMessage[req.Recipient]
	now := s.now()
	s.mu.Unlock()
	window := 24 * time.Hour
	if req.Tag == "HUMAN_AGENT" {
		window = 7 * 24 * time.Hour
	}
	switch {
	case scripted:
		writeError(w, answer)
		return
	case known && now.Sub(last) > window && (req.MessagingType != "MESSAGE_TAG" || req.Tag == "HUMAN_AGENT"):
		writeError(w, ErrOutsideWindow)
		return
	}
	s.mu.Lock()
	s.delivered[req.Recipient]++
	n := len(s.requests)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if req.ByPhone {
		// The reference: no recipient_id for messages sent by phone_number.
		fmt.Fprintf(w, `{"message_id":"m_%d"}`, n)
		return
	}
	fmt.Fprintf(w, `{"recipient_id":%q,"message_id":"m_%d"}`, req.Recipient, n)
}

// parse checks a request body against the documented shape.
func parse(raw []byte) (Request, string) {
	req := Request{Body: string(raw)}
	var body map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&body); err != nil {
		return req, "the body is not a JSON object"
	}
	var keys []string
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case "recipient", "messaging_type", "message", "tag":
		default:
			return req, fmt.Sprintf("unexpected property %q", k)
		}
	}
	var recipient map[string]string
	if err := json.Unmarshal(body["recipient"], &recipient); err != nil || len(recipient) != 1 {
		return req, "recipient must be an object with exactly one of id or phone_number"
	}
	switch {
	case recipient["id"] != "":
		if !psidRE.MatchString(recipient["id"]) {
			return req, fmt.Sprintf("recipient.id %q is not a page-scoped ID", recipient["id"])
		}
		req.Recipient = recipient["id"]
	case recipient["phone_number"] != "":
		if !phoneRE.MatchString(recipient["phone_number"]) {
			return req, fmt.Sprintf("recipient.phone_number %q is not +country code and number", recipient["phone_number"])
		}
		req.Recipient, req.ByPhone = recipient["phone_number"], true
	default:
		return req, "recipient must be an object with exactly one of id or phone_number"
	}
	if err := json.Unmarshal(body["messaging_type"], &req.MessagingType); err != nil || !slices.Contains(MessagingTypes, req.MessagingType) {
		return req, fmt.Sprintf("messaging_type %s is not one of %v", body["messaging_type"], MessagingTypes)
	}
	if t, ok := body["tag"]; ok {
		if err := json.Unmarshal(t, &req.Tag); err != nil || !slices.Contains(Tags, req.Tag) {
			return req, fmt.Sprintf("tag %s is not one of %v", t, Tags)
		}
	}
	switch {
	case req.MessagingType == "MESSAGE_TAG" && req.Tag == "":
		return req, "messaging_type MESSAGE_TAG without a tag"
	case req.MessagingType != "MESSAGE_TAG" && req.Tag != "":
		return req, "a tag with messaging_type " + req.MessagingType
	}
	var message map[string]json.RawMessage
	if err := json.Unmarshal(body["message"], &message); err != nil || len(message) != 1 || message["text"] == nil {
		return req, "message must be an object holding text"
	}
	if err := json.Unmarshal(message["text"], &req.Text); err != nil || req.Text == "" {
		return req, "message.text must be a string that is not empty"
	}
	if !utf8.ValidString(req.Text) {
		return req, "message.text is not UTF-8"
	}
	if n := utf8.RuneCountInString(req.Text); n > TextLimit {
		return req, fmt.Sprintf("message.text has %d characters; the limit is %d", n, TextLimit)
	}
	return req, ""
}

func (s *Server) violation(w http.ResponseWriter, what string) {
	s.mu.Lock()
	s.violations = append(s.violations, what)
	s.mu.Unlock()
	writeError(w, Error{Code: 100, Message: "(#100) " + what})
}

func writeError(w http.ResponseWriter, e Error) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	obj := map[string]any{"message": e.Message, "type": "OAuthException", "code": e.Code, "fbtrace_id": "AbCdEfGh123"}
	if e.Subcode != 0 {
		obj["error_subcode"] = e.Subcode
	}
	if e.Transient {
		obj["is_transient"] = true
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": obj})
}
