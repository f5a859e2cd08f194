package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// Log is the hash-chained audit log over a store. Each entry's MAC is
// HMAC-SHA256(key, previous MAC ‖ canonical entry), so editing, deleting,
// inserting or reordering entries breaks verification, and without the key
// (kept in the barrier) nobody can recompute the chain. Safe for
// concurrent use; appends from several processes serialise in the store.
type Log struct {
	st  store.Store
	key []byte
	now func() time.Time

	// Group commit (see Append): the entries waiting for a commit, and
	// whether a committer is running.
	mu         sync.Mutex
	queue      []*pending
	committing bool
}

var _ Appender = (*Log)(nil)

// New returns a Log over st whose MACs use key (32 bytes from the barrier).
func New(st store.Store, key []byte) (*Log, error) {
	if len(key) < 32 {
		return nil, errors.New("audit: MAC key must be at least 32 bytes")
	}
	return &Log{st: st, key: key, now: time.Now}, nil
}

// Func returns a store.AuditFunc that chains e after the previous row; pass
// it to store operations that must commit their change and its audit entry
// together.
func (l *Log) Func(e Event) store.AuditFunc {
	return func(prev *store.AuditRow) (store.AuditRow, error) {
		row := store.AuditRow{
			Seq: 1, Time: l.now().UTC().Truncate(time.Millisecond), Tenant: storable(e.Tenant), Actor: storable(e.Actor),
			Action: storable(e.Action), Target: storable(e.Target), Outcome: storable(e.Outcome),
			RequestID: storable(e.RequestID), Details: canonicalDetails(e.Details),
		}
		if row.Outcome == "" {
			row.Outcome = OutcomeSuccess
		}
		prevMAC := ""
		if prev != nil {
			row.Seq, prevMAC = prev.Seq+1, prev.MAC
		}
		row.MAC = l.mac(prevMAC, &row)
		return row, nil
	}
}

// storable returns s as every store can keep it: valid UTF-8 without NUL
// bytes, which PostgreSQL's text columns refuse. Fields can hold what a
// caller sent (a request path, cut at 128 bytes), and one unstorable
// entry must not fail the commit it shares with others. Details need no
// such care: their JSON escapes both.
func storable(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func canonicalDetails(d map[string]string) string {
	if len(d) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(d) // map keys are sorted by encoding/json
	return string(b)
}

// mac computes the chained MAC of row after prevMAC.
func (l *Log) mac(prevMAC string, r *store.AuditRow) string {
	m := hmac.New(sha256.New, l.key)
	fields := []string{prevMAC, strconv.FormatInt(r.Seq, 10), strconv.FormatInt(r.Time.UnixMilli(), 10),
		r.Tenant, r.Actor, r.Action, r.Target, r.Outcome, r.RequestID, r.Details}
	for _, f := range fields {
		// Length-prefix every field so ("ab","c") and ("a","bc") differ.
		m.Write([]byte(strconv.Itoa(len(f))))
		m.Write([]byte{':'})
		m.Write([]byte(f))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func (l *Log) anchorMAC(a store.AuditAnchor) string {
	m := hmac.New(sha256.New, l.key)
	_, _ = fmt.Fprintf(m, "anchor:%d:%s", a.Seq, a.PrevMAC) // hash writes never fail
	return hex.EncodeToString(m.Sum(nil))
}

// Head identifies the newest entry: keep it elsewhere to detect a cut-off
// tail later.
type Head struct {
	Seq int64
	MAC string
}

// String formats the head as "seq:mac".
func (h Head) String() string { return strconv.FormatInt(h.Seq, 10) + ":" + h.MAC }

// ParseHead parses "seq:mac".
func ParseHead(s string) (Head, error) {
	seq, mac, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n < 1 || len(mac) != 64 {
		return Head{}, fmt.Errorf("audit: head %q is not <seq>:<64 hex digits>", s)
	}
	if _, err := hex.DecodeString(mac); err != nil {
		return Head{}, fmt.Errorf("audit: head %q is not <seq>:<64 hex digits>", s)
	}
	return Head{Seq: n, MAC: strings.ToLower(mac)}, nil
}

// Head returns the newest entry's head; Seq 0 on an empty chain.
func (l *Log) Head(ctx context.Context) (Head, error) {
	r, err := l.st.AuditHead(ctx)
	if err != nil || r == nil {
		return Head{}, err
	}
	return Head{Seq: r.Seq, MAC: r.MAC}, nil
}
