package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tui/internal/redistest"
	"tui/internal/testkit"
	"tui/internal/testkit/seed"
	"tui/store"
)

// scrape reads a /metrics page into "name{labels}" → value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Metrics scraped during a send show the counts the ledger shows: the
// owner's ledger gauges are status --json's counts, the worker's sent
// counter is the ledger's sent, the queue's depth is who is left, and the
// delivery-time histogram counts every delivery. /healthz and /readyz
// answer, and readiness follows Redis.
func TestMetricsDuringASendShowTheLedgersCounts(t *testing.T) {
	srv := redistest.Start(t)
	db, id := seed.Campaign(t, 300)
	editCampaign(t, db, id, func(c *store.Campaign) { c.Rate = 100 })
	ownerAddr, workerAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	startServe(t, []string{"REDIS_URL=" + srv.URL()}, db, "--metrics", ownerAddr)
	worker := startWorkerProc(t, srv.URL(), outbox, "--metrics", workerAddr)
	testkit.Eventually(t, 10*time.Second, "the worker's metrics", func() bool {
		resp, err := http.Get("http://" + workerAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	// Before any send the owner is ready and has dialled nothing.
	if code, body := get(t, "http://"+ownerAddr+"/readyz"); code != 200 || !strings.Contains(body, "dials when a send starts") {
		t.Fatalf("owner /readyz before a send: %d\n%s", code, body)
	}
	if code, body := get(t, "http://"+workerAddr+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("worker /healthz: %d %q", code, body)
	}
	// The worker is ready once its first dial to Redis is done.
	var code int
	var body string
	testkit.Eventually(t, 20*time.Second, "the worker to be ready", func() bool {
		code, body = get(t, "http://"+workerAddr+"/readyz")
		return code == 200
	})
	if !strings.Contains(body, "redis: reachable") || !strings.Contains(body, "channel file: configured") {
		t.Fatalf("worker /readyz: %d\n%s", code, body)
	}

	env := []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}
	if code, _, e := runBinary(t, env, "campaign", "send", fmt.Sprint(id)); code != 0 {
		t.Fatalf("send: %s", e)
	}
	label := fmt.Sprintf(`campaign="%d"`, id)
	testkit.Eventually(t, 20*time.Second, "a third of the send", func() bool {
		return scrape(t, ownerAddr)[`tui_campaign_recipients{`+label+`,state="sent"}`] >= 100
	})
	// Mid-send: pause, and once the ledger has folded everything, every
	// number agrees.
	if code, _, e := runBinary(t, env, "campaign", "pause", fmt.Sprint(id)); code != 0 {
		t.Fatalf("pause: %s", e)
	}
	var st statusJSON
	var om, wm map[string]float64
	// The worker goes on until it reads the pause (within a second), and a
	// delivery under way then writes its line before its outcome is
	// recorded: the numbers are read once it has, and must agree twice in
	// a row.
	agreed := false
	testkit.Eventually(t, 20*time.Second, "the ledger, the owner's and the worker's metrics to agree", func() bool {
		seen := strings.Contains(worker.log.String(), "campaign paused")
		st = statusOf(t, db, srv.URL(), id)
		om, wm = scrape(t, ownerAddr), scrape(t, workerAddr)
		sent := float64(st.Counts[store.RecipientSent])
		was := agreed
		agreed = seen && st.Status == store.StatusPaused && float64(len(readOutbox(t, outbox))) == sent &&
			wm[`tui_worker_delivery_duration_seconds_count{channel="file"}`] == sent &&
			wm[`tui_worker_deliveries_total{channel="file",outcome="sent"}`] == sent &&
			om[`tui_campaign_recipients{`+label+`,state="sent"}`] == sent &&
			om[`tui_fold_lag_seconds{`+label+`}`] == 0 &&
			om[`tui_queue_depth{`+label+`}`] == float64(st.Counts[store.RecipientQueued]+st.Counts[store.RecipientRetrying])
		return was && agreed
	})
	for _, s := range []store.RecipientState{store.RecipientQueued, store.RecipientRetrying, store.RecipientSent,
		store.RecipientFailed, store.RecipientSkipped, store.RecipientCancelled} {
		if got := om[`tui_campaign_recipients{`+label+`,state="`+string(s)+`"}`]; got != float64(st.Counts[s]) {
			t.Errorf("owner metric %s = %v, ledger %d", s, got, st.Counts[s])
		}
	}
	sent := st.Counts[store.RecipientSent]
	if sent == 0 || sent == 300 {
		t.Fatalf("the pause did not land mid-send: %d sent", sent)
	}
	if n := len(readOutbox(t, outbox)); n != sent {
		t.Errorf("outbox %d lines, ledger %d sent", n, sent)
	}
	if got := wm[`tui_worker_delivery_duration_seconds_count{channel="file"}`]; got != float64(sent) {
		t.Errorf("histogram counts %v deliveries, ledger %d", got, sent)
	}
	if wm[`tui_worker_rate_limit_waits_total`] == 0 {
		t.Error("a send at 100/s never waited for the rate limit")
	}
	if wm[`tui_worker_in_flight`] != 0 || wm[`tui_worker_redis_up`] != 1 {
		t.Errorf("in flight %v, redis up %v", wm[`tui_worker_in_flight`], wm[`tui_worker_redis_up`])
	}
	if om[`tui_queue_oldest_job_age_seconds{`+label+`}`] <= 0 {
		t.Error("jobs wait, and the oldest has no age")
	}
	if om[`tui_campaigns{status="paused"}`] != 1 {
		t.Errorf("campaigns by status: %v", om[`tui_campaigns{status="paused"}`])
	}
	if code, body := get(t, "http://"+ownerAddr+"/readyz"); code != 200 || !strings.Contains(body, "redis: reachable") {
		t.Fatalf("owner /readyz during the send: %d\n%s", code, body)
	}

	// To the end: the worker counted every delivery once.
	if code, _, e := runBinary(t, env, "campaign", "resume", fmt.Sprint(id)); code != 0 {
		t.Fatalf("resume: %s", e)
	}
	testkit.Eventually(t, 30*time.Second, "the send to complete", func() bool { return statusOf(t, db, srv.URL(), id).Status == store.StatusCompleted })
	if got := scrape(t, workerAddr)[`tui_worker_deliveries_total{channel="file",outcome="sent"}`]; got != 300 {
		t.Errorf("the worker counted %v deliveries of 300", got)
	}

	// Redis gone: the worker is alive but not ready, and counts the errors.
	srv.Stop()
	testkit.Eventually(t, 15*time.Second, "the worker's readiness to follow Redis", func() bool {
		code, _ := get(t, "http://"+workerAddr+"/readyz")
		return code == 503
	})
	if code, _ := get(t, "http://"+workerAddr+"/healthz"); code != 200 {
		t.Errorf("/healthz with Redis down: %d", code)
	}
	testkit.Eventually(t, 15*time.Second, "the Redis errors to be counted", func() bool {
		return scrape(t, workerAddr)[`tui_worker_redis_errors_total{kind="unreachable"}`] > 0
	})
}

// A worker whose Redis never answered says, in /readyz, why and what to
// do, as its log does: not only that it is not connected yet.
func TestReadinessOfAWorkerThatNeverReachedRedisSaysWhy(t *testing.T) {
	url := fmt.Sprintf("redis://127.0.0.1:%d", redistest.FreePort(t))
	addr := testkit.FreeAddr(t)
	startWorkerProc(t, url, filepath.Join(t.TempDir(), "outbox.jsonl"), "--metrics", addr)
	var code int
	var body string
	testkit.Eventually(t, 20*time.Second, "readiness to say why Redis is not connected", func() bool {
		code, body = 0, ""
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			code, body = get(t, "http://"+addr+"/readyz")
		}
		return strings.Contains(body, "connection refused")
	})
	if code != 503 || !strings.Contains(body, "cannot reach Redis at "+url) || !strings.Contains(body, "Start it") {
		t.Fatalf("/readyz of a worker that never reached Redis: %d\n%s", code, body)
	}
}
