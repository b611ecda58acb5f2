package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tui/queue"
)

// outboxLine is what a test reads back from the outbox.
type outboxLine struct {
	Campaign uint64 `json:"campaign"`
	Contact  uint64 `json:"contact"`
	Key      string `json:"key"`
	To       string `json:"to"`
	Channel  string `json:"channel"`
	Subject  string `json:"subject"`
	Body     string `json:"body"`
	Attempt  int    `json:"attempt"`
	Worker   string `json:"worker"`
	At       string `json:"at"`
}

var outboxFields = []string{"campaign", "contact", "key", "to", "channel", "subject", "body", "attempt", "worker", "at"}

// readOutbox parses every line strictly: each must be one JSON object with
// exactly the outbox fields, or the test fails naming the line.
func readOutbox(t *testing.T, path string) []outboxLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("outbox does not end with a newline: a line was cut")
	}
	var lines []outboxLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Bytes()
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatalf("outbox line %d is not one JSON object (interleaved?): %v\n%.300s", n, err, raw)
		}
		for _, f := range outboxFields {
			if _, ok := fields[f]; !ok {
				t.Fatalf("outbox line %d has no %q: %.300s", n, f, raw)
			}
		}
		if len(fields) != len(outboxFields) {
			t.Fatalf("outbox line %d has %d fields, want %d: %.300s", n, len(fields), len(outboxFields), raw)
		}
		var l outboxLine
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("outbox line %d: %v", n, err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func fileJob(campaign, contact uint64, body string) queue.Job {
	return queue.Job{CampaignID: campaign, ContactID: contact, To: fmt.Sprintf("c%d@example.com", contact),
		Channel: "file", Subject: "Hello " + strconv.FormatUint(contact, 10), Body: body}
}

func TestFileChannelWritesEveryField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	ch, err := NewFileChannel(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	job := queue.Job{CampaignID: 18446744073709551615, ContactID: 7, To: "ana@example.com", Channel: "file",
		Subject: `Say "hi" \ now`, Body: "line one\nline two\ttab\r\x00\x1f é 日本 \u2028\u2029 bad:\xff end"}
	before := time.Now().Add(-time.Second)
	if err := ch.Deliver(context.Background(), Delivery{Job: job, Attempt: 3, Worker: "host-42"}); err != nil {
		t.Fatal(err)
	}
	lines := readOutbox(t, path)
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1", len(lines))
	}
	l := lines[0]
	want := outboxLine{Campaign: job.CampaignID, Contact: 7, Key: job.Key(), To: job.To, Channel: "file",
		Subject: job.Subject, Body: strings.ToValidUTF8(job.Body, "\uFFFD"), Attempt: 3, Worker: "host-42", At: l.At}
	if l != want {
		t.Fatalf("line\n got %+v\nwant %+v", l, want)
	}
	at, err := time.Parse(time.RFC3339Nano, l.At)
	if err != nil {
		t.Fatalf("at %q is not RFC 3339: %v", l.At, err)
	}
	if at.Before(before) || at.After(time.Now().Add(time.Second)) || !strings.HasSuffix(l.At, "Z") {
		t.Fatalf("at %q is not the delivery time in UTC", l.At)
	}
}

func TestFileChannelConcurrentDeliveriesNeverInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	ch, err := NewFileChannel(path)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 250
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				contact := uint64(g*each + i + 1)
				// Bodies from a few bytes to 16 KiB: big writes are the
				// ones that would tear if lines were written in pieces.
				body := strings.Repeat(string(rune('a'+g)), (i*977)%(16<<10))
				d := Delivery{Job: fileJob(5, contact, body), Attempt: 1, Worker: "w" + strconv.Itoa(g)}
				if err := ch.Deliver(context.Background(), d); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	checkOutbox(t, readOutbox(t, path), map[string]int{}, goroutines*each)
}

// checkOutbox checks that lines hold want distinct keys, each body made of
// one repeated letter (a torn line would mix them).
func checkOutbox(t *testing.T, lines []outboxLine, seen map[string]int, want int) {
	t.Helper()
	for _, l := range lines {
		if l.Key != fmt.Sprintf("%d:%d", l.Campaign, l.Contact) {
			t.Fatalf("key %q does not match campaign %d and contact %d", l.Key, l.Campaign, l.Contact)
		}
		if strings.Trim(l.Body, l.Body[:min(1, len(l.Body))]) != "" {
			t.Fatalf("body of %s mixes writers: %.80q", l.Key, l.Body)
		}
		seen[l.Worker+"/"+l.Key]++
	}
	if len(lines) != want || len(seen) != want {
		t.Fatalf("got %d lines with %d distinct worker/keys, want %d", len(lines), len(seen), want)
	}
}

