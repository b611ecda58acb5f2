package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
	"tui/queue"
	"tui/store"
)

// The processes people run, measured as they run them — the real binary,
// `campaign send` and `--headless-worker`, each its own process — beside
// the ceilings of the same run on the same redis-server:
//
//	C_add    pipelined XADD of 100,000 entries of a job's eight fields
//	C_drain  XREADGROUP COUNT 500 + XACK of those 100,000 entries
//
// Figures are ratios to them (higher is better), so that they compare
// across machines and loads; the ceilings are measured before and after
// each run's processes, and their mean taken. tui now packs a job into one field (see
// queue.JobField), which Redis and both clients handle faster than eight:
// the same ceilings of entries packed the same way (C_add-packed,
// C_drain-packed) are reported beside them, and the ratios to those are
// the fair ones. `make bench-processes` runs this alone.

const benchN = 100_000

// benchDB makes a database with n contacts tagged "all" and a draft file
// campaign to them, at rate (0: none).
func benchDB(b *testing.B, n, rate int) (db string, id uint64) {
	b.Helper()
	db = filepath.Join(b.TempDir(), "tui.db")
	st, err := store.Open(db)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw)
		fmt.Fprintln(w, "email,name")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "c%d@example.com,Name %d\n", i, i)
		}
		w.Flush()
		pw.Close()
	}()
	if _, err := st.ImportCSV(context.Background(), pr, store.ImportOptions{Tags: []string{"all"}}); err != nil {
		b.Fatal(err)
	}
	c, err := st.CreateCampaign("bench", store.Campaign{Name: "Bench", Channel: store.ChannelFile, Rate: rate,
		Tags: []string{"all"}, Subject: "Hello {{.name}}", Body: "A message body of a typical short length for {{.name}}."})
	if err != nil {
		b.Fatal(err)
	}
	return db, c.ID
}

func benchCmd(b *testing.B, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(tuiBinary(b), args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + b.TempDir()}, env...)
	return cmd
}

func runCmd(b *testing.B, cmd *exec.Cmd) time.Duration {
	b.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
	}
	return time.Since(start)
}

// memPeaks is what runSampled reads of a process's memory, in MiB.
type memPeaks struct {
	hwm  float64 // VmHWM: its own resident high-water mark, file maps and anonymous memory together
	anon float64 // the largest RssAnon read: the Go heap, stacks and runtime, not the database file bbolt maps
}

