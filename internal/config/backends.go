package config

import "errors"

// CheckBackends reports what the selected shared backends need from the
// environment and lack: with database.driver postgres, the connection
// string in DSNVariable; with limits.backend redis, the URL in
// URLVariable. Each value is checked as serve would (parsed, and in
// production refused without TLS beyond loopback), so `bulwark config
// validate` finds what would otherwise stop serve at start. Errors name the
// variables, never their values; all problems are joined.
func (c *Config) CheckBackends(getenv func(string) string) error {
	var errs []error
	if c.Database.DriverName() == DriverPostgres {
		if _, err := c.Database.PostgresDSN(getenv, c.Production()); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Limits.Backend == BackendRedis {
		if _, err := c.Redis.ClientOptions(getenv, c.Production()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
