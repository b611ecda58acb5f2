package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/x/ansi"
	"golang.org/x/term"

	"tui/internal/english"
	"tui/internal/termsafe"
	"tui/queue"
	"tui/sending"
	"tui/store"
)

// oneCampaign parses "ID" and opens the send service around it.
func oneCampaign(e *env, g *globals, name string, args []string, extra func(fs flagSet)) (*sending.Service, store.Campaign, func(), error) {
	fs := newFlagSet(e, "campaign "+name)
	g.register(fs)
	if extra != nil {
		extra(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, store.Campaign{}, nil, err
	}
	if len(pos) != 1 {
		return nil, store.Campaign{}, nil, usagef("campaign %s needs exactly one campaign ID", name)
	}
	id, err := parseID(pos[0])
	if err != nil {
		return nil, store.Campaign{}, nil, err
	}
	svc, closeAll, err := sendService(e, g)
	if err != nil {
		return nil, store.Campaign{}, nil, err
	}
	c, err := findCampaign(svc.Store, id)
	if err != nil {
		closeAll()
		return nil, c, nil, err
	}
	return svc, c, closeAll, nil
}

// findCampaign reads a campaign, saying how to find the right ID when there
// is no such campaign.
func findCampaign(st *store.Store, id uint64) (store.Campaign, error) {
	c, err := st.Campaign(id)
	if errors.Is(err, store.ErrNotFound) {
		return c, fmt.Errorf("no campaign with ID %d; `tui campaign list` shows the IDs", id)
	}
	return c, err
}

type flagSet = interface {
	Bool(name string, value bool, usage string) *bool
	String(name string, value string, usage string) *string
	Duration(name string, value time.Duration, usage string) *time.Duration
}

func campaignPause(e *env, g *globals, args []string) error {
	svc, c, closeAll, err := oneCampaign(e, g, "pause", args, nil)
	if err != nil {
		return err
	}
	defer closeAll()
	if _, err := svc.Pause(e.ctx, e.actor(), c.ID); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Paused %q: workers start no new deliveries (those under way finish). Resume with `tui campaign resume %d`.\n", c.Name, c.ID)
	return nil
}

func campaignCancel(e *env, g *globals, args []string) error {
	var force *bool
	svc, c, closeAll, err := oneCampaign(e, g, "cancel", args, func(fs flagSet) {
		force = fs.Bool("force", false, "when Redis cannot be reached, record the cancel in the ledger alone")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	cancelled, err := svc.Cancel(e.ctx, e.actor(), c.ID)
	var unreachable *sending.CancelUnreachableError
	if errors.As(err, &unreachable) && *force {
		if cancelled, err = svc.CancelInLedger(e.actor(), c.ID); err != nil {
			return err
		}
		counts, _ := svc.Store.LedgerCounts(c.ID)
		fmt.Fprintf(e.stderr, "Cancelled %q in the ledger alone: %s sent, %s failed, %s cancelled. Redis at %s could not be reached. %s: stop them first.\n",
			cancelled.Name, english.Thousands(counts[store.RecipientSent]), english.Thousands(counts[store.RecipientFailed]), english.Thousands(counts[store.RecipientCancelled]),
			unreachable.Err.URL, sending.LedgerCancelCaveat)
		return nil
	}
	if err != nil {
		return err
	}
	c = cancelled
	counts, _ := svc.Store.LedgerCounts(c.ID)
	fmt.Fprintf(e.stderr, "Cancelled %q: %s sent, %s failed, %s cancelled.\n", c.Name,
		english.Thousands(counts[store.RecipientSent]), english.Thousands(counts[store.RecipientFailed]), english.Thousands(counts[store.RecipientCancelled]))
	return nil
}

func campaignRetryFailed(e *env, g *globals, args []string) error {
	svc, c, closeAll, err := oneCampaign(e, g, "retry-failed", args, nil)
	if err != nil {
		return err
	}
	defer closeAll()
	progress, done := progressPrinter(e, c.Name)
	res, err := svc.RetryFailed(e.ctx, e.actor(), c.ID, progress)
	done()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Queued again the %s of %q that failed (round %d).\n", english.Count(res.Added+res.Already, "recipient", "recipients"), c.Name, res.Round)
	return nil
}

// statusJSON is the stable --json shape of `campaign status` (see README).
type statusJSON struct {
	ID        uint64                       `json:"id"`
	Name      string                       `json:"name"`
	Status    store.Status                 `json:"status"`
	Round     int                          `json:"round"`
	Total     int                          `json:"total"`
	Counts    map[store.RecipientState]int `json:"counts"`
	Queued    bool                         `json:"fully_queued"`
	StartedAt *time.Time                   `json:"started_at"`
	// RoundStartedAt is when the current round began: started_at for the
	// first, the retry of the failed for a later one.
	RoundStartedAt *time.Time `json:"round_started_at"`
	FinishedAt     *time.Time `json:"finished_at"`
	// PossiblyTwice counts recipients delivered in an attempt that may have
	// repeated an earlier delivery (see README, Redis).
	PossiblyTwice int               `json:"possibly_delivered_twice"`
	QueueLosses   []store.QueueLoss `json:"queue_losses"`
	Workers       []workerJSON      `json:"workers"`
}

type workerJSON struct {
	ID        string    `json:"id"`
	Host      string    `json:"host"`
	InFlight  int64     `json:"in_flight"`
	Processed int64     `json:"processed"`
	LastSeen  time.Time `json:"last_seen"`
	Lost      bool      `json:"lost"`
	// RedisError is what Redis refuses this worker now, or "".
	RedisError string `json:"redis_error,omitempty"`
	// Slowed is why this worker sends the campaign slower than its rate
	// (the channel asked it to), or "".
	Slowed string `json:"slowed,omitempty"`
}

func toStatusJSON(c store.Campaign, st store.SendState, workers []queue.WorkerInfo) statusJSON {
	out := statusJSON{ID: c.ID, Name: c.Name, Status: c.Status, Round: st.Round, Total: st.Total,
		Counts: map[store.RecipientState]int{}, Queued: st.Enqueued, FinishedAt: st.FinishedAt, Workers: []workerJSON{},
		PossiblyTwice: st.Redelivered, QueueLosses: st.Losses}
	if out.QueueLosses == nil {
		out.QueueLosses = []store.QueueLoss{}
	}
	for _, s := range []store.RecipientState{store.RecipientQueued, store.RecipientRetrying, store.RecipientSent,
		store.RecipientFailed, store.RecipientSkipped, store.RecipientCancelled} {
		out.Counts[s] = st.Counts[s]
	}
	if !st.StartedAt.IsZero() {
		t := st.StartedAt
		r, _ := st.RoundStart()
		out.StartedAt, out.RoundStartedAt = &t, &r
	}
	for _, w := range workers {
		out.Workers = append(out.Workers, workerJSON{ID: w.ID, Host: w.Host, InFlight: w.InFlight, Processed: w.Processed,
			LastSeen: w.LastSeen.UTC(), Lost: !w.Alive(time.Now()), RedisError: w.RedisErr, Slowed: w.Slowed[c.ID]})
	}
	return out
}

// foldIfSending folds pending events when the campaign's send is followed;
// otherwise it dials nothing.
func foldIfSending(ctx context.Context, svc *sending.Service, c store.Campaign) ([]queue.WorkerInfo, error) {
	followed, err := svc.Store.FollowedCampaigns(sending.FollowCancelledFor)
	if err != nil {
		return nil, err
	}
	for _, f := range followed {
		if f.ID != c.ID {
			continue
		}
		rdb, err := svc.Conn.Client(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := svc.FoldPending(ctx, rdb, c.ID); err != nil {
			return nil, err
		}
		return queue.Workers(ctx, rdb)
	}
	return nil, nil
}

// foldOrWarn folds before numbers are shown; when Redis cannot be reached
// the ledger's numbers are still shown, with a warning that they may be
// behind.
func foldOrWarn(e *env, svc *sending.Service, c store.Campaign) []queue.WorkerInfo {
	workers, err := foldIfSending(e.ctx, svc, c)
	if err != nil {
		fmt.Fprintf(e.stderr, "tui: warning: the numbers below may be behind: %s\n", termsafe.Text(err.Error()))
	}
	return workers
}

func campaignStatus(e *env, g *globals, args []string) error {
	var asJSON *bool
	svc, c, closeAll, err := oneCampaign(e, g, "status", args, func(fs flagSet) { asJSON = fs.Bool("json", false, "print JSON") })
	if err != nil {
		return err
	}
	defer closeAll()
	workers := foldOrWarn(e, svc, c)
	c, _ = svc.Store.Campaign(c.ID)
	st, err := svc.Store.SendState(c.ID)
	if errors.Is(err, store.ErrNotFound) {
		if *asJSON {
			return writeJSON(e.stdout, toStatusJSON(c, store.SendState{}, nil))
		}
		if line := scheduleLine(&c, time.Now()); line != "" && c.Status == store.StatusScheduled {
			fmt.Fprintf(e.stdout, "%q is scheduled for %s and has never been sent.\n", c.Name, line)
			return nil
		}
		fmt.Fprintf(e.stdout, "%q is %s and has never been sent.\n", c.Name, c.Status.Phrase())
		return nil
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, toStatusJSON(c, st, workers))
	}
	fmt.Fprintln(e.stdout, progressLine(c, st, 0, workers))
	if s := queue.SlowedSentence(workers, c.ID, time.Now()); s != "" && c.Status == store.StatusSending {
		fmt.Fprintln(e.stdout, termsafe.Line(s))
	}
	return nil
}

// progressLine is one line of numbers, the same the progress pane shows.
func progressLine(c store.Campaign, st store.SendState, rate float64, workers []queue.WorkerInfo) string {
	return fitProgressLine(c, st, rate, workers, 0)
}

// fitProgressLine is the progress line in at most width cells (0: no
// limit). A line longer than the terminal wraps, and the carriage return
// that redraws it then goes back to its last row only, so every update
// would scroll: the least useful parts go first (workers, the rate, the
// counts that are zero, then the others), and the name is cut last.
func fitProgressLine(c store.Campaign, st store.SendState, rate float64, workers []queue.WorkerInfo, width int) string {
	n := st.Counts
	final := n[store.RecipientSent] + n[store.RecipientFailed] + n[store.RecipientSkipped] + n[store.RecipientCancelled]
	type part struct {
		text string
		sep  string // what joins it to the part before
		prio int    // lower stays longer
	}
	name := termsafe.Line(c.Name)
	parts := []part{
		{fmt.Sprintf("[%s] %s/%s done", c.Status, english.Thousands(final), english.Thousands(st.Total)), " ", 0},
		{english.Thousands(n[store.RecipientSent]) + " sent", ": ", 1},
		{english.Thousands(n[store.RecipientFailed]) + " failed", ", ", 2},
		{english.Thousands(n[store.RecipientRetrying]) + " retrying", ", ", 6},
		{english.Thousands(n[store.RecipientQueued]) + " queued", ", ", 5},
	}
	if n[store.RecipientFailed] == 0 {
		parts[2].prio = 7
	}
	if n[store.RecipientRetrying] == 0 {
		parts[3].prio = 8
	}
	if k := n[store.RecipientSkipped]; k > 0 {
		parts = append(parts, part{english.Thousands(k) + " skipped", ", ", 3})
	}
	if k := n[store.RecipientCancelled]; k > 0 {
		parts = append(parts, part{english.Thousands(k) + " cancelled", ", ", 3})
	}
	if st.Redelivered > 0 {
		parts = append(parts, part{english.Thousands(st.Redelivered) + " possibly twice", ", ", 4})
	}
	if rate > 0 {
		parts = append(parts, part{fmt.Sprintf("%.0f/s", rate), " · ", 9})
		if left := st.Total - final; left > 0 {
			parts = append(parts, part{"ETA " + sending.HumanDuration(time.Duration(float64(left)/rate*float64(time.Second))), " · ", 4})
		}
	}
	if c.Status == store.StatusSending || c.Status == store.StatusPaused {
		alive := 0
		for _, w := range workers {
			if w.Alive(time.Now()) {
				alive++
			}
		}
		parts = append(parts, part{english.Count(alive, "worker", "workers"), " · ", 10})
	}
	render := func(keep func(part) bool) string {
		var b strings.Builder
		b.WriteString(name)
		for _, p := range parts {
			if keep(p) {
				b.WriteString(p.sep + p.text)
			}
		}
		return b.String()
	}
	line := render(func(part) bool { return true })
	if width <= 0 || ansi.StringWidth(line) <= width {
		return line
	}
	for limit := 10; limit >= 3; limit-- {
		line = render(func(p part) bool { return p.prio < limit })
		if ansi.StringWidth(line) <= width {
			return line
		}
	}
	// Still too long: the name gives way (to a dozen cells), then the
	// failures, then the line is cut.
	full := name
	for _, limit := range []int{3, 2, 1} {
		name = full
		line = render(func(p part) bool { return p.prio < limit })
		over := ansi.StringWidth(line) - width
		if over <= 0 {
			return line
		}
		if keep := ansi.StringWidth(name) - over; keep >= 12 {
			name = ansi.Truncate(name, keep, "…")
			return render(func(p part) bool { return p.prio < limit })
		}
	}
	return ansi.Truncate(line, width, "…")
}

// terminalWidth is the width of the terminal w writes to, or 0 when it is
// not a terminal or does not say.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 {
		return 0
	}
	return cols
}

// NoWorkerWarning is how long --wait lets a send go without any worker
// before it says how to start one.
const NoWorkerWarning = 10 * time.Second

// waitForSend follows a send until it is over, printing progress on stderr:
// a live line on a terminal, a plain line every few seconds otherwise.
// It returns nil only when every recipient was delivered.
func waitForSend(e *env, svc *sending.Service, c store.Campaign) error {
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	w := &sendWaiter{e: e, c: c, redisURL: svc.Conn.URL(), tty: isTerminal(e.stderr),
		noWorkerSince: time.Now(), rate: newRateMeter(), cancel: cancel}
	// The send may end before the follow sees it (the last events folded
	// while it was queued, or between two reads), and a follow reports only
	// the sends still going: the ledger is read as well.
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchEnd(ctx, svc.Store, c.ID, w.update)
	}()
	err := followFor(e, svc)(ctx, w.update)
	cancel()
	<-watched
	if w.tty {
		fmt.Fprintln(e.stderr)
	}
	if err != nil {
		return err
	}
	if !w.ended && e.ctx.Err() != nil {
		return fmt.Errorf("stopped waiting; the send goes on (follow it with `tui campaign status %d`)", c.ID)
	}
	return w.outcome()
}