// runSampled runs cmd as runCmd does, reading /proc/PID/status every 10 ms
// while it runs. VmHWM only grows, so its last reading is the process's
// peak but for what it added in its last 10 ms; RssAnon is a sampled peak,
// which may miss a shorter spike. Both are 0 where /proc is not at hand.
//
// The rusage Maxrss of a process started from Go is no such figure when
// it is small: os/exec starts it with vfork, sharing this process's memory
// until the exec, and the kernel carries the high-water mark of that memory
// into the child's, so its Maxrss is at least this benchmark's own peak
// (132.7 MiB when it held a million outbox timestamps at once).
func runSampled(b *testing.B, cmd *exec.Cmd) memPeaks {
	b.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	peaks := make(chan memPeaks, 1)
	go func() {
		status := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"
		var kib memPeaks
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if data, err := os.ReadFile(status); err == nil {
				for _, line := range strings.Split(string(data), "\n") {
					f := strings.Fields(line)
					if len(f) != 3 {
						continue
					}
					v, err := strconv.ParseFloat(f[1], 64)
					switch {
					case err != nil:
					case f[0] == "VmHWM:" && v > kib.hwm:
						kib.hwm = v
					case f[0] == "RssAnon:" && v > kib.anon:
						kib.anon = v
					}
				}
			}
			select {
			case <-done:
				peaks <- memPeaks{hwm: kib.hwm / 1024, anon: kib.anon / 1024}
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	if err != nil {
		b.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
	}
	return <-peaks
}

// startWorkers starts n headless workers delivering to /dev/null.
func startWorkers(b *testing.B, url string, n int, extra ...string) func() {
	b.Helper()
	var cmds []*exec.Cmd
	for i := 0; i < n; i++ {
		cmd := benchCmd(b, []string{"REDIS_URL=" + url},
			append([]string{"--headless-worker", "--outbox", "/dev/null", "--concurrency", "32"}, extra...)...)
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	return func() {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	}
}

// awaitWorkers waits until n workers report to Redis: a send people
// start finds its workers running, and two processes starting inside the
// measured span were charged for their start.
func awaitWorkers(b *testing.B, rdb *redis.Client, n int) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ws, err := queue.Workers(context.Background(), rdb)
		alive := 0
		for i := range ws {
			if ws[i].Alive(time.Now()) {
				alive++
			}
		}
		if err == nil && alive >= n {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.Fatalf("%d workers did not report within 30 s", n)
}

// drained waits until the workers' group has read and acknowledged n jobs
// of the campaign's stream.
func drained(b *testing.B, rdb *redis.Client, id uint64, n int) {
	b.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		groups, err := rdb.XInfoGroups(ctx, queue.JobsKey(id)).Result()
		if err == nil && len(groups) == 1 && groups[0].EntriesRead >= int64(n) && groups[0].Pending == 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.Fatalf("campaign %d not drained within 5 minutes", id)
}

// ceiling is C_add and C_drain, in jobs per second, of entries of the
// given fields.
type ceiling struct{ add, drain float64 }

func (c ceiling) mean(o ceiling) ceiling {
	return ceiling{(c.add + o.add) / 2, (c.drain + o.drain) / 2}
}

// ceilings measures the ceilings of entries of a job's eight fields, as
// tui wrote them before, and of the same job packed in one field.
func ceilings(b *testing.B, rdb *redis.Client) (eight, packed ceiling) {
	b.Helper()
	// A job's eight fields with values of the same length (as
	// BenchmarkEnqueue100k's ceiling), and the same job packed.
	eightFields := []any{"key", "9:12345", "contact", 12345, "round", 1, "attempt", 1, "to", "c12345@example.com",
		"channel", "file", "subject", "Hello Name 12345", "body", "A message body of a typical short length for Name 12345."}
	j := queue.Job{CampaignID: 9, ContactID: 12345, Round: 1, Attempt: 1, To: "c12345@example.com", Channel: "file",
		Subject: "Hello Name 12345", Body: "A message body of a typical short length for Name 12345."}
	return ceilingOf(b, rdb, eightFields), ceilingOf(b, rdb, queue.PackedValues(&j))
}

func ceilingOf(b *testing.B, rdb *redis.Client, values []any) (c ceiling) {
	ctx := context.Background()
	key := "ceiling:" + strconv.FormatInt(time.Now().UnixNano(), 10)
	start := time.Now()
	for off := 1; off <= benchN; off += 1000 {
		p := rdb.Pipeline()
		for i := off; i < off+1000 && i <= benchN; i++ {
			p.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: "1-" + strconv.Itoa(i), Values: values})
		}
		if _, err := p.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	c.add = benchN / time.Since(start).Seconds()
	if err := rdb.XGroupCreate(ctx, key, "g", "0").Err(); err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	for got := 0; got < benchN; {
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{key, ">"}, Count: 500, Block: 10 * time.Millisecond}).Result()
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, 0, 500)
		for _, m := range res[0].Messages {
			ids = append(ids, m.ID)
		}
		if err := rdb.XAck(ctx, key, "g", ids...).Err(); err != nil {
			b.Fatal(err)
		}
		got += len(ids)
	}
	c.drain = benchN / time.Since(start).Seconds()
	rdb.Del(ctx, key)
	return c
}

