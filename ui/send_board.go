package ui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"tui/internal/english"
	"tui/queue"
	"tui/sending"
	"tui/store"
)

// The send board is what one session knows about the sends it follows:
// the newest numbers the hub folded, the rate over the last seconds, a
// sparkline of the last minutes, the latest failures and the workers. It
// lives as long as the session, so a pane opened late still has history.

const (
	// rateWindow is how far back the current rate looks: long enough to
	// smooth batches of events, short enough to follow a change of pace.
	rateWindow = 5 * time.Second
	// sparkBucket is one bar of the sparkline; sparkKeep bars are kept
	// (six minutes).
	sparkBucket = 5 * time.Second
	sparkKeep   = 72
	// keptFailures bounds the latest failures a pane can scroll through;
	// the failures view reads the whole ledger.
	keptFailures = 200
	// frameEvery bounds how often send updates reach the screens: the hub
	// coalesces per campaign meanwhile, so a fast send costs at most this
	// many renders a second.
	frameEvery = time.Second / 30
	// recentlyFinished is how long a finished send keeps its line in the
	// campaign list's strip.
	recentlyFinished = time.Minute
)

type rateSample struct {
	at    time.Time
	final int
}

type failureKey struct {
	contact uint64
	round   int
}

// sendLive is one campaign's send as this session sees it.
type sendLive struct {
	c        store.Campaign
	send     store.SendState
	hasSend  bool // send holds numbers (from the hub or the store)
	live     bool // numbers came from the hub: workers are known
	workers  []queue.WorkerInfo
	at       time.Time // when the newest numbers were folded
	samples  []rateSample
	buckets  []int     // deliveries per sparkBucket, oldest first
	lastSlot time.Time // start of the newest bucket
	firstAt  time.Time // the first sample: where the first bucket's count starts
	failures []store.LedgerEntry
	seen     map[failureKey]bool
	// lastRetry is the newest recipient left to be tried again, with its
	// last try's reason: while nobody has failed for good, why they wait.
	lastRetry *store.LedgerEntry
	redisErr  string // what Redis refuses this send now, or ""
	// watched is set once the session saw the send in progress: only then
	// is its end news worth a flash.
	watched bool
	// sawSending is set once the campaign was seen sending; pauseSeen is
	// the version of its last pause the session knows of (pauseNews).
	sawSending bool
	pauseSeen  uint64
}

// final is how many recipients are done, whatever the outcome.
func (l *sendLive) final() int { return l.send.Total - l.send.Remaining() }

func (l *sendLive) count(s store.RecipientState) int { return l.send.Counts[s] }

// inFlight adds up what the live workers hold. Workers serve every
// campaign, so with two sends at once this counts both. A lost worker's
// jobs are about to be taken over by others, so they are not counted twice.
func (l *sendLive) inFlight(now time.Time) int {
	n := 0
	for _, w := range l.workers {
		if w.Alive(now) {
			n += int(w.InFlight)
		}
	}
	return n
}

func (l *sendLive) active() bool {
	return l.c.Status == store.StatusSending || l.c.Status == store.StatusPaused
}

// rate is the deliveries per second over the last rateWindow before now.
// It falls to zero within the window when updates stop, and is 0 until a
// second of samples is in.
func (l *sendLive) rate(now time.Time) float64 {
	if len(l.samples) < 2 {
		return 0
	}
	latest := l.samples[len(l.samples)-1]
	from := now.Add(-rateWindow)
	base := l.samples[0]
	for _, s := range l.samples {
		if s.at.After(from) {
			break
		}
		base = s
	}
	span := now.Sub(base.at)
	if span < time.Second {
		return 0
	}
	if span > rateWindow && base.at.Before(from) {
		// The count was base.final at the window's start: a step function.
		span = rateWindow
	}
	return float64(latest.final-base.final) / span.Seconds()
}

// roundStart is when the send's current round began.
func (l *sendLive) roundStart() time.Time {
	at, _ := l.send.RoundStart()
	return at
}

// averageRate is the round's pace of deliveries, for a send that is over:
// a retry round counts the recipients it queued again, over its own time.
// Recipients cancelled were not delivered, so they do not count.
func (l *sendLive) averageRate() float64 {
	started := l.roundStart()
	if l.send.FinishedAt == nil || started.IsZero() {
		return 0
	}
	// A send over within moments has no meaningful rate beyond this.
	d := max(l.send.FinishedAt.Sub(started), 100*time.Millisecond)
	return float64(l.final()-l.count(store.RecipientCancelled)-l.send.RoundBase) / d.Seconds()
}

