-- Whether a usage row's tokens were counted locally (the upstream's usage
-- report never came) rather than taken from the upstream. Rows written
-- before take the default: not estimated. A constant default makes this a
-- change of the catalogue only (PostgreSQL 11+); no row is rewritten, and
-- replicas still writing the old column list keep working.
ALTER TABLE usage ADD COLUMN estimated boolean NOT NULL DEFAULT false;
