-- Whether a usage row's tokens were counted locally (the upstream's usage
-- report never came) rather than taken from the upstream. Rows written
-- before take the default: not estimated. A constant default makes this a
-- change of the schema only; no row is rewritten.
ALTER TABLE usage ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;
