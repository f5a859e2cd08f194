-- The API method a usage row is for ('chat.completions', 'messages',
-- 'messages.count_tokens', 'gemini.countTokens'…: usage.Endpoints), so
-- that a refused token count's 429 can be told from a refused call's.
-- Rows written before take the default, '' (their endpoint was not kept;
-- `bulwark usage` shows it as "-"). A constant default makes this a change
-- of the schema only; no row is rewritten.
ALTER TABLE usage ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';
