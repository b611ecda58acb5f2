package worker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tui/internal/graphtest"
	"tui/queue"
)

func graphChannel(t *testing.T, api *graphtest.Server, token string) *MessengerChannel {
	t.Helper()
	ch, err := NewMessengerChannel(MessengerConfig{Token: token, BaseURL: api.URL, Version: "v21.0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return ch
}

func deliverTo(ch *MessengerChannel, j queue.Job) *DeliveryError {
	if j.CampaignID == 0 {
		j.CampaignID, j.ContactID, j.Channel = 3, 4, "messenger"
	}
	return Classify(ch.Deliver(context.Background(), Delivery{Job: j, Attempt: 1}))
}

// Each request has the shape the Send API reference gives: a PSID goes in
// recipient.id, a phone number in recipient.phone_number, with the
// campaign's messaging_type, and its tag with MESSAGE_TAG only.
func TestMessengerRequestsFollowTheSendAPI(t *testing.T) {
	api := graphtest.Start(t, testPageToken)
	ch := graphChannel(t, api, testPageToken)
	jobs := []queue.Job{
		{To: "1254477777772919", Kind: "psid", Subject: "Your order", Body: "It ships today.", MessagingType: "UPDATE"},
		{To: "+14155550123", Kind: "phone", Body: "It ships today.\n", MessagingType: "RESPONSE"}, // a body file's last line end is dropped
		{To: "26203292189261166", Kind: "psid", Body: "Your card expires.", MessagingType: "MESSAGE_TAG", Tag: "ACCOUNT_UPDATE"},
		{To: "1254477777772919", Body: "Queued before kinds: an ID, UPDATE."},
	}
	for i, j := range jobs {
		if de := deliverTo(ch, j); de != nil {
			t.Fatalf("job %d: %v", i, de)
		}
	}
	want := []string{
		`{"recipient":{"id":"1254477777772919"},"messaging_type":"UPDATE","message":{"text":"Your order\n\nIt ships today."}}`,
		`{"recipient":{"phone_number":"+14155550123"},"messaging_type":"RESPONSE","message":{"text":"It ships today."}}`,
		`{"recipient":{"id":"26203292189261166"},"messaging_type":"MESSAGE_TAG","tag":"ACCOUNT_UPDATE","message":{"text":"Your card expires."}}`,
		`{"recipient":{"id":"1254477777772919"},"messaging_type":"UPDATE","message":{"text":"Queued before kinds: an ID, UPDATE."}}`,
	}
	reqs := api.Requests()
	if len(reqs) != len(want) {
		t.Fatalf("%d requests, want %d", len(reqs), len(want))
	}
	for i, r := range reqs {
		if r.Body != want[i] || r.Path != "/v21.0/me/messages" {
			t.Errorf("request %d: %s %s\nwant %s", i+1, r.Path, r.Body, want[i])
		}
	}
}

// MESSAGE_TAG without a tag, a text over the limit and an email address
// never reach the API: they would fail there for every recipient.
func TestMessengerRefusesWhatTheAPIWouldRefuse(t *testing.T) {
	api := graphtest.Start(t, testPageToken)
	ch := graphChannel(t, api, testPageToken)
	limit := strings.Repeat("é", graphtest.TextLimit)
	for _, tc := range []struct {
		job  queue.Job
		want string
	}{
		{queue.Job{To: "1254477777772919", Kind: "psid", Body: "b", MessagingType: "MESSAGE_TAG"}, "names no message tag"},
		{queue.Job{To: "1254477777772919", Kind: "psid", Body: limit + "x"}, "2001 characters; Messenger takes at most 2000"},
		{queue.Job{To: "ada@example.com", Kind: "email", Body: "b"}, "Messenger cannot reach"},
	} {
		de := deliverTo(ch, tc.job)
		if de == nil || de.Transient || !strings.Contains(de.Reason, tc.want) {
			t.Errorf("%+v: %v, want a permanent failure saying %q", tc.job, de, tc.want)
		}
	}
	if n := len(api.Requests()); n != 0 {
		t.Fatalf("%d requests reached the API", n)
	}
	// Exactly at the limit (characters, not bytes) goes.
	if de := deliverTo(ch, queue.Job{To: "1254477777772919", Kind: "psid", Body: limit}); de != nil {
		t.Fatalf("a text of %d characters: %v", graphtest.TextLimit, de)
	}
}

// Every documented error is classified: retried (and the rate halved when
// it says slow down), failed for that person, or the worker's own problem.
func TestMessengerClassifiesEveryDocumentedError(t *testing.T) {
	api := graphtest.Start(t, testPageToken)
	ch := graphChannel(t, api, testPageToken)
	want := map[graphtest.Error]struct {
		transient, throttled bool
		scope                Scope
	}{
		graphtest.ErrTemporary:      {true, false, 0},
		graphtest.ErrUnexpected:     {true, false, 0},
		graphtest.ErrAppRateLimit:   {true, true, 0},
		graphtest.ErrPhoneRateLimit: {true, true, 0},
		graphtest.ErrPageRateLimit:  {true, true, 0},
		graphtest.ErrAPIRateLimit:   {true, true, 0},
		graphtest.ErrInvalidParam:   {false, false, ScopeUnclear},
		graphtest.ErrNoMatchingUser: {false, false, ScopeRecipient},
		graphtest.ErrInvalidToken:   {false, false, ScopeSender},
		graphtest.ErrExpiredToken:   {false, false, ScopeSender},
		graphtest.ErrOutsideWindow:  {false, false, ScopeRecipient},
		graphtest.ErrNoPermission:   {false, false, ScopeSender},
		graphtest.ErrAppNotLive:     {false, false, ScopeSender},
		graphtest.ErrNeedsMessaging: {false, false, ScopeSender},
		graphtest.ErrPageBlocked:    {false, false, ScopeSender},
		graphtest.ErrUnavailable:    {false, false, ScopeRecipient},
	}
	if len(want) != len(graphtest.Documented) {
		t.Fatalf("%d expectations for %d documented errors", len(want), len(graphtest.Documented))
	}
	for i, e := range graphtest.Documented {
		psid := fmt.Sprintf("9000000%04d", i)
		api.Answer(psid, e)
		de := deliverTo(ch, queue.Job{To: psid, Kind: "psid", Body: "b"})
		w := want[e]
		if de == nil || de.Transient != w.transient || de.Throttled != w.throttled || (!de.Transient && de.Scope != w.scope) {
			t.Errorf("%d/%d: %+v, want transient=%v throttled=%v scope=%v", e.Code, e.Subcode, de, w.transient, w.throttled, w.scope)
			continue
		}
		if !strings.Contains(de.Reason, e.Message) {
			t.Errorf("%d/%d: the reason %q lacks the API's words", e.Code, e.Subcode, de.Reason)
		}
		if de.Scope == ScopeSender && !strings.Contains(de.Reason, "restart") {
			t.Errorf("%d/%d: the reason %q does not say what to do", e.Code, e.Subcode, de.Reason)
		}
	}
}

// Past 24 hours since the person's last message only MESSAGE_TAG reaches
// them; HUMAN_AGENT reaches them for 7 days.
func TestMessengerWindowAndMessageTags(t *testing.T) {
	api := graphtest.Start(t, testPageToken)
	ch := graphChannel(t, api, testPageToken)
	api.LastMessage("1111111111", time.Now().Add(-2*time.Hour))
	api.LastMessage("2222222222", time.Now().Add(-30*time.Hour))
	api.LastMessage("3333333333", time.Now().Add(-8*24*time.Hour))
	job := func(to, mtype, tag string) queue.Job {
		return queue.Job{To: to, Kind: "psid", Body: "b", MessagingType: mtype, Tag: tag}
	}
	if de := deliverTo(ch, job("1111111111", "UPDATE", "")); de != nil {
		t.Fatalf("inside the window: %v", de)
	}
	de := deliverTo(ch, job("2222222222", "UPDATE", ""))
	if de == nil || de.Transient || de.Scope != ScopeRecipient || !strings.Contains(de.Reason, "MESSAGE_TAG") {
		t.Fatalf("outside the window without a tag: %+v", de)
	}
	if de := deliverTo(ch, job("2222222222", "MESSAGE_TAG", "POST_PURCHASE_UPDATE")); de != nil {
		t.Fatalf("outside the window with a tag: %v", de)
	}
	if de := deliverTo(ch, job("2222222222", "MESSAGE_TAG", "HUMAN_AGENT")); de != nil {
		t.Fatalf("HUMAN_AGENT after 30 hours: %v", de)
	}
	if de := deliverTo(ch, job("3333333333", "MESSAGE_TAG", "HUMAN_AGENT")); de == nil || !strings.Contains(de.Reason, "2018278") {
		t.Fatalf("HUMAN_AGENT after 8 days: %+v", de)
	}
	if got := api.Delivered(); got["2222222222"] != 2 || got["1111111111"] != 1 || got["3333333333"] != 0 {
		t.Fatalf("delivered %v", got)
	}
}

// A proxy in front of the API that refuses the token without a Graph error
// object is the worker's problem too; other statuses without one are
// unclear.
func TestMessengerStatusWithoutAGraphError(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusUnauthorized)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "denied", int(status.Load()))
	}))
	defer srv.Close()
	ch, err := NewMessengerChannel(MessengerConfig{Token: testPageToken, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if de := deliverTo(ch, queue.Job{To: "1254477777772919", Kind: "psid", Body: "b"}); de == nil || de.Transient || de.Scope != ScopeSender || !strings.Contains(de.Reason, "MESSENGER_PAGE_TOKEN") {
		t.Fatalf("401: %+v", de)
	}
	status.Store(http.StatusForbidden)
	if de := deliverTo(ch, queue.Job{To: "1254477777772919", Kind: "psid", Body: "b"}); de == nil || de.Transient || de.Scope != ScopeUnclear {
		t.Fatalf("403: %+v", de)
	}
}
