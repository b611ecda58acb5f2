package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// lifecycle is the campaign life, written out independently of the
// transitions table so that a change to either is caught here.
var lifecycle = map[[2]Status]bool{
	{StatusDraft, StatusScheduled}:     true, // schedule
	{StatusDraft, StatusSending}:       true, // send now
	{StatusDraft, StatusCancelled}:     true,
	{StatusScheduled, StatusDraft}:     true, // unschedule to edit
	{StatusScheduled, StatusSending}:   true, // the time has come
	{StatusScheduled, StatusCancelled}: true,
	{StatusSending, StatusPaused}:      true,
	{StatusSending, StatusCompleted}:   true,
	{StatusSending, StatusCancelled}:   true,
	{StatusSending, StatusFailed}:      true,
	{StatusPaused, StatusSending}:      true, // resume
	{StatusPaused, StatusCancelled}:    true,
	{StatusPaused, StatusFailed}:       true,
	{StatusCompleted, StatusSending}:   true, // retry-failed
	{StatusFailed, StatusSending}:      true, // retry-failed
}

func TestTransitionTableMatchesLifecycle(t *testing.T) {
	if len(Statuses) != 7 {
		t.Fatalf("%d statuses, the lifecycle has 7", len(Statuses))
	}
	for _, from := range Statuses {
		if _, ok := transitions[from]; !ok {
			t.Errorf("status %s has no row in the transition table", from)
		}
		for _, to := range Statuses {
			if got, want := CanMove(from, to), lifecycle[[2]Status{from, to}]; got != want {
				t.Errorf("CanMove(%s, %s) = %v, the lifecycle says %v", from, to, got, want)
			}
		}
	}
	for from := range transitions {
		if !contains(statusNames(), string(from)) {
			t.Errorf("the transition table has a row for unknown status %q", from)
		}
	}
	// The properties the issue states in words.
	if len(transitions[StatusCancelled]) != 0 {
		t.Error("cancelled must be final")
	}
	for _, from := range []Status{StatusSending, StatusPaused, StatusCompleted, StatusFailed, StatusCancelled} {
		if CanMove(from, StatusDraft) {
			t.Errorf("%s → draft: a campaign that has sent must not become editable again", from)
		}
	}
	for _, s := range Statuses {
		if CanMove(s, s) {
			t.Errorf("%s → %s: a move to the same status would bump the version for nothing", s, s)
		}
	}
	if CanMove("bogus", StatusSending) || CanMove(StatusDraft, "bogus") {
		t.Error("an unknown status must never move")
	}
}

func statusNames() []string {
	var out []string
	for _, s := range Statuses {
		out = append(out, string(s))
	}
	return out
}

// pathTo is the shortest chain of allowed moves from draft to a status.
func pathTo(target Status) []Status {
	prev := map[Status]Status{StatusDraft: ""}
	queue := []Status{StatusDraft}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == target {
			var path []Status
			for s := cur; s != StatusDraft; s = prev[s] {
				path = append([]Status{s}, path...)
			}
			return path
		}
		for _, next := range transitions[cur] {
			if _, seen := prev[next]; !seen {
				prev[next] = cur
				queue = append(queue, next)
			}
		}
	}
	return nil
}

