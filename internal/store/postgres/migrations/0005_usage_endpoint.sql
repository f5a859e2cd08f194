-- The API method a usage row is for ('chat.completions', 'messages',
-- 'messages.count_tokens', 'gemini.countTokens'…: usage.Endpoints), so
-- that a refused token count's 429 can be told from a refused call's.
-- Rows written before take the default, '' (their endpoint was not kept;
-- `bulwark usage` shows it as "-"). A constant default makes this a change
-- of the catalogue only (PostgreSQL 11+); no row is rewritten, and
-- replicas still writing the old column list keep working (their rows
-- read '').
ALTER TABLE usage ADD COLUMN endpoint text NOT NULL DEFAULT '';