// BenchmarkProcesses100k: `campaign send` of 100,000 (preflight, ledger,
// queue) against C_add; one `--headless-worker` draining them against
// C_drain (from the worker's start, as when a worker is started on a
// backlog); end to end — `campaign send --wait` from its start to the
// ledger completed, its workers already running — with one worker and
// with two, against C_drain.
func BenchmarkProcesses100k(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 16})
	defer rdb.Close()
	ctx := context.Background()
	url := srv.URL()
	// Per run, the figure in jobs a second: send, drain, e2e 1 and 2.
	var figures [4]float64
	var eight, packed [4]float64 // the ratios to each kind of ceiling
	for i := 0; i < b.N; i++ {
		rdb.FlushAll(ctx)
		c8, cp := ceilings(b, rdb)

		// campaign send, no worker running: the enqueue alone.
		db, id := benchDB(b, benchN, 0)
		env := []string{"TUI_DB=" + db, "REDIS_URL=" + url}
		took := runCmd(b, benchCmd(b, env, "campaign", "send", strconv.FormatUint(id, 10)))
		figures[0] = benchN / took.Seconds()

		// One worker drains what is queued.
		start := time.Now()
		stop := startWorkers(b, url, 1)
		drained(b, rdb, id, benchN)
		figures[1] = benchN / time.Since(start).Seconds()
		stop()

		// End to end with one worker, then two.
		for workers := 1; workers <= 2; workers++ {
			rdb.FlushAll(ctx)
			db, id := benchDB(b, benchN, 0)
			stop := startWorkers(b, url, workers)
			awaitWorkers(b, rdb, workers)
			took := runCmd(b, benchCmd(b, []string{"TUI_DB=" + db, "REDIS_URL=" + url}, "campaign", "send", strconv.FormatUint(id, 10), "--wait"))
			stop()
			figures[1+workers] = benchN / took.Seconds()
		}
		// The ceilings again, after the processes: they moved by a quarter
		// between runs, and the mean of two readings moves less.
		rdb.FlushAll(ctx)
		c8b, cpb := ceilings(b, rdb)
		c8, cp = c8.mean(c8b), cp.mean(cpb)
		for k, f := range figures {
			ceil8, ceilP := c8.drain, cp.drain
			if k == 0 {
				ceil8, ceilP = c8.add, cp.add
			}
			eight[k] += f / ceil8
			packed[k] += f / ceilP
		}
		b.ReportMetric(c8.add, "C_add-jobs/s")
		b.ReportMetric(c8.drain, "C_drain-jobs/s")
		b.ReportMetric(cp.add, "C_add-packed-jobs/s")
		b.ReportMetric(cp.drain, "C_drain-packed-jobs/s")
	}
	n := float64(b.N)
	for k, name := range []string{"send/C_add", "worker/C_drain", "e2e-1worker/C_drain", "e2e-2workers/C_drain"} {
		b.ReportMetric(eight[k]/n, name)
		b.ReportMetric(packed[k]/n, name+"-packed")
	}
	b.ReportMetric(eight[3]/eight[2], "e2e-2workers/1worker")
	b.ReportMetric(pageFaultMicros(b), "page-fault-µs")
}

// pageFaultMicros is what the machine charges for a process's first touch
// of a page of memory: a fresh process grows its heap into such pages, so
// that this sets the cost of each process more than another (a second
// worker) over its first seconds. A machine under a hypervisor charged 11
// µs a page, where bare metal charges a fraction of a microsecond.
func pageFaultMicros(b *testing.B) float64 {
	const size = 64 << 20
	m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Munmap(m)
	page := os.Getpagesize()
	start := time.Now()
	for i := 0; i < size; i += page {
		m[i] = 1
	}
	return float64(time.Since(start).Nanoseconds()) / 1e3 / float64(size/page)
}

