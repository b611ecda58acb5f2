package queue

import (
	"strings"
	"testing"
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