// sendWaiter is what --wait knows of a send: the last update, what it has
// said already, and the rate.
type sendWaiter struct {
	e        *env
	c        store.Campaign
	redisURL string
	tty      bool
	cancel   func() // ends the follow once the send is over

	mu            sync.Mutex
	last          sending.Update
	ended         bool // the send is over: later updates are older news
	lastPrint     time.Time
	said          map[string]bool // the notices said once, by kind
	pausedSeen    bool            // the send is paused, and --wait said so
	problem       string
	lossesSeen    int // losses before --wait began are news too, once
	noWorkerSince time.Time
	rate          *rateMeter
}

// update takes one update of the follow or the ledger.
func (w *sendWaiter) update(u sending.Update) {
	if u.Campaign.ID != w.c.ID {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	w.last = u
	now := time.Now()
	r := w.rate.add(now, u.Send.Total-u.Send.Remaining())
	w.notices(u, now)
	over := u.Campaign.Status != store.StatusSending && u.Campaign.Status != store.StatusPaused
	switch {
	case w.tty && (now.Sub(w.lastPrint) > 100*time.Millisecond || over):
		// One cell short of the width: a line that fills the last
		// column leaves the cursor pending a wrap on some terminals.
		fmt.Fprintf(w.e.stderr, "\r\033[K%s", fitProgressLine(u.Campaign, u.Send, r, u.Workers, max(terminalWidth(w.e.stderr)-1, 0)))
		w.lastPrint = now
	case !w.tty && (now.Sub(w.lastPrint) > 3*time.Second || over):
		fmt.Fprintln(w.e.stderr, progressLine(u.Campaign, u.Send, r, u.Workers))
		w.lastPrint = now
	}
	if over {
		w.ended = true
		w.cancel()
	}
}

// notices says, once each, what stops a send: no worker, no worker that can
// deliver it, a lost queue, what Redis refuses.
func (w *sendWaiter) notices(u sending.Update, now time.Time) {
	say := func(format string, args ...any) {
		if w.tty {
			fmt.Fprint(w.e.stderr, "\r\033[K")
		}
		fmt.Fprintf(w.e.stderr, format, args...)
	}
	// once says a notice of a kind the first time only.
	once := func(kind, format string, args ...any) {
		if w.said == nil {
			w.said = map[string]bool{}
		}
		if !w.said[kind] {
			w.said[kind] = true
			say(format, args...)
		}
	}
	alive := 0
	for _, wi := range u.Workers {
		if wi.Alive(now) {
			alive++
		}
	}
	if alive > 0 {
		w.noWorkerSince = now
	} else if now.Sub(w.noWorkerSince) > NoWorkerWarning {
		once("no worker", "No worker has been seen for %s: nothing is being delivered. Start one with `tui --headless-worker` (with REDIS_URL=%s), or run `tui --worker`.\n",
			NoWorkerWarning, w.redisURL)
	}
	if ow, ok := queue.Outdated(u.Workers, now); ok {
		once("outdated", "Beware: %s. `tui campaign retry-failed %d` sends again to those it failed.\n", termsafe.Line(queue.OutdatedSentence(ow)), w.c.ID)
	}
	if reason, none := queue.NoneCanDeliver(u.Workers, w.c.ID, now); none {
		once("cannot", "No running worker can deliver this send: %s. The recipients wait in the queue: fix that where the workers run and restart them.\n", termsafe.Line(reason))
	}
	if paused := u.Campaign.Status == store.StatusPaused; paused != w.pausedSeen {
		w.pausedSeen = paused
		if paused {
			say("Paused by %s: nothing new is delivered until `tui campaign resume %d`.\n", termsafe.Line(u.Campaign.UpdatedBy), w.c.ID)
		}
	}
	if r := u.LastRetry; r != nil && u.Send.Counts[store.RecipientRetrying] > 0 {
		once("retry", "Recipients wait for another try; the latest, %s after %s: %s\n", termsafe.Line(r.Address),
			english.Count(r.Attempts, "try", "tries"), termsafe.Line(r.LastError))
	}
	if s := queue.SlowedSentence(u.Workers, w.c.ID, now); s != "" {
		once("slowed", "%s\n", termsafe.Line(s))
	}
	for _, l := range u.Send.Losses[min(w.lossesSeen, len(u.Send.Losses)):] {
		say("%s\n", LossNotice(l))
	}
	w.lossesSeen = max(w.lossesSeen, len(u.Send.Losses))
	if p := sendProblem(u, now); p != w.problem {
		w.problem = p
		if p != "" {
			say("The send cannot progress: %s\n", p)
		}
	}
}

// outcome is the end of --wait: nil only when every recipient was sent.
func (w *sendWaiter) outcome() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, last := w.c, w.last
	n := last.Send.Counts
	if last.Campaign.Status == store.StatusCompleted && n[store.RecipientSent] == last.Send.Total {
		if last.Send.Total == 1 {
			fmt.Fprintf(w.e.stderr, "Done: the 1 recipient of %q was sent.\n", c.Name)
		} else {
			fmt.Fprintf(w.e.stderr, "Done: all %s recipients of %q were sent.\n", english.Thousands(last.Send.Total), c.Name)
		}
		if k := last.Send.Redelivered; k > 0 {
			fmt.Fprintf(w.e.stderr, "%s of them possibly twice (delivered again after a fault; marked as redeliveries): `tui campaign export %d FILE.csv` names them.\n",
				english.Thousands(k), c.ID)
		}
		return nil
	}
	return fmt.Errorf("%q ended %s: %s of %s sent, %s failed, %s skipped, %s cancelled; see `tui campaign export %d FILE.csv` for who and why",
		c.Name, last.Campaign.Status, english.Thousands(n[store.RecipientSent]), english.Thousands(last.Send.Total), english.Thousands(n[store.RecipientFailed]),
		english.Thousands(n[store.RecipientSkipped]), english.Thousands(n[store.RecipientCancelled]), c.ID)
}

