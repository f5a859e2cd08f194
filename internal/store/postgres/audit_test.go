package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/pgtest"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/storetest"
)

// TestAuditTakesWhatCallersSend: an audit field can hold what a client
// sent — auth.failure's target is the request path, where %00 decodes to
// a NUL byte and a cut can split a character — and PostgreSQL's text
// refuses both. Such an entry is stored (with U+FFFD in their place), and
// the entries sharing its commit are not failed by it.
func TestAuditTakesWhatCallersSend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	l, err := audit.New(s, []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	targets := []string{"/v1/\x00", "/v1/models", "/v1/\xe2\x82", "/v1/chat/completions"}
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, target := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Append(ctx, audit.Event{Tenant: "default", Actor: "client:127.0.0.1", Action: "auth.failure", Target: target})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("append of target %q: %v", targets[i], err)
		}
	}
	stored := map[string]bool{}
	if err := s.AuditRows(ctx, 0, func(r store.AuditRow) error { stored[r.Target] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/v1/\uFFFD", "/v1/models", "/v1/\uFFFD", "/v1/chat/completions"} {
		if !stored[want] {
			t.Fatalf("stored targets %v lack %q", stored, want)
		}
	}
	if rep, err := l.Verify(ctx, nil); err != nil || rep.Entries != 4 {
		t.Fatalf("Verify = %+v, %v; want 4 entries", rep, err)
	}
}

// TestFailedCommitIsReportedAsUnknown: a COMMIT that fails (here a
// deferred constraint trigger on the audit table, run only at commit) is
// reported as store.ErrCommitUnknown, leaves nothing behind, and leaves
// the pool usable.
func TestFailedCommitIsReportedAsUnknown(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t)
	storetest.CommitFailure(t, openDSN(t, dsn), func(t *testing.T) {
		exec(t, dsn,
			`CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'commit refused by the test'; END $$`,
			`CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON audit_events DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()`)
	}, func(t *testing.T) { exec(t, dsn, `DROP TRIGGER refuse_commit ON audit_events`) })
}
