package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// setup returns a log with n entries and a raw handle on the same file: an
// attacker with write access to the database but not the MAC key.
func setup(t *testing.T, n int) (*audit.Log, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := audit.New(st, []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		ev := audit.Event{Tenant: "default", Actor: "admin:cli", Action: "key.create", Target: string(rune('a' + i)),
			Details: map[string]string{"i": string(rune('0' + i))}}
		if err := l.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return l, raw
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func TestIntactChainVerifies(t *testing.T) {
	l, _ := setup(t, 5)
	rep, err := l.Verify(context.Background(), nil)
	if err != nil || rep.Entries != 5 || rep.First != 1 || rep.Last != 5 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, db *sql.DB)
		wantSeq int64
	}{
		{"edited field", func(t *testing.T, db *sql.DB) { exec(t, db, "UPDATE audit_events SET target='z' WHERE seq=3") }, 3},
		{"edited outcome", func(t *testing.T, db *sql.DB) {
			exec(t, db, "UPDATE audit_events SET outcome='failure' WHERE seq=2")
		}, 2},
		{"edited details", func(t *testing.T, db *sql.DB) {
			exec(t, db, `UPDATE audit_events SET details='{"i":"9"}' WHERE seq=4`)
		}, 4},
		{"edited time", func(t *testing.T, db *sql.DB) { exec(t, db, "UPDATE audit_events SET ts=ts+1 WHERE seq=1") }, 1},
		{"deleted entry", func(t *testing.T, db *sql.DB) { exec(t, db, "DELETE FROM audit_events WHERE seq=3") }, 3},
		{"inserted entry", func(t *testing.T, db *sql.DB) {
			exec(t, db, "UPDATE audit_events SET seq=seq+100 WHERE seq>=3")
			exec(t, db, "UPDATE audit_events SET seq=seq-99 WHERE seq>=100")
			exec(t, db, `INSERT INTO audit_events(seq,ts,tenant,actor,action,target,outcome,request_id,details,mac)
				SELECT 3, ts, tenant, actor, action, 'forged', outcome, request_id, details, mac FROM audit_events WHERE seq=2`)
		}, 3},
		{"forged entry appended", func(t *testing.T, db *sql.DB) {
			exec(t, db, `INSERT INTO audit_events(seq,ts,tenant,actor,action,target,outcome,request_id,details,mac)
				SELECT 6, ts, tenant, actor, action, target, outcome, request_id, details, mac FROM audit_events WHERE seq=5`)
		}, 6},
		{"reordered entries", func(t *testing.T, db *sql.DB) {
			exec(t, db, "UPDATE audit_events SET seq=-1 WHERE seq=2")
			exec(t, db, "UPDATE audit_events SET seq=2 WHERE seq=3")
			exec(t, db, "UPDATE audit_events SET seq=3 WHERE seq=-1")
		}, 2},
		{"mac copied from neighbour", func(t *testing.T, db *sql.DB) {
			exec(t, db, "UPDATE audit_events SET mac=(SELECT mac FROM audit_events WHERE seq=1) WHERE seq=2")
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, db := setup(t, 5)
			tt.tamper(t, db)
			_, err := l.Verify(context.Background(), nil)
			var be *audit.BrokenError
			if !errors.As(err, &be) {
				t.Fatalf("tampering not detected: %v", err)
			}
			if be.Seq != tt.wantSeq {
				t.Fatalf("first bad entry %d, want %d (%v)", be.Seq, tt.wantSeq, err)
			}
		})
	}
}

func TestCutOffTailNeedsKeptHead(t *testing.T) {
	l, db := setup(t, 5)
	ctx := context.Background()
	head, err := l.Head(ctx)
	if err != nil || head.Seq != 5 {
		t.Fatal(head, err)
	}
	parsed, err := audit.ParseHead(head.String())
	if err != nil || parsed != head {
		t.Fatalf("ParseHead(String()) = %v, %v", parsed, err)
	}
	exec(t, db, "DELETE FROM audit_events WHERE seq >= 4")
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatalf("a clean prefix verifies without a head: %v", err)
	}
	if _, err := l.Verify(ctx, &head); !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("cut-off tail not detected with the kept head: %v", err)
	}
}

func TestPurgeKeepsChainVerifiable(t *testing.T) {
	l, db := setup(t, 3)
	ctx := context.Background()
	n, err := l.Purge(ctx, time.Now().Add(time.Hour)) // everything but the head is "old"
	if err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2 (the head is kept)", n, err)
	}
	rep, err := l.Verify(ctx, nil)
	if err != nil || !rep.Anchored || rep.First != 3 {
		t.Fatalf("after purge Verify = %+v, %v", rep, err)
	}
	// The anchor cannot be moved without the key.
	exec(t, db, "UPDATE audit_anchor SET seq = 1")
	if _, err := l.Verify(ctx, nil); !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("forged anchor accepted: %v", err)
	}
}

func TestAppendAfterPurgeContinuesChain(t *testing.T) {
	l, _ := setup(t, 3)
	ctx := context.Background()
	if _, err := l.Purge(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, audit.Event{Tenant: "default", Actor: "a", Action: "y"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

func TestParseHeadRejects(t *testing.T) {
	for _, s := range []string{"", "5", "x:" + strings.Repeat("a", 64), "5:" + strings.Repeat("g", 64), "0:" + strings.Repeat("a", 64), "5:abc"} {
		if _, err := audit.ParseHead(s); err == nil {
			t.Errorf("ParseHead(%q) accepted", s)
		}
	}
}

func FuzzParseHead(f *testing.F) {
	f.Add("5:" + strings.Repeat("a", 64))
	f.Add("")
	f.Add("-1:" + strings.Repeat("0", 64))
	f.Fuzz(func(t *testing.T, s string) {
		h, err := audit.ParseHead(s)
		if err != nil {
			return
		}
		if h.Seq < 1 || len(h.MAC) != 64 {
			t.Fatalf("accepted %q as %+v", s, h)
		}
	})
}