// watchEnd reads a campaign from the ledger now and every second until ctx
// ends, and reports it to onUpdate once it is no longer sending or paused.
func watchEnd(ctx context.Context, st *store.Store, id uint64, onUpdate func(sending.Update)) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c, err := st.Campaign(id)
		if err == nil && c.Status != store.StatusSending && c.Status != store.StatusPaused {
			if s, err := st.SendState(id); err == nil {
				onUpdate(sending.Update{Campaign: c, Send: s, At: time.Now()})
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// followFor follows sends for a command: with the owner's hub when the
// owner runs it (the updates its own follow publishes, live, with no second
// fold), else with a follow of its own.
func followFor(e *env, svc *sending.Service) func(context.Context, func(sending.Update)) error {
	if e.owned == nil || e.owned.hub == nil {
		return svc.Follow
	}
	hub := e.owned.hub
	return func(ctx context.Context, onUpdate func(sending.Update)) error {
		// A subscription begins with the last update of every send, made
		// before the command began: older news than what the command read
		// (a send paused then, resumed since). Only what is newer is
		// passed on, as a follow of its own would.
		since := time.Now()
		sub := hub.Subscribe()
		defer sub.Close()
		for {
			ups, err := sub.Next(ctx)
			if err != nil {
				return nil // ended, as Follow ends
			}
			for _, u := range ups {
				if u.At.Before(since) {
					continue
				}
				onUpdate(u)
			}
		}
	}
}

// LossNotice says that Redis lost a send's queue and what was done.
func LossNotice(l store.QueueLoss) string {
	return fmt.Sprintf("Redis lost the queue at %s; %s re-queued from the ledger (each marked as a possible redelivery).",
		l.At.Local().Format("15:04:05"), english.Thousands(l.Requeued))
}

// sendProblem is why a send cannot progress now, as Redis said it: what
// the owner's own writes met, else what a live worker reports.
func sendProblem(u sending.Update, now time.Time) string {
	if u.RedisErr != "" {
		return u.RedisErr
	}
	for _, w := range u.Workers {
		if w.RedisErr != "" && w.Alive(now) {
			return "worker " + w.ID + ": " + w.RedisErr
		}
	}
	return ""
}

// rateMeter turns a growing count into a rate over the last few seconds.
type rateMeter struct {
	samples []rateSample
}

type rateSample struct {
	at time.Time
	n  int
}

func newRateMeter() *rateMeter { return &rateMeter{} }

func (m *rateMeter) add(at time.Time, n int) float64 {
	m.samples = append(m.samples, rateSample{at, n})
	for len(m.samples) > 2 && at.Sub(m.samples[0].at) > 5*time.Second {
		m.samples = m.samples[1:]
	}
	first := m.samples[0]
	if d := at.Sub(first.at).Seconds(); d > 0.5 {
		return float64(n-first.n) / d
	}
	return 0
}

// campaignExport writes the ledger as CSV.
func campaignExport(e *env, g *globals, args []string) error {
	defer noticeInterrupt(e)()
	fs := newFlagSet(e, "campaign export")
	g.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("campaign export needs a campaign ID and a file name (- for stdout)")
	}
	id, err := parseID(pos[0])
	if err != nil {
		return err
	}
	st, err := openStore(e, g)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := findCampaign(st, id)
	if err != nil {
		return err
	}
	var w io.Writer = e.stdout
	var f *os.File
	if pos[1] != "-" {
		// Written next to the target and renamed, so a failure leaves no half file.
		f, err = e.fs().CreateTemp(dirOf(pos[1]), ".tui-export-*")
		if err != nil {
			return writeProblem(pos[1], err)
		}
		defer e.fs().Remove(f.Name())
		w = f
	}
	n, err := writeLedgerCSV(e.ctx, w, st, c.ID)
	if err != nil {
		if f != nil {
			f.Close()
		}
		return err
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
		if err := e.fs().Rename(f.Name(), pos[1]); err != nil {
			return fmt.Errorf("write %s: %w", pos[1], err)
		}
		fmt.Fprintf(e.stderr, "Wrote %s of %q to %s.\n", english.Count(n, "recipient", "recipients"), c.Name, pos[1])
	}
	return nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}

func writeLedgerCSV(ctx context.Context, w io.Writer, st *store.Store, id uint64) (int, error) {
	return st.WriteLedgerCSV(ctx, w, id)
}

func csvSafe(s string) string { return store.CSVSafe(s) }

func campaignSetRate(e *env, g *globals, args []string) error {
	fs := newFlagSet(e, "campaign set-rate")
	g.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("campaign set-rate needs a campaign ID and messages per second (0: no limit)")
	}
	id, err := parseID(pos[0])
	if err != nil {
		return err
	}
	rate, err := strconv.Atoi(pos[1])
	switch {
	case err != nil:
		return usagef("%q is not a rate: give a whole number of messages per second, from 0 (no limit) to %d", pos[1], store.MaxRate)
	case rate < 0:
		return usagef("the rate cannot be negative (got %d): give messages per second from 0 (no limit) to %d", rate, store.MaxRate)
	case rate > store.MaxRate:
		return usagef("the rate %d is more than %d messages per second, the most tui allows", rate, store.MaxRate)
	}
	svc, closeAll, err := sendService(e, g)
	if err != nil {
		return err
	}
	defer closeAll()
	if _, err := findCampaign(svc.Store, id); err != nil {
		return err
	}
	c, err := svc.SetRate(e.ctx, e.actor(), id, rate)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("at %d/s", rate)
	if rate == 0 {
		what = "with no limit"
	}
	switch c.Status {
	case store.StatusSending, store.StatusPaused:
		fmt.Fprintf(e.stderr, "%q now sends %s; every worker follows within a second.\n", c.Name, what)
	case store.StatusCompleted, store.StatusFailed:
		fmt.Fprintf(e.stderr, "%q is %s; a retry of those it failed (tui campaign retry-failed %d) will send %s.\n", c.Name, c.Status, c.ID, what)
	case store.StatusCancelled:
		fmt.Fprintf(e.stderr, "%q is cancelled and sends no more; a duplicate of it will send %s.\n", c.Name, what)
	default:
		fmt.Fprintf(e.stderr, "%q will send %s.\n", c.Name, what)
	}
	return nil
}
