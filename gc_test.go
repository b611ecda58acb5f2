package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
)

// A send in a process of its own collects garbage less often, within a
// soft memory limit; an owner running the command for another process
// keeps its settings, and so does a process told otherwise by GOGC or
// GOMEMLIMIT.
func TestSendTunesTheGarbageCollectorOnlyInItsOwnProcess(t *testing.T) {
	restore := func(percent int, limit int64) {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
	defer restore(debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64))
	for _, tc := range []struct {
		name  string
		env   map[string]string
		owned bool
		tuned bool
	}{
		{"own process", nil, false, true},
		{"served by the owner", nil, true, false},
		{"GOGC set", map[string]string{"GOGC": "100"}, false, false},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restore(100, math.MaxInt64)
			e := newEnv(context.Background(), nil, nil, nil, func(k string) string { return tc.env[k] })
			if tc.owned {
				e.owned = &ownedDB{}
			}
			tuneGCForSend(e)
			percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
			if tuned := percent == SendGCPercent && limit == SendMemoryLimit; tuned != tc.tuned {
				t.Errorf("GC percent %d, memory limit %d: tuned %v, want %v", percent, limit, tuned, tc.tuned)
			}
			if !tc.tuned && (percent != 100 || limit != math.MaxInt64) {
				t.Errorf("left GC percent %d and memory limit %d, want them untouched", percent, limit)
			}
		})
	}
}

// A headless worker runs on half the CPUs it may use, at least one, and
// collects garbage less often, unless GOMAXPROCS or GOGC say otherwise.
func TestWorkerTunesItsRuntimeUnlessTold(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 1, 3: 1, 4: 2, 8: 4, 64: 32} {
		if got := workerProcs(n); got != want {
			t.Errorf("workerProcs(%d) = %d, want %d", n, got, want)
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		name        string
		env         map[string]string
		procs, gcpc int
	}{
		{"untold", nil, 2, WorkerGCPercent},
		{"GOMAXPROCS set", map[string]string{"GOMAXPROCS": "4"}, 4, WorkerGCPercent},
		{"GOGC set", map[string]string{"GOGC": "100"}, 2, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runtime.GOMAXPROCS(4)
			debug.SetGCPercent(100)
			tuneWorkerRuntime(newEnv(context.Background(), nil, nil, nil, func(k string) string { return tc.env[k] }))
			if procs, gcpc := runtime.GOMAXPROCS(0), debug.SetGCPercent(100); procs != tc.procs || gcpc != tc.gcpc {
				t.Errorf("GOMAXPROCS %d, GC percent %d; want %d and %d", procs, gcpc, tc.procs, tc.gcpc)
			}
		})
	}
}

// TUI_CPUPROFILE and TUI_MEMPROFILE write profiles pprof reads (gzipped
// protocol buffers) to PATH.PID; an empty setting writes nothing.
func TestProfilesAreWrittenWhenAsked(t *testing.T) {
	dir := t.TempDir()
	rate := runtime.MemProfileRate
	defer func() { runtime.MemProfileRate = rate }()
	stopCPU := profileCPU(filepath.Join(dir, "cpu"))
	stopAllocs := profileAllocs(filepath.Join(dir, "allocs"))
	sink := make([][]byte, 0, 64)
	for i := 0; i < 64; i++ {
		sink = append(sink, make([]byte, 64<<10))
	}
	_ = sink
	stopCPU()
	stopAllocs()
	profileCPU("")()
	profileAllocs("")()
	for _, name := range []string{"cpu", "allocs"} {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%s.%d", name, os.Getpid())))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s profile is not gzipped: % x", name, b[:min(len(b), 8)])
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%d files written, want 2", len(entries))
	}
}
