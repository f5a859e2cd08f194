-- A counter that every change to the providers table moves, as
-- keys_generation does for keys: each replica's provider cache reads this
-- one value once a second rather than listing the table. A trigger moves
-- it, so every writer does — this binary's statements, a replica still on
-- the previous release, a hand edit. Written to run again over its own
-- result.
INSERT INTO meta(name, value) VALUES ('providers_generation', 0) ON CONFLICT (name) DO NOTHING;
CREATE OR REPLACE FUNCTION bump_providers_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE meta SET value = value + 1 WHERE name = 'providers_generation';
	RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS providers_generation ON providers;
CREATE TRIGGER providers_generation AFTER INSERT OR UPDATE OR DELETE ON providers
	FOR EACH STATEMENT EXECUTE FUNCTION bump_providers_generation();
