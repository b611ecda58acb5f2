package english

import "testing"

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 12430: "12,430",
		1000000: "1,000,000", -1: "-1", -1234: "-1,234", -999999: "-999,999"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0 recipients"}, {1, "1 recipient"}, {2, "2 recipients"}, {12430, "12,430 recipients"}} {
		if got := Count(c.n, "recipient", "recipients"); got != c.want {
			t.Errorf("Count(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
