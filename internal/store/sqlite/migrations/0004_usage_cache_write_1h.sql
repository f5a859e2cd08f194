-- The part of cache_write_tokens written with Anthropic's one-hour TTL,
-- priced at cache_write_1h (twice the input price; the five-minute rate is
-- 1.25×): without it a row's cost cannot be explained from its tokens.
-- Rows written before take the default, 0 (their one-hour writes, if any,
-- were not kept). A constant default makes this a change of the schema
-- only; no row is rewritten.
ALTER TABLE usage ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