// TestFileChannelHelperProcess is the body of the other processes in
// TestFileChannelTwoProcessesNeverInterleave; it does nothing on its own.
func TestFileChannelHelperProcess(t *testing.T) {
	path := os.Getenv("TUI_TEST_OUTBOX_HELPER")
	if path == "" {
		t.Skip("runs only as a helper process")
	}
	name := os.Getenv("TUI_TEST_OUTBOX_NAME")
	ch, err := NewFileChannel(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for i := range 250 {
				body := strings.Repeat(string(rune('a'+g)), (i*1543)%(24<<10))
				d := Delivery{Job: fileJob(9, uint64(g*1000+i+1), body), Attempt: 1, Worker: name}
				if err := ch.Deliver(context.Background(), d); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFileChannelTwoProcessesNeverInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	procs := make([]*exec.Cmd, 2)
	outs := make([]*bytes.Buffer, 2)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileChannelHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TUI_TEST_OUTBOX_HELPER="+path, "TUI_TEST_OUTBOX_NAME=proc"+strconv.Itoa(i))
		outs[i] = &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = cmd
	}
	for i, cmd := range procs {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i])
		}
	}
	lines := readOutbox(t, path)
	perProc := map[string]int{}
	for _, l := range lines {
		perProc[l.Worker]++
	}
	if perProc["proc0"] != 750 || perProc["proc1"] != 750 {
		t.Fatalf("lines per process: %v, want 750 each", perProc)
	}
	checkOutbox(t, lines, map[string]int{}, 1500)
}

