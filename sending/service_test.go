package sending

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
	"tui/internal/testkit"
	"tui/internal/testkit/seed"
	"tui/queue"
	"tui/store"
)

func newConn(t testing.TB, url string) *queue.Conn {
	t.Helper()
	c, err := queue.NewConn(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func create(t testing.TB, st *store.Store, c store.Campaign) store.Campaign {
	t.Helper()
	if c.Channel == "" {
		c.Channel = store.ChannelFile
	}
	if c.Body == "" {
		c.Body = "Hello {{.name}} from {{.city}}"
	}
	created, err := st.CreateCampaign("test", c)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func TestPreflightCountsAndErrors(t *testing.T) {
	st, _ := seed.Open(t)
	svc := New(st, newConn(t, "redis://127.0.0.1:1/0"))
	for _, c := range []store.Contact{
		{Address: "ann@example.com", Fields: map[string]string{"name": "Ann", "city": "Oslo"}, Tags: []string{"news"}},
		{Address: "bob@example.com", Fields: map[string]string{"name": "Bob", "city": "Rome"}, Tags: []string{"news", "vip"}},
		{Address: "cy@example.com", Fields: map[string]string{"name": "Cy", "city": "Lima"}, Tags: []string{"news", "unsub"}},
		{Address: "dee@example.com", Fields: map[string]string{"name": "Dee", "city": "Kyiv"}, Tags: []string{"news"}},
		{Address: "eve@example.com", Fields: map[string]string{"name": "Eve"}, Tags: []string{"vip"}},
	} {
		if _, _, err := st.AddContact("test", c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Suppress("test", "dee@example.com", "bounced"); err != nil {
		t.Fatal(err)
	}
	c := create(t, st, store.Campaign{Name: "Spring", Tags: []string{"news", "vip"}, ExcludeTags: []string{"unsub"},
		Subject: "Hi {{.name}}", Rate: 2})
	p, err := svc.Preflight(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	// ann, bob (in both tags: once), eve; not cy (excluded), not dee (suppressed).
	if p.Recipients != 3 {
		t.Fatalf("recipients = %d, want 3", p.Recipients)
	}
	if p.ErrorCount != 1 || len(p.Errors) != 1 || p.Errors[0].Address != "eve@example.com" {
		t.Fatalf("errors = %d %+v", p.ErrorCount, p.Errors)
	}
	var fe *store.FieldError
	if !errors.As(p.Errors[0].Err, &fe) || fe.Field != "body" || fe.Line != 1 || !strings.Contains(fe.Msg, "city") {
		t.Fatalf("error = %#v", p.Errors[0].Err)
	}
	if p.OK() || !strings.Contains(p.Problem(), "1 of 3") || !strings.Contains(p.Summary(), "eve@example.com") {
		t.Fatalf("preflight with an error: ok=%v %q %q", p.OK(), p.Problem(), p.Summary())
	}
	if p.Estimate != 1500*time.Millisecond || p.Sample == nil || p.Sample.Subject != "Hi Ann" {
		t.Fatalf("estimate %v sample %+v", p.Estimate, p.Sample)
	}
}

// An audience over a wide range of contact IDs is checked in parts, each
// walked by a goroutine of its own: everyone is counted once, the errors
// come in contact order whichever part found them, and the sample is the
// first recipient's message.
func TestPreflightInPartsKeepsContactOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // parts, on any machine
	st, _ := seed.Open(t)
	svc := New(st, newConn(t, "redis://127.0.0.1:1/0"))
	importRows := func(prefix string, n int) {
		var b strings.Builder
		b.WriteString("email,name,city\n")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "%s%d@example.com,Name %d,City\n", prefix, i, i)
		}
		if _, err := st.ImportCSV(context.Background(), strings.NewReader(b.String()), store.ImportOptions{Tags: []string{"all"}}); err != nil {
			t.Fatal(err)
		}
	}
	noCity := func(addr string) {
		if _, _, err := st.AddContact("test", store.Contact{Address: addr, Fields: map[string]string{"name": "X"}, Tags: []string{"all"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Contacts 1–4,500, one without a city (4,501), 4,502–9,001, another
	// (9,002): one in each of two parts.
	importRows("a", 4500)
	noCity("first-gap@example.com")
	importRows("b", 4500)
	noCity("second-gap@example.com")
	c := create(t, st, store.Campaign{Name: "Wide", Tags: []string{"all"}, Subject: "Hi {{.name}}"})
	p, err := svc.Preflight(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Recipients != 9002 || p.ErrorCount != 2 || len(p.Errors) != 2 {
		t.Fatalf("%d recipients, %d errors (%+v); want 9002 and 2", p.Recipients, p.ErrorCount, p.Errors)
	}
	if p.Errors[0].Address != "first-gap@example.com" || p.Errors[1].Address != "second-gap@example.com" {
		t.Errorf("errors out of contact order: %s, %s", p.Errors[0].Address, p.Errors[1].Address)
	}
	if p.Sample == nil || p.SampleTo != "a1@example.com" || p.Sample.Subject != "Hi Name 1" {
		t.Errorf("sample to %q: %+v; want the first recipient's, a1@example.com", p.SampleTo, p.Sample)
	}
}

// snapshot is every byte of the database file.
func snapshot(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func TestStartWithRedisDownChangesNothing(t *testing.T) {
	st, path := seed.Open(t)
	seed.Contacts(t, st, 50, "news")
	c := create(t, st, store.Campaign{Name: "Down", Tags: []string{"news"}})
	ln := testkit.FreeAddr(t)
	svc := New(st, newConn(t, "redis://:pa55word@"+ln+"/0"))
	p, err := svc.Preflight(context.Background(), c.ID)
	if err != nil || !p.OK() {
		t.Fatalf("preflight: %v %+v", err, p)
	}
	before := snapshot(t, path)
	beforeCampaign, _ := st.Campaign(c.ID)
	beforeAudit, _ := st.Audit(1000)

	start := time.Now()
	_, err = svc.Start(context.Background(), "test", c.ID, p.Campaign.Version, nil)
	elapsed := time.Since(start)
	var ue *queue.UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *queue.UnavailableError", err)
	}
	if elapsed > time.Second {
		t.Errorf("the failure took %v to report, want under 1 s", elapsed)
	}
	for _, want := range []string{"redis://:xxxxx@" + ln, "connection refused", "REDIS_URL", "redis-server"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "pa55word") {
		t.Errorf("message leaks the password: %v", err)
	}
	if after := snapshot(t, path); after != before {
		t.Errorf("the database file changed")
	}
	afterCampaign, _ := st.Campaign(c.ID)
	afterAudit, _ := st.Audit(1000)
	if fmt.Sprint(afterCampaign) != fmt.Sprint(beforeCampaign) || len(afterAudit) != len(beforeAudit) {
		t.Errorf("campaign or audit changed:\n%+v\n%+v", beforeCampaign, afterCampaign)
	}
	if counts, _ := st.LedgerCounts(c.ID); len(counts) != 0 {
		t.Errorf("ledger written: %v", counts)
	}
}

func rdbFor(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// streamKeys reads a campaign's whole stream and returns each job key's count.
func streamKeys(t testing.TB, rdb *redis.Client, campaignID uint64) map[string]int {
	t.Helper()
	keys := map[string]int{}
	start := "-"
	for {
		entries, err := rdb.XRangeN(context.Background(), queue.JobsKey(campaignID), start, "+", 5000).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			j, err := queue.ParseJob(campaignID, e.ID, e.Values)
			if err != nil {
				t.Fatal(err)
			}
			keys[j.Key()]++
		}
		if len(entries) < 5000 {
			return keys
		}
		start = "(" + entries[len(entries)-1].ID
	}
}

// queuedOnce fails unless the campaign's stream holds n recipients, each
// once.
func queuedOnce(t *testing.T, rdb *redis.Client, campaignID uint64, n int, when string) {
	t.Helper()
	keys := streamKeys(t, rdb, campaignID)
	if len(keys) != n {
		t.Fatalf("%s: the stream holds %d distinct recipients, want %d", when, len(keys), n)
	}
	for k, count := range keys {
		if count != 1 {
			t.Fatalf("%s: %s queued %d times", when, k, count)
		}
	}
}

func TestStartEnqueuesEveryRecipientOnce(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	seed.Contacts(t, st, n, "all")
	c := create(t, st, store.Campaign{Name: "Big", Tags: []string{"all"}, Subject: "Hi {{.name}}"})
	svc := New(st, newConn(t, srv.URL()))
	p, err := svc.Preflight(context.Background(), c.ID)
	if err != nil || !p.OK() || p.Recipients != n {
		t.Fatalf("preflight: %v %+v", err, p)
	}
	var last Progress
	res, err := svc.Start(context.Background(), "ann@test", c.ID, p.Campaign.Version, func(pr Progress) { last = pr })
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != n || res.Total != n || last.Enqueued != n {
		t.Fatalf("result %+v, last progress %+v", res, last)
	}
	rdb := rdbFor(t, srv)
	queuedOnce(t, rdb, c.ID, n, "after the start")
	entries, _ := rdb.XRangeN(context.Background(), queue.JobsKey(c.ID), "-", "+", 1).Result()
	job, err := queue.ParseJob(c.ID, entries[0].ID, entries[0].Values)
	if err != nil || job.Subject != "Hi Name 1" || job.To != "c1@example.com" || job.Key() != fmt.Sprintf("%d:%d", c.ID, job.ContactID) {
		t.Fatalf("first job %+v %v", job, err)
	}
	if active, _ := rdb.SIsMember(context.Background(), queue.ActiveKey(), c.ID).Result(); !active {
		t.Fatal("campaign not marked active")
	}
	got, _ := st.Campaign(c.ID)
	if got.Status != store.StatusSending || got.LastSend == nil || got.LastSend.Total != n || got.LastSend.StartedBy != "ann@test" {
		t.Fatalf("campaign after start: %+v", got)
	}
	counts, _ := st.LedgerCounts(c.ID)
	if counts[store.RecipientQueued] != n {
		t.Fatalf("ledger %v", counts)
	}
	if ss, _ := st.SendState(c.ID); !ss.Enqueued || ss.Round != 1 {
		t.Fatalf("send state %+v", ss)
	}
	audit, _ := st.Audit(1)
	if audit[0].Action != "campaign.send" || audit[0].Actor != "ann@test" {
		t.Fatalf("audit %+v", audit[0])
	}
	// A second start is refused; a resume has nothing to do.
	if _, err := svc.Start(context.Background(), "x", c.ID, 0, nil); err == nil {
		t.Fatal("a second start was accepted")
	}
	if _, err := svc.Resume(context.Background(), "test", c.ID, nil); !errors.Is(err, ErrNothingToResume) {
		t.Fatalf("resume: %v", err)
	}
	if keys := streamKeys(t, rdb, c.ID); len(keys) != n {
		t.Fatalf("stream changed to %d", len(keys))
	}
}

func TestInterruptedEnqueueResumesWithoutDuplicates(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	n := 5000
	seed.Contacts(t, st, n, "all")
	c := create(t, st, store.Campaign{Name: "Cut", Tags: []string{"all"}})
	svc := New(st, newConn(t, srv.URL()))
	ctx, cancel := context.WithCancel(context.Background())
	_, err := svc.Start(ctx, "test", c.ID, 0, func(p Progress) {
		if p.Enqueued >= 2000 {
			cancel()
		}
	})
	if err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("interrupted start: %v", err)
	}
	rdb := rdbFor(t, srv)
	if got := len(streamKeys(t, rdb, c.ID)); got == 0 || got >= n {
		t.Fatalf("after the interruption the stream holds %d", got)
	}
	res, err := svc.Resume(context.Background(), "test", c.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	queuedOnce(t, rdb, c.ID, n, fmt.Sprintf("after resume (result %+v)", res))
}

func TestEnqueueFailsRecipientsWhoseMessageCannotRender(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	for _, a := range []string{"a@example.com", "b@example.com"} {
		if _, _, err := st.AddContact("t", store.Contact{Address: a, Fields: map[string]string{"name": "x", "city": "y"}, Tags: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	c := create(t, st, store.Campaign{Name: "Late", Tags: []string{"t"}})
	svc := New(st, newConn(t, srv.URL()))
	p, _ := svc.Preflight(context.Background(), c.ID)
	// A contact without a city arrives between preflight and start.
	if _, _, err := st.AddContact("t", store.Contact{Address: "c@example.com", Fields: map[string]string{"name": "z"}, Tags: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	res, err := svc.Start(context.Background(), "t", c.ID, p.Campaign.Version, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 2 || res.Failed != 1 {
		t.Fatalf("result %+v", res)
	}
	var failed store.LedgerEntry
	_ = st.ForEachLedger(c.ID, func(e store.LedgerEntry) error {
		if e.State == store.RecipientFailed {
			failed = e
		}
		return nil
	})
	if failed.Address != "c@example.com" || !strings.Contains(failed.LastError, "city") {
		t.Fatalf("failed entry %+v", failed)
	}
}

func TestStartRefusesAChangedCampaign(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	seed.Contacts(t, st, 3, "t")
	c := create(t, st, store.Campaign{Name: "V", Tags: []string{"t"}})
	svc := New(st, newConn(t, srv.URL()))
	p, _ := svc.Preflight(context.Background(), c.ID)
	c.Body = "Changed {{.name}}"
	if _, err := st.UpdateCampaign("other", c); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Start(context.Background(), "t", c.ID, p.Campaign.Version, nil)
	var ce *store.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a conflict", err)
	}
	if got, _ := st.Campaign(c.ID); got.Status != store.StatusDraft {
		t.Fatalf("status %s", got.Status)
	}
}

// Redis loses everything while a retry round's enqueue is interrupted: the
// resume queues again every recipient not done, of this round and earlier.
func TestResumeAfterALostQueueMidRetryQueuesEveryoneNotDone(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	const n = 3000
	seed.Contacts(t, st, n, "all")
	c := create(t, st, store.Campaign{Name: "Twice", Tags: []string{"all"}})
	svc := New(st, newConn(t, srv.URL()))
	ctx := context.Background()
	if _, err := svc.Start(ctx, "t", c.ID, 0, nil); err != nil {
		t.Fatal(err)
	}
	// A third failed in round 1; the rest are still queued (no worker).
	var events []store.RecipientEvent
	if err := st.ForEachLedger(c.ID, func(e store.LedgerEntry) error {
		if e.ContactID%3 == 0 {
			events = append(events, store.RecipientEvent{ContactID: e.ContactID, Round: 1, State: store.RecipientFailed, Attempt: 5, Reason: "550", At: time.Now()})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ApplyEvents(c.ID, "1-1", events); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	_, err := svc.RetryFailed(cctx, "t", c.ID, func(p Progress) {
		if p.Enqueued > 0 {
			cancel()
		}
	})
	if err == nil {
		t.Fatal("the retry round was not interrupted")
	}
	rdb := rdbFor(t, srv)
	if err := rdb.FlushAll(ctx).Err(); err != nil { // Redis restarted without its data
		t.Fatal(err)
	}
	if _, err := svc.Resume(ctx, "t", c.ID, nil); err != nil {
		t.Fatal(err)
	}
	queuedOnce(t, rdb, c.ID, n, "after resume (none was done)")
}

// A send larger than a ledger chunk writes its ledger a chunk at a time,
// queueing each before writing the next: an audience of several tags, with
// exclusions and a suppressed address, reaches the queue in ascending
// contact order, everyone once. Interrupted between chunks (only the first
// written), a resume writes the rest and queues everyone once.
func TestLedgerInChunksQueuesEveryoneOnce(t *testing.T) {
	defer func(n int) { store.LedgerChunk = n }(store.LedgerChunk)
	store.LedgerChunk = 7
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	seed.Contacts(t, st, 60, "all")
	// Tags that interleave: "odd" on odd contacts, "third" on every third,
	// "out" on every fifth (excluded); contact 3 suppressed.
	var odd, third, out []uint64
	want := map[uint64]bool{}
	for i := 1; i <= 60; i++ {
		ct, err := st.ContactByAddress(fmt.Sprintf("c%d@example.com", i))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			odd = append(odd, ct.ID)
		}
		if i%3 == 0 {
			third = append(third, ct.ID)
		}
		if i%5 == 0 {
			out = append(out, ct.ID)
		}
		if (i%2 == 1 || i%3 == 0) && i%5 != 0 && i != 3 {
			want[ct.ID] = true
		}
	}
	for tag, ids := range map[string][]uint64{"odd": odd, "third": third, "out": out} {
		if err := st.TagContacts("test", ids, []string{tag}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Suppress("test", "c3@example.com", "asked"); err != nil {
		t.Fatal(err)
	}
	for _, interrupted := range []bool{false, true} {
		c := create(t, st, store.Campaign{Name: fmt.Sprintf("Chunks %v", interrupted), Tags: []string{"third", "odd"}, ExcludeTags: []string{"out"}})
		svc := New(st, newConn(t, srv.URL()))
		if interrupted {
			// The start died after its first transaction.
			if _, _, err := st.StartSend("test", c.ID, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Resume(context.Background(), "test", c.ID, nil); err != nil {
				t.Fatal(err)
			}
		} else {
			// Each chunk is written while the one before is queued, and
			// each pass stops at its own chunk's end: no job is offered
			// twice (and refused by Redis the second time).
			res, err := svc.Start(context.Background(), "test", c.ID, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Added != len(want) || res.Already != 0 {
				t.Fatalf("queued %d and offered %d again, want %d and none", res.Added, res.Already, len(want))
			}
		}
		rdb := rdbFor(t, srv)
		entries, err := rdb.XRange(context.Background(), queue.JobsKey(c.ID), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		got := map[uint64]bool{}
		var last uint64
		for _, e := range entries {
			j, err := queue.ParseJob(c.ID, e.ID, e.Values)
			if err != nil {
				t.Fatal(err)
			}
			if j.ContactID <= last {
				t.Fatalf("contact %d queued after %d", j.ContactID, last)
			}
			last = j.ContactID
			got[j.ContactID] = true
		}
		if len(entries) != len(want) || len(got) != len(want) {
			t.Fatalf("interrupted %v: %d jobs for %d distinct recipients, want %d", interrupted, len(entries), len(got), len(want))
		}
		for k := range want {
			if !got[k] {
				t.Fatalf("interrupted %v: contact %d never queued", interrupted, k)
			}
		}
		ss, err := st.SendState(c.ID)
		if err != nil || ss.Total != len(want) || ss.Counts[store.RecipientQueued] != len(want) || ss.LedgerPending || !ss.Enqueued {
			t.Fatalf("interrupted %v: send state %+v %v", interrupted, ss, err)
		}
	}
}

// A pass given the end of its chunk queues nobody past it, though the
// ledger already holds the next chunk (written while the pass runs).
func TestEnqueuePassStopsAtItsChunksEnd(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	seed.Contacts(t, st, 30, "all")
	c := create(t, st, store.Campaign{Name: "Bounded", Tags: []string{"all"}})
	if _, _, err := st.StartSend("test", c.ID, 0); err != nil { // the whole ledger: 30 < the first chunk
		t.Fatal(err)
	}
	c, err := st.Campaign(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(&c, nil)
	if err != nil {
		t.Fatal(err)
	}
	rdb := rdbFor(t, srv)
	var res Result
	p := &enqueuePass{s: New(st, newConn(t, srv.URL())), rdb: rdb, c: c, round: 1, renderer: r, res: &res, total: 30}
	var ids []uint64
	if err := st.ForEachLedger(c.ID, func(e store.LedgerEntry) error {
		ids = append(ids, e.ContactID)
		return nil
	}); err != nil || len(ids) != 30 {
		t.Fatalf("%d ledger rows, %v", len(ids), err)
	}
	upTo := ids[19] // two thirds of the way
	if err := p.run(context.Background(), 0, upTo); err != nil {
		t.Fatal(err)
	}
	entries, err := rdb.XRange(context.Background(), queue.JobsKey(c.ID), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		j, err := queue.ParseJob(c.ID, e.ID, e.Values)
		if err != nil || j.ContactID > upTo {
			t.Fatalf("contact %d queued past %d (%v)", j.ContactID, upTo, err)
		}
	}
	if res.Added == 0 || res.Added != len(entries) {
		t.Fatalf("queued %d, the stream holds %d", res.Added, len(entries))
	}
}

// While a worker from before packed jobs runs, a send is refused with
// what to do, and nothing changes: it would fail every job it took.
func TestSendIsRefusedWhileAnOutdatedWorkerRuns(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := seed.Open(t)
	seed.Contacts(t, st, 5, "all")
	c := create(t, st, store.Campaign{Name: "Old", Tags: []string{"all"}})
	rdb := rdbFor(t, srv)
	ctx := context.Background()
	// A heartbeat as such a worker writes it: no job format.
	rdb.HSet(ctx, queue.WorkerKey("old-1"), "host", "oldhost", "last_seen", time.Now().UnixMilli())
	rdb.SAdd(ctx, queue.WorkersKey(), "old-1")
	svc := New(st, newConn(t, srv.URL()))
	_, err := svc.Start(ctx, "test", c.ID, 0, nil)
	if err == nil || !strings.Contains(err.Error(), "old-1 (host oldhost) runs an older tui") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("start beside an outdated worker: %v", err)
	}
	if got, _ := st.Campaign(c.ID); got.Status != store.StatusDraft {
		t.Fatalf("the campaign is %s after the refusal", got.Status)
	}
	if n, _ := rdb.Exists(ctx, queue.JobsKey(c.ID)).Result(); n != 0 {
		t.Fatal("jobs were queued")
	}
	// Gone (stopped and upgraded), the send goes.
	rdb.Del(ctx, queue.WorkerKey("old-1"))
	if _, err := svc.Start(ctx, "test", c.ID, 0, nil); err != nil {
		t.Fatal(err)
	}
	// A resume is refused alike.
	if _, err := svc.Pause(ctx, "test", c.ID); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, queue.WorkerKey("old-2"), "host", "oldhost", "last_seen", time.Now().UnixMilli())
	rdb.SAdd(ctx, queue.WorkersKey(), "old-2")
	if _, err := svc.Resume(ctx, "test", c.ID, nil); err == nil || !strings.Contains(err.Error(), "old-2") {
		t.Fatalf("resume beside an outdated worker: %v", err)
	}
	if got, _ := st.Campaign(c.ID); got.Status != store.StatusPaused {
		t.Fatalf("the campaign is %s after the refused resume", got.Status)
	}
}
