package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/pgtest"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/postgres"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// chained builds the next row the way the audit log does in shape: the
// sequence number follows prev, and Details records prev's MAC so the
// test can see which head each row was built from.
func chained(prev *store.AuditRow) (store.AuditRow, error) {
	seq, prevMAC := int64(1), ""
	if prev != nil {
		seq, prevMAC = prev.Seq+1, prev.MAC
	}
	return store.AuditRow{Seq: seq, Time: time.UnixMilli(seq * 1000).UTC(), Tenant: "t", Actor: "a", Action: "x",
		Outcome: "success", Details: `{"prev":"` + prevMAC + `"}`, MAC: fmt.Sprintf("mac-%d", seq)}, nil
}

// rows returns the stored rows' seq → Details.
func rows(t *testing.T, s store.Store) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	if err := s.AuditRows(context.Background(), 0, func(r store.AuditRow) error {
		out[r.Seq] = r.Details
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAuditChain runs the shared chain logic (store.AppendAudit and
// store.PurgeAudit) through both real stores: rows chain on the head, a
// purge keeps counting from its anchor, and a purge planned on a stale
// view changes nothing.
func TestAuditChain(t *testing.T) {
	ctx := context.Background()
	open := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), sqlite.FileName))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"postgres": func(t *testing.T) store.Store {
			s, err := postgres.Open(ctx, pgtest.Start(t), postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, openStore := range open {
		t.Run(name, func(t *testing.T) {
			s := openStore(t)
			t.Cleanup(func() { _ = s.Close() })
			testAuditChain(t, s)
		})
	}
}

func testAuditChain(t *testing.T, s store.Store) {
	ctx := context.Background()
	for range 5 {
		if _, err := s.AppendAudit(ctx, chained); err != nil {
			t.Fatal(err)
		}
	}
	if got := rows(t, s); len(got) != 5 || got[1] != `{"prev":""}` || got[5] != `{"prev":"mac-4"}` {
		t.Fatalf("appended rows %v; want 1..5, each built on the one before", got)
	}
	failing := func(*store.AuditRow) (store.AuditRow, error) { return store.AuditRow{}, errors.New("refused") }
	if _, err := s.AppendAudit(ctx, failing); err == nil || len(rows(t, s)) != 5 {
		t.Fatalf("a failing AuditFunc: err %v, %d rows; want the error and nothing appended", err, len(rows(t, s)))
	}
	if r, err := s.AppendAudit(ctx, nil); r != nil || err != nil {
		t.Fatalf("nil AuditFunc appended %v, %v", r, err)
	}

	if err := s.PurgeAudit(ctx, 3, store.AuditAnchor{Seq: 3, PrevMAC: "mac-3", MAC: "anchor-3"}, chained); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, s); len(got) != 3 || got[4] == "" || got[6] != `{"prev":"mac-5"}` {
		t.Fatalf("after purging through 3: %v; want 4, 5 and the purge's own row 6 built on 5", got)
	}
	conflicts := []struct {
		name   string
		upTo   int64
		anchor store.AuditAnchor
	}{
		{"anchor already there", 3, store.AuditAnchor{Seq: 3, PrevMAC: "mac-3", MAC: "again"}},
		{"anchor behind", 2, store.AuditAnchor{Seq: 2, PrevMAC: "mac-2", MAC: "back"}},
		{"planned row changed", 5, store.AuditAnchor{Seq: 5, PrevMAC: "mac-5-edited", MAC: "stale"}},
		{"planned row gone", 5, store.AuditAnchor{Seq: 1, PrevMAC: "mac-1", MAC: "stale"}},
	}
	for _, tt := range conflicts {
		t.Run(tt.name, func(t *testing.T) {
			err := s.PurgeAudit(ctx, tt.upTo, tt.anchor, chained)
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("PurgeAudit = %v, want ErrConflict", err)
			}
			if a, _ := s.AuditAnchor(ctx); a == nil || a.MAC != "anchor-3" || len(rows(t, s)) != 3 {
				t.Fatalf("a refused purge changed the chain: anchor %+v, %d rows", a, len(rows(t, s)))
			}
		})
	}

	// Purging every row leaves the anchor as the head: the chain goes on
	// from it.
	if err := s.PurgeAudit(ctx, 6, store.AuditAnchor{Seq: 6, PrevMAC: "mac-6", MAC: "anchor-6"}, nil); err != nil {
		t.Fatal(err)
	}
	if head, err := s.AuditHead(ctx); head != nil || err != nil {
		t.Fatalf("head after purging all: %+v, %v", head, err)
	}
	r, err := s.AppendAudit(ctx, chained)
	if err != nil || r.Seq != 7 || r.Details != `{"prev":"mac-6"}` {
		t.Fatalf("append after purging all: %+v, %v; want seq 7 built on the anchor", r, err)
	}
}
