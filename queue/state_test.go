package queue

import (
	"strings"
	"testing"
	"time"
)

func TestRedactURL(t *testing.T) {
	cases := []struct{ in, want, secret string }{
		{"redis://localhost:6379/0", "redis://localhost:6379/0", ""},
		{"redis://:hunter2@localhost:6379/1", "redis://:xxxxx@localhost:6379/1", "hunter2"},
		{"rediss://alice:s3cr3t@redis.example:6380/0", "rediss://alice:xxxxx@redis.example:6380/0", "s3cr3t"},
		{"redis://alice@localhost", "redis://alice@localhost", ""},
		{"redis://localhost/0?sentinel_password=topsecret&x=1", "redis://localhost/0?sentinel_password=xxxxx&x=1", "topsecret"},
		{"redis://user:p%40ss@host", "redis://user:xxxxx@host", "p%40ss"},
		{"%zz://user:pw1234@host", "%zz://xxxxx@host", "pw1234"},
	}
	for _, c := range cases {
		got := RedactURL(c.in)
		if got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
		if c.secret != "" && strings.Contains(got, c.secret) {
			t.Errorf("RedactURL(%q) leaks %q", c.in, c.secret)
		}
	}
}

func TestIdleDescribeNamesWhenItDials(t *testing.T) {
	s := IdleStatus("redis://:pw@localhost:6379")
	if s.State != Idle || !strings.Contains(s.Describe(), "dials when a send starts") {
		t.Fatalf("idle status = %+v, %q", s, s.Describe())
	}
	if strings.Contains(s.URL, "pw") {
		t.Fatalf("idle status leaks the password: %q", s.URL)
	}
}

func TestEventBatchRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 28, 21, 0, 0, 123, time.UTC)
	b := EventBatch{Worker: "w-1", Events: []Event{
		{Contact: 1, Round: 1, Type: EventDelivered, Attempt: 1, At: at},
		{Contact: 2, Round: 2, Type: EventFailed, Attempt: 5, Reason: "550 \"no\" <user> \u2028 é", At: at},
		{Contact: 3, Type: EventReclaimed, At: at.In(time.FixedZone("x", 3600))},
	}}
	values, err := b.values()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	for i := 0; i+1 < len(values); i += 2 {
		switch v := values[i+1].(type) {
		case []byte:
			m[values[i].(string)] = string(v)
		default:
			m[values[i].(string)] = v
		}
	}
	got, err := ParseEventBatch(m)
	if err != nil {
		t.Fatal(err)
	}
	if got.Worker != "w-1" || len(got.Events) != 3 {
		t.Fatalf("%+v", got)
	}
	for i, e := range got.Events {
		want := b.Events[i]
		if e.Contact != want.Contact || e.Round != want.Round || e.Type != want.Type || e.Attempt != want.Attempt ||
			e.Reason != want.Reason || !e.At.Equal(want.At) {
			t.Errorf("event %d: %+v, want %+v", i, e, want)
		}
	}
}
