package sending

import (
	"testing"
	"time"

	"tui/store"
)

// The estimate groups the rate's digits, as every count on screen does.
func TestEstimateText(t *testing.T) {
	for _, c := range []struct {
		rate int
		d    time.Duration
		want string
	}{
		{0, 0, "no rate limit: as fast as the workers deliver"},
		{10, 3 * time.Second, "3s at 10/s"},
		{5000, 40 * time.Second, "40s at 5,000/s"},
	} {
		p := &Preflight{Campaign: store.Campaign{Rate: c.rate}, Estimate: c.d}
		if got := p.EstimateText(); got != c.want {
			t.Errorf("rate %d: %q, want %q", c.rate, got, c.want)
		}
	}
}
