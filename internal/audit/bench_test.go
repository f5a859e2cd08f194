package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// BenchmarkAppend is one durable append on SQLite (synchronous=FULL, the
// test's temp dir), alone and with concurrent writers whose entries share
// commits (group commit): ns/op is wall time per entry across all writers,
// cpu-ns/op the process's CPU (user + system, the kernel's fsync work
// included) per entry.
func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "a.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			l, err := New(st, []byte(strings.Repeat("k", 32)))
			if err != nil {
				b.Fatal(err)
			}
			ev := Event{Tenant: "default", Actor: "key_1", Action: "guard.request", RequestID: "req_1",
				Details: map[string]string{"findings": "2", "list": "pii/EMAIL@messages.1.content:log;pii/PHONE@messages.1.content:log"}}
			b.SetParallelism(writers) // × GOMAXPROCS goroutines
			c0 := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Append(context.Background(), ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(processCPU()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the process's user + system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