// BenchmarkProcessesRateLimit: three worker processes share a limit of
// 1,000 a second; the figure is the rate they keep after the first second,
// as a fraction of the limit (1.00 is exact).
func BenchmarkProcessesRateLimit(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	const n, rate = 6000, 1000
	var ratio float64
	for i := 0; i < b.N; i++ {
		rdb.FlushAll(context.Background())
		db, id := benchDB(b, n, rate)
		outbox := filepath.Join(b.TempDir(), "outbox.jsonl")
		var cmds []*exec.Cmd
		for w := 0; w < 3; w++ {
			cmd := benchCmd(b, []string{"REDIS_URL=" + srv.URL()}, "--headless-worker", "--outbox", outbox, "--concurrency", "16")
			cmd.Stderr = io.Discard
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			cmds = append(cmds, cmd)
		}
		runCmd(b, benchCmd(b, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}, "campaign", "send", strconv.FormatUint(id, 10), "--wait"))
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
			_ = c.Wait()
		}
		times := outboxTimes(b, outbox)
		span := times[len(times)-1].Sub(times[rate]).Seconds()
		ratio += float64(len(times)-1-rate) / span / rate
	}
	b.ReportMetric(ratio/float64(b.N), "rate/limit")
}

func outboxTimes(b *testing.B, path string) []time.Time {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var out []time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, `"at":"`)
		if i < 0 {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, line[i+6:len(line)-2])
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, at)
	}
	slicesSortTimes(out)
	return out
}

func slicesSortTimes(ts []time.Time) {
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
}

// BenchmarkProcesses1M: `campaign send --wait` of 1,000,000 recipients
// with one `--headless-worker`, as a user runs it. It reports how long the
// first delivery took from the command's start, how long the command ran
// past the last delivery, the sender's peak RSS (rusage Maxrss; see
// runSampled for when it is this benchmark's own instead), its own
// resident high-water mark and its anonymous memory at its largest (both
// read from /proc while it runs), and Redis's peak memory (the queue and
// the events not yet folded).
func BenchmarkProcesses1M(b *testing.B) {
	const n = 1_000_000
	var first, after, rss, hwm, anon, redisPeak float64
	for i := 0; i < b.N; i++ {
		srv := redistest.Start(b) // a fresh server: its peak memory is this send's
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		db, id := benchDB(b, n, 0)
		outbox := filepath.Join(b.TempDir(), "outbox.jsonl")
		stop := startWorkers(b, srv.URL(), 1, "--outbox", outbox)
		awaitWorkers(b, rdb, 1)
		cmd := benchCmd(b, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}, "campaign", "send", strconv.FormatUint(id, 10), "--wait")
		start := time.Now()
		peaks := runSampled(b, cmd)
		end := time.Now()
		stop()
		count, firstAt, lastAt := outboxSpan(b, outbox)
		if count != n {
			b.Fatalf("%d deliveries in the outbox, want %d", count, n)
		}
		first += firstAt.Sub(start).Seconds()
		after += end.Sub(lastAt).Seconds()
		rss += float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024 // KiB → MiB
		hwm += peaks.hwm
		anon += peaks.anon
		info, err := rdb.InfoMap(context.Background(), "memory").Result()
		if err != nil {
			b.Fatal(err)
		}
		peak, _ := strconv.ParseFloat(info["Memory"]["used_memory_peak"], 64)
		redisPeak += peak / (1 << 20)
		rdb.Close()
	}
	k := float64(b.N)
	b.ReportMetric(first/k, "first-delivery-s")
	b.ReportMetric(after/k, "exit-after-last-s")
	b.ReportMetric(rss/k, "sender-peak-RSS-MiB")
	if hwm > 0 {
		b.ReportMetric(hwm/k, "sender-VmHWM-MiB")
		b.ReportMetric(anon/k, "sender-peak-anon-MiB")
	}
	b.ReportMetric(redisPeak/k, "redis-peak-MiB")
}

// outboxSpan counts an outbox's deliveries and finds the first and last,
// line by line: a million timestamps held at once would raise this
// process's own peak, which the next sender's Maxrss would then report.
func outboxSpan(b *testing.B, path string) (n int, first, last time.Time) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.Index(line, []byte(`"at":"`))
		if i < 0 {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, string(line[i+6:len(line)-2]))
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 || at.Before(first) {
			first = at
		}
		if n == 0 || at.After(last) {
			last = at
		}
		n++
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return n, first, last
}
