package worker

import (
	"testing"

	"tui/internal/redistest"
)

func startBenchRedis(b *testing.B) string { return redistest.Start(b).Addr() }