// TestSetStatusEveryPair moves a real campaign along every one of the 49
// (from, to) pairs.
func TestSetStatusEveryPair(t *testing.T) {
	s := fxOpen(t)
	for _, from := range Statuses {
		for _, to := range Statuses {
			name := fmt.Sprintf("%s to %s", from, to)
			c := fxCreate(t, s, "setup", name)
			for _, step := range pathTo(from) {
				var err error
				if c, err = s.SetStatus("setup", c.ID, step); err != nil {
					t.Fatalf("%s: reach %s: %v", name, from, err)
				}
			}
			if c.Status != from {
				t.Fatalf("%s: status draft cannot reach %s", name, from)
			}
			rawBefore := fxRawCampaign(t, s, c.ID)
			auditBefore := fxAuditLen(t, s)

			got, err := s.SetStatus("bob", c.ID, to)

			if lifecycle[[2]Status{from, to}] {
				if err != nil {
					t.Errorf("%s: refused: %v", name, err)
					continue
				}
				if got.Status != to || got.Version != c.Version+1 || got.UpdatedBy != "bob" || !got.UpdatedAt.After(c.UpdatedAt) {
					t.Errorf("%s: returned status %s version %d by %q at %v; want %s, version %d, by bob, later than %v",
						name, got.Status, got.Version, got.UpdatedBy, got.UpdatedAt, to, c.Version+1, c.UpdatedAt)
				}
				stored, err := s.Campaign(c.ID)
				if err != nil {
					t.Fatal(err)
				}
				if stored.Status != to || stored.Version != c.Version+1 {
					t.Errorf("%s: stored status %s version %d", name, stored.Status, stored.Version)
				}
				if n := fxAuditLen(t, s); n != auditBefore+1 {
					t.Errorf("%s: %d audit entries written, want 1", name, n-auditBefore)
				}
				last, err := s.Audit(1)
				if err != nil {
					t.Fatal(err)
				}
				want := AuditEntry{Actor: "bob", Action: "campaign.status", Object: c.ref(), Detail: fmt.Sprintf("%s → %s", from, to)}
				if e := last[0]; e.Actor != want.Actor || e.Action != want.Action || e.Object != want.Object || e.Detail != want.Detail {
					t.Errorf("%s: audit entry %+v, want %+v", name, e, want)
				}
				continue
			}

			var te *TransitionError
			if !errors.As(err, &te) {
				t.Errorf("%s: got %v, want a *TransitionError", name, err)
				continue
			}
			if te.From != from || te.To != to || te.Name != name {
				t.Errorf("%s: TransitionError %+v", name, te)
			}
			if msg := err.Error(); !strings.Contains(msg, string(from)) || !strings.Contains(msg, string(to)) || !strings.Contains(msg, name) {
				t.Errorf("%s: message %q does not name the campaign and both statuses", name, msg)
			}
			if raw := fxRawCampaign(t, s, c.ID); !bytes.Equal(raw, rawBefore) {
				t.Errorf("%s: a refused move changed the record:\nbefore %s\nafter  %s", name, rawBefore, raw)
			}
			if n := fxAuditLen(t, s); n != auditBefore {
				t.Errorf("%s: a refused move wrote %d audit entries", name, n-auditBefore)
			}
		}
	}
}

// A refused move says what to do instead where there is something: a
// finished campaign is duplicated to be sent again, or its failures
// retried. (Completed → sending is a move retry-failed makes; a send's
// start refuses it with this error all the same.)
func TestRefusedMovesSayWhatToDo(t *testing.T) {
	for _, tc := range []struct {
		from, to Status
		want     []string
	}{
		{StatusCompleted, StatusSending, []string{"duplicate", "tui campaign duplicate", "retry-failed"}},
		{StatusFailed, StatusScheduled, []string{"duplicate", "retry-failed"}},
		{StatusCancelled, StatusSending, []string{"duplicate"}},
		{StatusCompleted, StatusPaused, []string{"its send is over"}},
		{StatusCancelled, StatusCancelled, []string{"its send is over"}},
		{StatusSending, StatusSending, []string{"it is sending already"}},
		{StatusPaused, StatusPaused, []string{"it is paused already"}},
		{StatusSending, StatusScheduled, []string{"pause or cancel it instead"}},
		{StatusDraft, StatusPaused, []string{`"Spring" is a draft and cannot become paused`, "it has not been sent"}},
	} {
		msg := (&TransitionError{Name: "Spring", From: tc.from, To: tc.to}).Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s → %s: %q does not say %q", tc.from, tc.to, msg, w)
			}
		}
		if tc.from == StatusCancelled && strings.Contains(msg, "retry-failed") {
			t.Errorf("%s → %s: %q offers a retry of a cancelled send", tc.from, tc.to, msg)
		}
	}
}

