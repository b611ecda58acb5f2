package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
	"tui/internal/testkit"
	"tui/internal/testkit/seed"
	"tui/queue"
)

func TestSendWithRedisDownExplainsAndChangesNothing(t *testing.T) {
	db, id := seed.Campaign(t, 20)
	dead := testkit.FreeAddr(t)
	// How fast the refusal comes is measured in-process (campaign and queue
	// tests); a whole process under a loaded -race run varies too much.
	code, _, stderr := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=redis://:topsecret@" + dead + "/0"},
		"campaign", "send", fmt.Sprint(id))
	if code != 1 || !strings.Contains(stderr, "cannot reach Redis at redis://:xxxxx@"+dead) ||
		!strings.Contains(stderr, "REDIS_URL") || strings.Contains(stderr, "topsecret") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	_, out, _ := runBinary(t, []string{"TUI_DB=" + db}, "campaign", "show", fmt.Sprint(id), "--json")
	if !strings.Contains(out, `"status": "draft"`) || !strings.Contains(out, `"queued": 0`) {
		t.Fatalf("campaign changed:\n%s", out)
	}
}

func TestSendKilledMidEnqueueResumesWithoutDuplicates(t *testing.T) {
	const n = 100_000
	srv := redistest.Start(t)
	db, id := seed.Campaign(t, n)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()

	cmd := exec.Command(tuiBinary(t), "campaign", "send", fmt.Sprint(id))
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "TUI_DB=" + db, "REDIS_URL=" + srv.URL()}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once part of the queue is written.
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, _ := rdb.XLen(ctx, queue.JobsKey(id)).Result()
		if l >= 5000 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the send never started queueing: %s", stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	partial, _ := rdb.XLen(ctx, queue.JobsKey(id)).Result()
	if partial >= n {
		t.Skipf("the send finished (%d jobs) before it could be killed; nothing to resume", partial)
	}

	// The next `campaign send` resumes.
	code, _, errOut := runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}, "campaign", "send", fmt.Sprint(id))
	if code != 0 || !strings.Contains(errOut, "Resumed") {
		t.Fatalf("resume: exit %d\n%s", code, errOut)
	}
	seen := map[string]bool{}
	startID := "-"
	for {
		entries, err := rdb.XRangeN(ctx, queue.JobsKey(id), startID, "+", 10000).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			j, err := queue.ParseJob(id, e.ID, e.Values)
			if err != nil {
				t.Fatal(err)
			}
			k := j.Key()
			if seen[k] {
				t.Fatalf("%s queued twice", k)
			}
			seen[k] = true
		}
		if len(entries) < 10000 {
			break
		}
		startID = "(" + entries[len(entries)-1].ID
	}
	if len(seen) != n {
		t.Fatalf("after kill (%d queued) and resume: %d distinct jobs, want %d", partial, len(seen), n)
	}
	code, _, errOut = runBinary(t, []string{"TUI_DB=" + db, "REDIS_URL=" + srv.URL()}, "campaign", "resume", fmt.Sprint(id))
	if code != 0 || !strings.Contains(errOut, "already sending") {
		t.Fatalf("second resume: exit %d\n%s", code, errOut)
	}
}
