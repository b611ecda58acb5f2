package worker

import (
	"context"
	"net/textproto"
	"net/url"
	"testing"
)

// Replies are judged by whom they concern: authentication always the
// worker, a refused mailbox the recipient, a policy refusal or one outside
// RCPT TO either.
func TestSMTPRepliesByWhomTheyConcern(t *testing.T) {
	for _, tc := range []struct {
		stage string
		code  int
		msg   string
		want  Scope
	}{
		{"MAIL FROM", 530, "5.7.0 Authentication required", ScopeSender},
		{"RCPT TO", 535, "5.7.8 Authentication credentials invalid", ScopeSender},
		{"MAIL FROM", 550, "5.7.9 Authentication mechanism is too weak", ScopeSender},
		{"RCPT TO", 550, "5.1.1 No such user here", ScopeRecipient},
		{"RCPT TO", 552, "5.2.2 Mailbox full", ScopeRecipient},
		{"RCPT TO", 553, "mailbox name not allowed", ScopeRecipient},
		{"RCPT TO", 554, "Transaction failed", ScopeUnclear},
		{"RCPT TO", 550, "5.7.1 Relaying denied", ScopeUnclear},
		{"MAIL FROM", 553, "5.1.8 Sender address rejected", ScopeUnclear},
		{"end of DATA", 550, "5.7.1 Message rejected as spam", ScopeUnclear},
		{"end of DATA", 552, "5.3.4 Message too big", ScopeUnclear},
	} {
		if got := smtpScope(tc.stage, &textproto.Error{Code: tc.code, Msg: tc.msg}); got != tc.want {
			t.Errorf("%s %d %s: scope %d, want %d", tc.stage, tc.code, tc.msg, got, tc.want)
		}
	}
}

// A connection that cannot be set up for good (an untrusted certificate, a
// refused login) is the worker's problem; a refused mailbox is the
// recipient's.
func TestSMTPSetupFailuresConcernTheWorker(t *testing.T) {
	plain := startSMTPServer(t, plainSMTP)
	tlsSrv := startSMTPServer(t, startTLS)
	wrongPass := url.URL{Scheme: "smtp", User: url.UserPassword(smtpTestUser, "wrong-password"), Host: plain.addr}
	for _, u := range []string{tlsSrv.url("smtp", ""), wrongPass.String(), plain.url("smtp", "starttls=required")} {
		de := Classify(newSMTPChannel(t, u).Deliver(context.Background(), Delivery{Job: smtpJob(1, "ana@example.org"), Attempt: 1}))
		if de == nil || de.Transient || de.Scope != ScopeSender {
			t.Errorf("%s: %+v, want a failure of the worker's", u, de)
		}
	}
	de := Classify(newSMTPChannel(t, plain.url("smtp", "")).Deliver(context.Background(), Delivery{Job: smtpJob(2, "gone@example.org"), Attempt: 1}))
	if de == nil || de.Transient || de.Scope != ScopeRecipient {
		t.Errorf("gone@: %+v, want a failure of the recipient's", de)
	}
}
