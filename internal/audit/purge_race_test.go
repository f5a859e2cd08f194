package audit_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// slowPurge holds a purge between planning and committing.
type slowPurge struct {
	*sqlite.Store
	gate chan struct{}
}

func (s slowPurge) PurgeAudit(ctx context.Context, upTo int64, a store.AuditAnchor, fn store.AuditFunc) error {
	<-s.gate
	return s.Store.PurgeAudit(ctx, upTo, a, fn)
}

// TestOverlappingPurgesKeepChain: serve's retention loop and `bulwark
// audit purge` may overlap; the older plan must not move the anchor back.
func TestOverlappingPurgesKeepChain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	st1, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st2, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st1.Close()
	defer st2.Close()
	key := []byte(strings.Repeat("k", 32))
	gate := make(chan struct{})
	la, _ := audit.New(slowPurge{st1, gate}, key)
	lb, _ := audit.New(st2, key)
	app := func(n int) {
		for range n {
			if err := lb.Append(ctx, audit.Event{Tenant: "default", Actor: "x", Action: "a"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	app(3)
	time.Sleep(20 * time.Millisecond)
	t1 := time.Now()
	time.Sleep(20 * time.Millisecond) // entries are stamped in whole milliseconds
	app(3)
	time.Sleep(20 * time.Millisecond)
	t2 := time.Now()
	time.Sleep(20 * time.Millisecond)
	app(2)
	done := make(chan error)
	go func() { _, err := la.Purge(ctx, t1); done <- err }()
	time.Sleep(200 * time.Millisecond) // A planned to purge 1–3 and waits
	if n, err := lb.Purge(ctx, t2); err != nil || n != 6 {
		t.Fatalf("B purge: %d %v", n, err)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatalf("A purge: %v", err)
	}
	rep, err := lb.Verify(ctx, nil)
	if err != nil {
		t.Fatalf("chain broken after overlapping purges: %v", err)
	}
	if !rep.Anchored || rep.First != 7 {
		t.Fatalf("report %+v: the anchor moved back", rep)
	}
}
