package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkhq/bulwark/internal/store"
)

var usageColumns = []string{"ts", "request_id", "tenant", "key_id", "model", "provider", "deployment", "prompt_tokens",
	"completion_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens", "cost_micros", "latency_ms", "ttfb_ms", "status", "stream",
	"estimated", "cache_write_1h_tokens", "endpoint"}

// InsertUsage writes usage rows with one COPY (all or none).
func (s *Store) InsertUsage(ctx context.Context, rows []store.Usage) error {
	if len(rows) == 0 {
		return nil
	}
	src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		u := &rows[i]
		return []any{millis(u.Time), u.RequestID, u.Tenant, u.KeyID, u.Model, u.Provider, u.Deployment,
			u.PromptTokens, u.CompletionTokens, u.CachedTokens, u.CacheWriteTokens, u.ReasoningTokens, u.CostMicros,
			u.LatencyMS, u.TTFBMS, u.Status, u.Stream, u.Estimated, u.CacheWrite1hTokens, u.Endpoint}, nil
	})
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"usage"}, usageColumns, src); err != nil {
		return fmt.Errorf("postgres: usage: %w", err)
	}
	return nil
}

// SummariseUsage aggregates usage per key, model and endpoint, with the
// SQLite store's filters: key, tenant and endpoint when set, rows at or
// after Since.
func (s *Store) SummariseUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageSummary, error) {
	// sum(bigint) is numeric: saturated to bigint, never "out of range"
	// (two rows with a saturated cost failed every summary).
	rows, err := s.pool.Query(ctx, `SELECT key_id, model, endpoint, count(*), LEAST(sum(prompt_tokens), 9223372036854775807)::bigint,
		LEAST(sum(completion_tokens), 9223372036854775807)::bigint, LEAST(sum(cached_tokens), 9223372036854775807)::bigint,
		LEAST(sum(cache_write_tokens), 9223372036854775807)::bigint, LEAST(sum(cache_write_1h_tokens), 9223372036854775807)::bigint,
		LEAST(sum(cost_micros), 9223372036854775807)::bigint, count(*) FILTER (WHERE status >= 400),
		count(*) FILTER (WHERE estimated),
		LEAST(COALESCE(sum(prompt_tokens) FILTER (WHERE estimated), 0), 9223372036854775807)::bigint,
		LEAST(COALESCE(sum(completion_tokens) FILTER (WHERE estimated), 0), 9223372036854775807)::bigint
		FROM usage WHERE ($1 = '' OR key_id = $1) AND ($2 = '' OR tenant = $2) AND ($3 = '' OR endpoint = $3) AND ts >= $4
		GROUP BY key_id, model, endpoint ORDER BY key_id COLLATE "C", model COLLATE "C", endpoint COLLATE "C"`,
		f.KeyID, f.Tenant, f.Endpoint, millis(f.Since))
	if err != nil {
		return nil, fmt.Errorf("postgres: usage summary: %w", err)
	}
	out, err := pgx.AppendRows([]store.UsageSummary(nil), rows, func(r pgx.CollectableRow) (store.UsageSummary, error) {
		var u store.UsageSummary
		err := r.Scan(&u.KeyID, &u.Model, &u.Endpoint, &u.Requests, &u.PromptTokens, &u.CompletionTokens,
			&u.CachedTokens, &u.CacheWriteTokens, &u.CacheWrite1hTokens, &u.CostMicros, &u.Errors,
			&u.EstimatedRequests, &u.EstimatedPromptTokens, &u.EstimatedCompletionTokens)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: usage summary: %w", err)
	}
	return out, nil
}