// sparkRates is the deliveries per second of each sparkline bucket. The
// first bucket counts from the first sample and the newest up to now, so a
// bucket still filling does not look like a drop.
func (l *sendLive) sparkRates(now time.Time) []float64 {
	n := len(l.buckets)
	out := make([]float64, 0, n)
	for i, v := range l.buckets {
		start := l.lastSlot.Add(-time.Duration(n-1-i) * sparkBucket)
		end := start.Add(sparkBucket)
		if l.firstAt.After(start) {
			start = l.firstAt
		}
		if now.Before(end) {
			end = now
		}
		if i == n-1 && n > 1 && end.Sub(start) < 2*time.Second {
			// Too little of the newest bucket has passed to say its pace.
			break
		}
		out = append(out, float64(v)/max(end.Sub(start), time.Second).Seconds())
	}
	return out
}

// addSample records the done count at a moment, for the rate and the
// sparkline. The first sample only sets the baseline: deliveries before
// this session are not a rate.
func (l *sendLive) addSample(at time.Time, final int) {
	if n := len(l.samples); n > 0 {
		prev := l.samples[n-1]
		if at.Before(prev.at) {
			at = prev.at
		}
		delta := max(final-prev.final, 0)
		slot := at.Truncate(sparkBucket)
		switch {
		case len(l.buckets) == 0:
			l.buckets, l.lastSlot = []int{0}, slot
		case slot.After(l.lastSlot):
			gap := int(slot.Sub(l.lastSlot) / sparkBucket)
			for i := 0; i < min(gap, sparkKeep); i++ {
				l.buckets = append(l.buckets, 0)
			}
			l.lastSlot = slot
		}
		l.buckets[len(l.buckets)-1] += delta
		if len(l.buckets) > sparkKeep {
			l.buckets = append(l.buckets[:0], l.buckets[len(l.buckets)-sparkKeep:]...)
		}
	}
	if l.firstAt.IsZero() {
		l.firstAt = at
	}
	l.samples = append(l.samples, rateSample{at: at, final: final})
	// Keep one sample older than the window: the rate's baseline.
	cut := 0
	for cut < len(l.samples)-2 && l.samples[cut+1].at.Before(at.Add(-rateWindow)) {
		cut++
	}
	if cut > 0 {
		l.samples = append(l.samples[:0], l.samples[cut:]...)
	}
}

// addFailures keeps the newest failures, each recipient of a round once.
func (l *sendLive) addFailures(entries []store.LedgerEntry) {
	if l.seen == nil {
		l.seen = map[failureKey]bool{}
	}
	for _, e := range entries {
		k := failureKey{contact: e.ContactID, round: e.Round}
		if l.seen[k] {
			continue
		}
		l.seen[k] = true
		l.failures = append(l.failures, e)
	}
	if over := len(l.failures) - keptFailures; over > 0 {
		for _, e := range l.failures[:over] {
			delete(l.seen, failureKey{contact: e.ContactID, round: e.Round})
		}
		l.failures = append(l.failures[:0], l.failures[over:]...)
	}
}

// sendBoard holds the sends of one session, by campaign.
type sendBoard struct {
	byID map[uint64]*sendLive
}

func newSendBoard() *sendBoard { return &sendBoard{byID: map[uint64]*sendLive{}} }

func (b *sendBoard) get(id uint64) *sendLive { return b.byID[id] }

func (b *sendBoard) ensure(c store.Campaign) *sendLive {
	l := b.byID[c.ID]
	if l == nil {
		l = &sendLive{}
		l.take(c)
		b.byID[c.ID] = l
	}
	return l
}

// take keeps c when it is not older than the campaign the board has, and
// notes that the session saw the send under way.
func (l *sendLive) take(c store.Campaign) {
	if c.Version < l.c.Version {
		return
	}
	l.c = c
	if c.Status == store.StatusSending {
		l.sawSending = true
	}
}

