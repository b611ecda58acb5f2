package main

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"tui/internal/redistest"
)

// The tests run commands, the owner's loops and SSH servers in this
// process too: every goroutine they start ends with them. The shared Redis
// topologies stop first.
func TestMain(m *testing.M) {
	code := m.Run()
	redistest.StopAll()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