func TestFileChannelAfterCloseFailsTransiently(t *testing.T) {
	ch, err := NewFileChannel(filepath.Join(t.TempDir(), "outbox"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ch.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	de := Classify(ch.Deliver(context.Background(), Delivery{Job: fileJob(1, 1, "x"), Attempt: 1}))
	if de == nil || !de.Transient || !strings.Contains(de.Reason, "closed") {
		t.Fatalf("delivery after Close: %#v, want a transient failure saying the outbox is closed", de)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ch2, err := NewFileChannel(filepath.Join(t.TempDir(), "outbox"))
	if err != nil {
		t.Fatal(err)
	}
	defer ch2.Close()
	if err := ch2.Deliver(ctx, Delivery{Job: fileJob(1, 1, "x"), Attempt: 1}); err == nil {
		t.Fatal("delivery with a cancelled context succeeded")
	}
	if info, _ := os.Stat(ch2.Path()); info.Size() != 0 {
		t.Fatalf("a cancelled delivery wrote %d bytes", info.Size())
	}
}

func TestFileChannelNeedsAWritableOutbox(t *testing.T) {
	if _, err := NewFileChannel(""); err == nil || !strings.Contains(err.Error(), "--outbox") || !strings.Contains(err.Error(), "TUI_OUTBOX") {
		t.Fatalf("no path: %v, want a message naming --outbox and TUI_OUTBOX", err)
	}
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "outbox")
	if _, err := NewFileChannel(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing directory: %v, want a message naming the path", err)
	}
}

// BenchmarkFileChannelDevNull is the cost of one delivery to /dev/null from
// one goroutine.
func BenchmarkFileChannelDevNull(b *testing.B) {
	ch, err := NewFileChannel(os.DevNull)
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	d := Delivery{Job: fileJob(12, 345, strings.Repeat("Hello {{.name}}, spring is here. ", 8)), Attempt: 1, Worker: "bench-1"}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.Job.ContactID = uint64(i)
		if err := ch.Deliver(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileChannel100k delivers 100,000 messages to /dev/null per
// operation from 16 goroutines, as a worker with --concurrency 16 would.
func BenchmarkFileChannel100k(b *testing.B) {
	ch, err := NewFileChannel(os.DevNull)
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	const total, workers = 100_000, 16
	body := strings.Repeat("Hello {{.name}}, spring is here. ", 8)
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		var wg sync.WaitGroup
		for g := range workers {
			wg.Go(func() {
				d := Delivery{Job: fileJob(12, 0, body), Attempt: 1, Worker: "bench-1"}
				for i := g; i < total; i += workers {
					d.Job.ContactID = uint64(i)
					if err := ch.Deliver(ctx, d); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.N*total)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkFileChannelEncodeLine is the encoding alone, without the write.
func BenchmarkFileChannelEncodeLine(b *testing.B) {
	d := Delivery{Job: fileJob(12, 345, strings.Repeat("Hello {{.name}}, spring is here. ", 8)), Attempt: 1, Worker: "bench-1"}
	buf := make([]byte, 0, 1024)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		buf = appendOutboxLine(buf[:0], &d, now)
	}
	b.SetBytes(int64(len(buf)))
}

// The outbox follows its path: moved away (logrotate) or deleted, the next
// lines go to a new file there, within a second; ReopenOutboxes (SIGHUP)
// switches at once.
func TestFileChannelFollowsAMovedOrDeletedOutbox(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.jsonl")
	ch, err := NewFileChannel(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	clock := time.Now()
	ch.now = func() time.Time { return clock }
	deliver := func(contact uint64) {
		t.Helper()
		if err := ch.Deliver(context.Background(), Delivery{Job: fileJob(1, contact, "b"), Attempt: 1, Worker: "w"}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(p string) int {
		t.Helper()
		if _, err := os.Stat(p); os.IsNotExist(err) {
			return 0
		}
		return len(readOutbox(t, p))
	}

	deliver(1)
	// Moved: lines keep going to the moved file until the next check.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	deliver(2)
	clock = clock.Add(outboxCheckEvery)
	deliver(3)
	if a, b := count(path+".1"), count(path); a != 2 || b != 1 {
		t.Fatalf("after a move: %d lines in the moved file, %d in the new one; want 2 and 1", a, b)
	}

	// Deleted: the same.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(outboxCheckEvery)
	deliver(4)
	if n := count(path); n != 1 {
		t.Fatalf("after a delete: %d lines in the new file, want 1", n)
	}

	// SIGHUP: at once, with no time passing.
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	ReopenOutboxes()
	deliver(5)
	if a, b := count(path+".2"), count(path); a != 1 || b != 1 {
		t.Fatalf("after ReopenOutboxes: %d and %d lines, want 1 and 1", a, b)
	}

	// A path that cannot be opened any more fails the delivery as
	// transient: the job goes to another worker or waits, never lost.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(outboxCheckEvery)
	err = ch.Deliver(context.Background(), Delivery{Job: fileJob(1, 6, "b"), Attempt: 1, Worker: "w"})
	var de *DeliveryError
	if !errors.As(err, &de) || !de.Transient || !strings.Contains(de.Reason, "open the outbox") {
		t.Fatalf("delivering with the outbox's directory gone: %v, want a transient error", err)
	}
}

// A deliverer writes its chunk's outbox lines at once, before any of their
// outcomes is handed over; a write that fails turns them into what a
// failed delivery gives: a retry while attempts remain, else a failure.
func TestStagedOutboxLinesAreWrittenTogetherAndFailAsDeliveries(t *testing.T) {
	w := New(nil, Config{ID: "w1", Concurrency: 1})
	task := func(contact uint64, attempt int) *task {
		j := fileJob(1, contact, "body")
		j.Attempt = attempt
		t := &task{f: queue.Fetched{CampaignID: 1, EntryID: fmt.Sprintf("1-%d", contact), Job: j}}
		t.renewedAt.Store(time.Now().UnixNano())
		// Held, as a fetched job is: its slot taken.
		w.held.take(context.Background())
		w.held.add([]*task{t})
		return t
	}
	path := filepath.Join(t.TempDir(), "outbox")
	fc, err := NewFileChannel(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	var st staging
	var outs []outcome
	now := time.Now()
	for c := uint64(1); c <= 4; c++ {
		w.stage(&st, fc, task(c, 1), &outs, 3, now)
	}
	// The third's lease was lost meanwhile (another worker reclaimed it):
	// its line is not written, and its outcome goes.
	outs[2].t.renewedAt.Store(time.Now().Add(-time.Hour).UnixNano())
	if info, _ := os.Stat(path); info.Size() != 0 {
		t.Fatalf("%d bytes written before the chunk's write", info.Size())
	}
	w.writeStaged(&st, &outs)
	if lines := readOutbox(t, path); len(lines) != 3 || lines[0].Contact != 1 || lines[1].Contact != 2 || lines[2].Contact != 4 || lines[0].Worker != "w1" {
		t.Fatalf("outbox after the write: %+v", lines)
	}
	if len(outs) != 3 || outs[2].t.f.Job.ContactID != 4 {
		t.Fatalf("outcomes after the write: %+v", outs)
	}
	for _, o := range outs {
		if o.out.Event.Type != queue.EventDelivered || o.out.Final != "sent" {
			t.Fatalf("a written line's outcome: %+v", o.out)
		}
	}
	if len(st.items) != 0 || len(st.lines) != 0 {
		t.Fatal("the staging was not emptied by its write")
	}

	full, err := NewFileChannel("/dev/full") // every write fails: no space left
	if err != nil {
		t.Skipf("no /dev/full here: %v", err)
	}
	defer full.Close()
	outs = outs[:0]
	w.stage(&st, full, task(4, 1), &outs, 3, now)
	w.stage(&st, full, task(5, 3), &outs, 3, now)
	w.writeStaged(&st, &outs)
	retry, failed := outs[0].out, outs[1].out
	if retry.Event.Type != queue.EventRetry || retry.Final != "" || retry.Job.Attempt != 2 || !strings.Contains(retry.Event.Reason, "outbox") {
		t.Errorf("a line not written with attempts left: %+v", retry)
	}
	if failed.Event.Type != queue.EventFailed || failed.Final != "failed" || !strings.Contains(failed.Event.Reason, "outbox") {
		t.Errorf("a line not written on its last attempt: %+v", failed)
	}
	if outs[0].t.f.Job.ContactID != 4 || outs[1].t.f.Job.ContactID != 5 || !outs[0].ack || !outs[1].ack {
		t.Errorf("the outcomes lost their tasks: %+v", outs)
	}
}

// A batched write that stops partway (the file reached its size limit, as
// a disk that fills up would stop it): the lines wholly written are
// delivered, the rest are retried. The limit is set in a process of its
// own.
func TestStagedOutboxLinesPartlyWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestStagedOutboxPartialHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TUI_TEST_PARTIAL_OUTBOX="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	got := regexp.MustCompile(`outcomes: (.*)`).FindSubmatch(out)
	if got == nil || string(got[1]) != "delivered retry retry" {
		t.Fatalf("outcomes of a write that stopped within the second line: %q\n%s", got, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := bytes.Cut(data, []byte("\n"))
	var l outboxLine
	if err := json.Unmarshal(first, &l); err != nil || l.Contact != 1 {
		t.Fatalf("the first line, wholly written: %v %+v", err, l)
	}
}

// TestStagedOutboxPartialHelper is the process of TestStagedOutboxLinesPartlyWritten.
func TestStagedOutboxPartialHelper(t *testing.T) {
	path := os.Getenv("TUI_TEST_PARTIAL_OUTBOX")
	if path == "" {
		t.Skip("runs only as a helper process")
	}
	fc, err := NewFileChannel(path)
	if err != nil {
		t.Fatal(err)
	}
	w := New(nil, Config{ID: "w1", Concurrency: 1})
	var st staging
	var outs []outcome
	for c := uint64(1); c <= 3; c++ {
		j := fileJob(1, c, strings.Repeat("b", 500))
		j.Attempt = 1
		t := &task{f: queue.Fetched{CampaignID: 1, EntryID: fmt.Sprintf("1-%d", c), Job: j}}
		t.renewedAt.Store(time.Now().UnixNano())
		w.stage(&st, fc, t, &outs, 3, time.Now())
	}
	// Room for the first line and part of the second.
	limit := uint64(len(appendOutboxLine(nil, &Delivery{Job: outs[0].t.f.Job, Attempt: 1, Worker: "w1"}, time.Now())) + 100)
	signal.Ignore(syscall.SIGXFSZ)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatal(err)
	}
	w.writeStaged(&st, &outs)
	var types []string
	for _, o := range outs {
		types = append(types, string(o.out.Event.Type))
	}
	fmt.Printf("outcomes: %s\n", strings.Join(types, " "))
}