// pauseNews is the flash for a pause of a send the session saw under way,
// once per pause, unless actor (this session) made it: another person's,
// or the pause of a send that fails everyone.
func (b *sendBoard) pauseNews(id uint64, actor string) (FlashMsg, bool) {
	l := b.byID[id]
	if l == nil || l.c.Status != store.StatusPaused || !l.sawSending || l.c.Version <= l.pauseSeen {
		return FlashMsg{}, false
	}
	l.pauseSeen = l.c.Version
	if l.c.UpdatedBy == actor {
		return FlashMsg{}, false
	}
	return FlashMsg{Text: fmt.Sprintf("'%s' was paused%s — r in its send pane resumes", l.c.Name, byWhom(&l.c)), Err: true}, true
}

// apply takes one update from the hub and returns the news it brings: a
// send this session watched has ended.
func (b *sendBoard) apply(u sending.Update) (ended bool) {
	l := b.ensure(u.Campaign)
	wasActive := l.watched && l.active()
	l.take(u.Campaign)
	at := u.At
	if at.IsZero() {
		at = time.Now()
	}
	if l.hasSend && u.Send.Round != l.send.Round {
		// retry-failed began a new round: the pace starts over, and the
		// failures shown are those of the round (every earlier one was
		// queued again), or the pane would list them under "(0)".
		l.samples, l.buckets, l.firstAt = nil, nil, time.Time{}
		l.failures, l.seen, l.lastRetry = nil, nil, nil
	}
	l.send, l.hasSend, l.live, l.at = u.Send, true, true, at
	l.redisErr = u.RedisErr
	if u.Workers != nil {
		l.workers = u.Workers
	}
	l.addSample(at, l.final())
	l.addFailures(u.Failed)
	if u.LastRetry != nil {
		l.lastRetry = u.LastRetry
	}
	if l.active() {
		l.watched = true
	}
	return wasActive && !l.active()
}

// seed puts numbers read from the store, for a send the hub has not
// reported (yet): a finished one, or one while Redis is away.
func (b *sendBoard) seed(c store.Campaign, st *store.SendState, failures []store.LedgerEntry) {
	l := b.ensure(c)
	l.take(c)
	if st != nil && !l.live {
		l.send, l.hasSend = *st, true
	}
	l.addFailures(failures)
}

// settle puts the ledger's numbers of a send that ended without the hub's
// word: the ledger is the truth, whatever the hub said last.
func (b *sendBoard) settle(c store.Campaign, st store.SendState) {
	l := b.byID[c.ID]
	if l == nil {
		return
	}
	l.take(c)
	l.send, l.hasSend = st, true
}

// setCampaign records a campaign this session just changed (paused,
// resumed, cancelled), before the hub reports it.
func (b *sendBoard) setCampaign(c store.Campaign) {
	if l := b.byID[c.ID]; l != nil {
		l.take(c)
	}
}

// anySending reports whether some send is delivering now.
func (b *sendBoard) anySending() bool {
	for _, l := range b.byID {
		if l.c.Status == store.StatusSending {
			return true
		}
	}
	return false
}

// strip lists the sends worth a line above the campaign list: in progress,
// or finished within the last minute, newest start first.
func (b *sendBoard) strip(now time.Time) []*sendLive {
	var out []*sendLive
	for _, l := range b.byID {
		switch {
		case l.active():
			out = append(out, l)
		case l.watched && l.send.FinishedAt != nil && now.Sub(*l.send.FinishedAt) < recentlyFinished:
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := out[i].roundStart(), out[j].roundStart(); !a.Equal(b) {
			return a.After(b)
		}
		return out[i].c.ID > out[j].c.ID
	})
	return out
}

// failedAndSkipped names what went wrong with the same words as the
// counts beside it: failures are failures, skipped recipients are skipped.
func failedAndSkipped(failed, skipped int) string {
	var parts []string
	if failed > 0 {
		parts = append(parts, english.Count(failed, "failure", "failures"))
	}
	if skipped > 0 {
		parts = append(parts, english.Thousands(skipped)+" skipped")
	}
	return strings.Join(parts, " and ")
}