func TestSetStatusUnknownCampaign(t *testing.T) {
	s := fxOpen(t)
	_, err := s.SetStatus("bob", 999, StatusSending)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestUpdateConflictFirstSaveWins(t *testing.T) {
	s := fxOpen(t)
	orig := fxCreate(t, s, "alice", "Spring sale")

	// Alice and Bob both open the editor on version 1.
	alice, err := s.Campaign(orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.Campaign(orig.ID)
	if err != nil {
		t.Fatal(err)
	}

	alice.Subject = "Alice's subject"
	saved, err := s.UpdateCampaign("alice", alice)
	if err != nil {
		t.Fatalf("first save: %v", err)
	}
	if saved.Version != orig.Version+1 || saved.UpdatedBy != "alice" {
		t.Fatalf("first save returned version %d by %q", saved.Version, saved.UpdatedBy)
	}
	rawAfterAlice := fxRawCampaign(t, s, orig.ID)
	auditAfterAlice := fxAuditLen(t, s)

	bob.Subject = "Bob's subject"
	_, err = s.UpdateCampaign("bob", bob)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("second save: got %v, want *ConflictError", err)
	}
	if ce.Campaign.UpdatedBy != "alice" || !ce.Campaign.UpdatedAt.Equal(saved.UpdatedAt) || ce.Campaign.Subject != "Alice's subject" {
		t.Errorf("conflict carries %q at %v, want alice at %v", ce.Campaign.UpdatedBy, ce.Campaign.UpdatedAt, saved.UpdatedAt)
	}
	msg := err.Error()
	for _, want := range []string{"Spring sale", "alice", saved.UpdatedAt.Local().Format("15:04:05"), "reload"} {
		if !strings.Contains(msg, want) {
			t.Errorf("conflict message %q does not mention %q", msg, want)
		}
	}
	if raw := fxRawCampaign(t, s, orig.ID); !bytes.Equal(raw, rawAfterAlice) {
		t.Errorf("the losing save changed the record:\n%s\n%s", rawAfterAlice, raw)
	}
	if n := fxAuditLen(t, s); n != auditAfterAlice {
		t.Errorf("the losing save wrote %d audit entries", n-auditAfterAlice)
	}

	// Bob reloads and saves on top of Alice's version.
	bob = ce.Campaign
	bob.Subject = "Bob's subject"
	if _, err := s.UpdateCampaign("bob", bob); err != nil {
		t.Fatalf("save after reload: %v", err)
	}
}

func TestConflictMessageWithoutActor(t *testing.T) {
	e := &ConflictError{Campaign: Campaign{Name: "x", UpdatedAt: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}}
	if !strings.Contains(e.Error(), "someone else") {
		t.Errorf("%q does not say who", e.Error())
	}
}

func TestDeleteCampaignWithStaleVersion(t *testing.T) {
	s := fxOpen(t)
	c := fxCreate(t, s, "alice", "Spring sale")
	stale := c.Version
	c.Body = "changed"
	if _, err := s.UpdateCampaign("bob", c); err != nil {
		t.Fatal(err)
	}
	raw := fxRawCampaign(t, s, c.ID)
	audits := fxAuditLen(t, s)

	err := s.DeleteCampaign("alice", c.ID, stale)
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Campaign.UpdatedBy != "bob" {
		t.Fatalf("delete with a stale version: got %v, want *ConflictError naming bob", err)
	}
	if got := fxRawCampaign(t, s, c.ID); !bytes.Equal(got, raw) {
		t.Error("a refused delete changed the record")
	}
	if n := fxAuditLen(t, s); n != audits {
		t.Errorf("a refused delete wrote %d audit entries", n-audits)
	}
	if counts, _ := s.Counts(); counts.Campaigns != 1 {
		t.Errorf("campaign count %d after a refused delete", counts.Campaigns)
	}

	if err := s.DeleteCampaign("alice", c.ID, c.Version+1); err != nil {
		t.Fatalf("delete with the current version: %v", err)
	}
	if _, err := s.Campaign(c.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
	if counts, _ := s.Counts(); counts.Campaigns != 0 {
		t.Errorf("campaign count %d after delete", counts.Campaigns)
	}
	if err := s.DeleteCampaign("alice", c.ID, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
}

func TestDeleteCampaignRemovesLedgerAndRefusesLiveSends(t *testing.T) {
	s := fxOpen(t)
	c := fxCreate(t, s, "alice", "Live")
	if err := s.PutLedger([]LedgerEntry{{CampaignID: c.ID, ContactID: 1, Address: "a@example.com", State: RecipientQueued}}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []Status{StatusSending, StatusPaused} {
		if _, err := s.SetStatus("alice", c.ID, st); err != nil {
			t.Fatal(err)
		}
		err := s.DeleteCampaign("alice", c.ID, 0)
		if err == nil || !strings.Contains(err.Error(), "cancel") {
			t.Errorf("delete a %s campaign: %v, want a refusal that says to cancel", st, err)
		}
	}
	if _, err := s.SetStatus("alice", c.ID, StatusCancelled); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCampaign("alice", c.ID, 0); err != nil {
		t.Fatalf("delete a cancelled campaign: %v", err)
	}
	counts, err := s.LedgerCounts(c.ID)
	if err != nil || len(counts) != 0 {
		t.Errorf("ledger after delete: %v, %v", counts, err)
	}
}

func TestUpdateRefusedForNonEditableStatus(t *testing.T) {
	s := fxOpen(t)
	for _, st := range Statuses {
		c := fxCreate(t, s, "alice", "editable? "+string(st))
		for _, step := range pathTo(st) {
			var err error
			if c, err = s.SetStatus("alice", c.ID, step); err != nil {
				t.Fatal(err)
			}
		}
		raw := fxRawCampaign(t, s, c.ID)
		edit := c
		edit.Body = "new body"
		got, err := s.UpdateCampaign("bob", edit)
		if st.Editable() {
			if err != nil {
				t.Errorf("%s: edit refused: %v", st, err)
			} else if got.Status != st || got.Body != "new body" || got.Version != c.Version+1 {
				t.Errorf("%s: edit returned status %s body %q version %d", st, got.Status, got.Body, got.Version)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), string(st)) || !strings.Contains(err.Error(), "duplicate") {
			t.Errorf("%s: edit gave %v, want a refusal naming the status and suggesting duplicate", st, err)
		}
		if !bytes.Equal(fxRawCampaign(t, s, c.ID), raw) {
			t.Errorf("%s: a refused edit changed the record", st)
		}
	}
}

func TestUpdateKeepsFieldsTheEditorDoesNotOwn(t *testing.T) {
	s := fxOpen(t)
	c := fxCreate(t, s, "alice", "Owned")
	edit := c
	edit.Status = StatusCompleted // an editor must not be able to move status
	edit.CreatedAt = time.Time{}
	edit.LastSend = &SendInfo{Total: 99}
	got, err := s.UpdateCampaign("bob", edit)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusDraft || !got.CreatedAt.Equal(c.CreatedAt) || got.LastSend != nil {
		t.Errorf("update overwrote owned fields: status %s created %v last send %+v", got.Status, got.CreatedAt, got.LastSend)
	}
}

func TestCreateCampaign(t *testing.T) {
	s := fxOpen(t)
	in := fxCampaign("  Spring sale  ")
	in.Status = StatusCompleted
	in.Version = 42
	in.Tags = []string{"VIP, customers", "vip"}
	in.ExcludeTags = []string{" Churned "}
	c, err := s.CreateCampaign("alice", in)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == 0 || c.Status != StatusDraft || c.Version != 1 || c.Name != "Spring sale" || c.UpdatedBy != "alice" {
		t.Errorf("created %+v", c)
	}
	if strings.Join(c.Tags, "|") != "customers|vip" || strings.Join(c.ExcludeTags, "|") != "churned" {
		t.Errorf("tags %v exclude %v", c.Tags, c.ExcludeTags)
	}
	stored, err := s.Campaign(c.ID)
	if err != nil || stored.Name != c.Name || stored.Version != 1 {
		t.Errorf("stored %+v, %v", stored, err)
	}
	last, _ := s.Audit(1)
	if len(last) != 1 || last[0].Action != "campaign.create" || last[0].Actor != "alice" {
		t.Errorf("audit %+v", last)
	}
	if counts, _ := s.Counts(); counts.Campaigns != 1 {
		t.Errorf("count %d", counts.Campaigns)
	}

	bad := fxCampaign("")
	audits := fxAuditLen(t, s)
	if _, err := s.CreateCampaign("alice", bad); err == nil {
		t.Error("created an invalid campaign")
	}
	if counts, _ := s.Counts(); counts.Campaigns != 1 || fxAuditLen(t, s) != audits {
		t.Error("an invalid campaign changed the database")
	}
}

func TestDuplicateCampaign(t *testing.T) {
	s := fxOpen(t)
	src := fxCampaign(strings.Repeat("x", 200))
	src.Tags = []string{"a", "b"}
	c, err := s.CreateCampaign("alice", src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetStatus("alice", c.ID, StatusSending); err != nil {
		t.Fatal(err)
	}
	cp, err := s.DuplicateCampaign("bob", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cp.ID == c.ID || cp.Status != StatusDraft || cp.Version != 1 || !strings.HasPrefix(cp.Name, "Copy of ") ||
		len([]rune(cp.Name)) != 200 || cp.Body != c.Body || strings.Join(cp.Tags, ",") != "a,b" {
		t.Errorf("duplicate %+v", cp)
	}
}

func TestCampaignsNewestFirst(t *testing.T) {
	s := fxOpen(t)
	for i := 1; i <= 5; i++ {
		fxCreate(t, s, "alice", fmt.Sprintf("c%d", i))
	}
	cs, err := s.Campaigns()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "c5,c4,c3,c2,c1" {
		t.Errorf("order %v", names)
	}
}

func TestValidateFieldErrors(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(c *Campaign)
		field string
		msg   string // a fragment of the message
	}{
		{"empty name", func(c *Campaign) { c.Name = "" }, "name", "required"},
		{"long name", func(c *Campaign) { c.Name = strings.Repeat("é", 201) }, "name", "200"},
		{"unknown channel", func(c *Campaign) { c.Channel = "pigeon" }, "channel", "unknown channel"},
		{"smtp without from", func(c *Campaign) { c.Channel = ChannelSMTP }, "from", "needs a from address"},
		{"smtp with a bad from", func(c *Campaign) { c.Channel, c.From = ChannelSMTP, "not an address" }, "from", "not an email address"},
		{"webhook without url", func(c *Campaign) { c.Channel = ChannelWebhook }, "url", "needs a URL"},
		{"webhook with ftp url", func(c *Campaign) { c.Channel, c.URL = ChannelWebhook, "ftp://example.com/x" }, "url", "not an http(s) URL"},
		{"webhook without host", func(c *Campaign) { c.Channel, c.URL = ChannelWebhook, "https:///path" }, "url", "not an http(s) URL"},
		{"webhook with credentials", func(c *Campaign) { c.Channel, c.URL = ChannelWebhook, "https://user:pw@example.com/hook" }, "url", "environment"},
		{"messenger with a bad url", func(c *Campaign) { c.Channel, c.URL = ChannelMessenger, "example.com" }, "url", "not an http(s) URL"},
		{"negative rate", func(c *Campaign) { c.Rate = -1 }, "rate", "between 0"},
		{"rate too high", func(c *Campaign) { c.Rate = MaxRate + 1 }, "rate", "between 0"},
		{"empty body", func(c *Campaign) { c.Body = " \n\t" }, "body", "required"},
		{"subject template", func(c *Campaign) { c.Subject = "Hi {{.name" }, "subject", ""},
		{"body template", func(c *Campaign) { c.Body = "Hi\n{{if .x}}" }, "body", ""},
		{"tag both included and excluded", func(c *Campaign) { c.Tags, c.ExcludeTags = []string{"vip"}, []string{"vip"} }, "exclude_tags", "vip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fxCampaign("ok")
			tc.edit(&c)
			err := c.Validate()
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want *ValidationError", err)
			}
			fe := ve.Field(tc.field)
			if fe == nil {
				t.Fatalf("no error for field %s in %v", tc.field, err)
			}
			if !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("message %q lacks %q", fe.Msg, tc.msg)
			}
			if len(ve.Fields) != 1 {
				t.Errorf("one mistake gave %d errors: %v", len(ve.Fields), err)
			}
			if !strings.HasPrefix(err.Error(), "invalid campaign: "+tc.field+": ") {
				t.Errorf("message %q", err)
			}
		})
	}

	valid := []func(c *Campaign){
		func(c *Campaign) {},
		func(c *Campaign) { c.Channel, c.From = ChannelSMTP, "News <news@example.com>" },
		func(c *Campaign) { c.Channel, c.URL = ChannelWebhook, "https://hooks.example.com/x" },
		func(c *Campaign) { c.Channel = ChannelMessenger },
		func(c *Campaign) { c.Rate = MaxRate },
		func(c *Campaign) { c.Name = strings.Repeat("é", 200) },
	}
	for i, edit := range valid {
		c := fxCampaign("ok")
		edit(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("valid case %d: %v", i, err)
		}
	}

	// Every problem at once, so a form can mark each field.
	c := Campaign{Channel: ChannelWebhook, Rate: -5, Subject: "{{", Tags: []string{"a"}, ExcludeTags: []string{"a"}}
	var ve *ValidationError
	if !errors.As(c.Validate(), &ve) {
		t.Fatal("no ValidationError")
	}
	for _, f := range []string{"name", "url", "rate", "body", "subject", "exclude_tags"} {
		if ve.Field(f) == nil {
			t.Errorf("field %s not reported in %v", f, ve)
		}
	}
}

// A channel typed in capitals must still get its channel's checks, and be
// stored in its canonical form.
func TestChannelIsCanonicalised(t *testing.T) {
	c := fxCampaign("caps")
	c.Channel = "SMTP"
	c.Normalize()
	var ve *ValidationError
	if !errors.As(c.Validate(), &ve) || ve.Field("from") == nil {
		t.Errorf("an SMTP campaign without a from address passed validation (channel %q)", c.Channel)
	}
	s := fxOpen(t)
	c = fxCampaign("caps")
	c.Channel = " Webhook "
	c.URL = "https://example.com/hook"
	got, err := s.CreateCampaign("alice", c)
	if err != nil {
		t.Fatal(err)
	}
	if got.Channel != ChannelWebhook {
		t.Errorf("stored channel %q, want %q", got.Channel, ChannelWebhook)
	}
}

func TestParseChannel(t *testing.T) {
	for _, in := range []string{"file", " SMTP ", "Webhook", "messenger"} {
		if _, err := ParseChannel(in); err != nil {
			t.Errorf("ParseChannel(%q): %v", in, err)
		}
	}
	_, err := ParseChannel("fax")
	if err == nil || !strings.Contains(err.Error(), "file, smtp, webhook or messenger") {
		t.Errorf("ParseChannel(fax): %v", err)
	}
}

func TestNormalizeTags(t *testing.T) {
	got := NormalizeTags([]string{"VIP, Customers", " vip ;news", "", "a b"})
	if strings.Join(got, "|") != "a|b|customers|news|vip" {
		t.Errorf("got %v", got)
	}
	if got := NormalizeTags(nil); got == nil || len(got) != 0 {
		t.Errorf("nil gives %#v, want an empty non-nil slice (JSON [])", got)
	}
}

// A messenger campaign's messaging type and tag are checked when it is
// saved: MESSAGE_TAG goes with one of the documented tags, and nothing else
// does.
func TestMessengerMessagingTypeAndTag(t *testing.T) {
	s := fxOpen(t)
	messenger := func(mt, tag string) Campaign {
		c := fxCampaign("m")
		c.Channel, c.MessagingType, c.MessageTag = ChannelMessenger, MessagingType(mt), tag
		return c
	}
	for _, tc := range []struct {
		mt, tag    string
		field, msg string
	}{
		{"message_tag", "", "message_tag", "MESSAGE_TAG needs a message tag: ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE, HUMAN_AGENT"},
		{"UPDATE", "ACCOUNT_UPDATE", "message_tag", "only with messaging type MESSAGE_TAG"},
		{"", "ACCOUNT_UPDATE", "message_tag", "only with messaging type MESSAGE_TAG"},
		{"MESSAGE_TAG", "SHIPPING_UPDATE", "message_tag", `unknown message tag "SHIPPING_UPDATE"`},
		{"PROMO", "", "messaging_type", `unknown messaging type "PROMO"`},
	} {
		_, err := s.CreateCampaign("t", messenger(tc.mt, tc.tag))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field(tc.field) == nil || !strings.Contains(ve.Field(tc.field).Msg, tc.msg) {
			t.Errorf("%q/%q: %v, want %s: %s", tc.mt, tc.tag, err, tc.field, tc.msg)
		}
	}
	c, err := s.CreateCampaign("t", messenger(" message_tag ", "post_purchase_update"))
	if err != nil || c.MessagingType != MessagingMessageTag || c.MessageTag != TagPostPurchaseUpdate {
		t.Fatalf("%+v %v", c, err)
	}
	if got, _ := s.Campaign(c.ID); got.MessagingType != MessagingMessageTag || got.MessageTag != TagPostPurchaseUpdate {
		t.Fatalf("read back %+v", got)
	}
	plain, err := s.CreateCampaign("t", messenger("", ""))
	if err != nil || plain.EffectiveMessagingType() != MessagingUpdate {
		t.Fatalf("default messaging type: %+v %v", plain, err)
	}
	file := fxCampaign("f")
	file.MessagingType = MessagingResponse
	if _, err := s.CreateCampaign("t", file); err == nil || !strings.Contains(err.Error(), "only messenger campaigns") {
		t.Fatalf("a file campaign with a messaging type: %v", err)
	}
}
