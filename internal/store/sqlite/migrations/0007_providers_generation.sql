-- A counter that every change to the providers table moves, as
-- keys_generation does for keys: the gateway's provider cache reads this
-- one value once a second rather than listing the table. Triggers move
-- it, so every writer does — this binary's statements, an older
-- process's, a hand edit. Written to run again over its own result (the
-- upgrade tests rebuild older schemas from a current one).
INSERT OR IGNORE INTO meta(name, value) VALUES ('providers_generation', 0);
CREATE TRIGGER IF NOT EXISTS providers_generation_insert AFTER INSERT ON providers BEGIN
	UPDATE meta SET value = value + 1 WHERE name = 'providers_generation';
END;
CREATE TRIGGER IF NOT EXISTS providers_generation_update AFTER UPDATE ON providers BEGIN
	UPDATE meta SET value = value + 1 WHERE name = 'providers_generation';
END;
CREATE TRIGGER IF NOT EXISTS providers_generation_delete AFTER DELETE ON providers BEGIN
	UPDATE meta SET value = value + 1 WHERE name = 'providers_generation';
END;