// endNews is the flash for a send that ended while the session watched.
func endNews(l *sendLive) FlashMsg {
	n := l.send.Counts
	name := "'" + l.c.Name + "'"
	switch l.c.Status {
	case store.StatusCompleted:
		failed, skipped := n[store.RecipientFailed], n[store.RecipientSkipped]
		if failed+skipped == 0 {
			return FlashMsg{Text: fmt.Sprintf("%s completed: %s sent", name, english.Thousands(n[store.RecipientSent]))}
		}
		return FlashMsg{Text: fmt.Sprintf("%s completed with %s: %s sent; f in its send pane lists them",
			name, failedAndSkipped(failed, skipped), english.Thousands(n[store.RecipientSent])), Err: true}
	case store.StatusCancelled:
		return FlashMsg{Text: fmt.Sprintf("%s was cancelled: %s sent, %s cancelled", name,
			english.Thousands(n[store.RecipientSent]), english.Thousands(n[store.RecipientCancelled]))}
	}
	return FlashMsg{Text: fmt.Sprintf("%s is %s", name, l.c.Status), Err: l.c.Status == store.StatusFailed}
}

// sendUpdatesMsg brings what the hub folded since the last one.
type sendUpdatesMsg struct{ updates []sending.Update }

// waitSendUpdates reads the next updates of the session's subscription,
// never sooner than frameEvery after the previous ones: meanwhile the
// subscription coalesces them, so the screen redraws at most 30 times a
// second however fast the events come.
func waitSendUpdates(ctx context.Context, sub *sending.Subscription, last time.Time) tea.Cmd {
	return func() tea.Msg {
		if d := frameEvery - time.Since(last); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
		}
		ups, err := sub.Next(ctx)
		if err != nil {
			return nil
		}
		for i := range ups {
			ups[i] = safeUpdate(ups[i])
		}
		return sendUpdatesMsg{updates: ups}
	}
}

// sparkline draws the buckets as block characters scaled to their peak;
// an empty bucket is a low dot so that a stall is visible.
func sparkline(values []float64, width int) string {
	if width <= 0 || len(values) == 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	levels := []rune("▁▂▃▄▅▆▇█")
	var b strings.Builder
	for _, v := range values {
		if v <= 0 || peak <= 0 {
			b.WriteRune('·')
			continue
		}
		i := int(v/peak*float64(len(levels))+0.5) - 1
		b.WriteRune(levels[min(max(i, 0), len(levels)-1)])
	}
	return b.String()
}

// formatRate shows a rate: 1,234/s, 12/s, 0.4/s.
func formatRate(r float64) string {
	switch {
	case r <= 0:
		return "0/s"
	case r < 10:
		return fmt.Sprintf("%.1f/s", r)
	}
	return english.Thousands(int(r+0.5)) + "/s"
}

// formatElapsed shows a duration on a clock: 45s, 12m05s, 3h20m.
func formatElapsed(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// eta is how long the rest will take at rate, or "" when that is unknown.
func eta(remaining int, rate float64) string {
	if remaining <= 0 || rate <= 0 {
		return ""
	}
	return sending.HumanDuration(time.Duration(float64(remaining) / rate * float64(time.Second)))
}

// bar draws a progress bar of width cells: sent, then failed, then
// cancelled, then what is left; each part in its colour, so the bar reads
// the same without colour (█ done, ░ left).
func bar(st *Styles, width int, n map[store.RecipientState]int, total int) string {
	if width <= 0 {
		return ""
	}
	if total <= 0 {
		return st.Dim.Render(strings.Repeat("░", width))
	}
	parts := []struct {
		n     int
		style func(...string) string
	}{
		{n[store.RecipientSent], st.Success.Render},
		{n[store.RecipientFailed] + n[store.RecipientSkipped], st.Error.Render},
		{n[store.RecipientCancelled], st.Dim.Render},
	}
	var b strings.Builder
	used, done := 0, 0
	for _, p := range parts {
		done += p.n
		// Cells by cumulative share, so rounding never overflows the bar.
		upTo := min(done*width/total, width)
		if cells := upTo - used; cells > 0 {
			b.WriteString(p.style(strings.Repeat("█", cells)))
			used = upTo
		}
	}
	if rest := width - used; rest > 0 {
		b.WriteString(st.Dim.Render(strings.Repeat("░", rest)))
	}
	return b.String()
}

// lastProgress is when the count of recipients done last moved, as far as
// the samples go back; the round's start when it never moved.
func (l *sendLive) lastProgress() time.Time {
	at := l.roundStart()
	for i := 1; i < len(l.samples); i++ {
		if l.samples[i].final != l.samples[i-1].final {
			at = l.samples[i].at
		}
	}
	return at
}
