package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// EnvDatabaseURL is the environment variable that holds the PostgreSQL
// connection string unless database.dsn_env names another. The string
// carries a password, so it is never read from the file or the command line.
const EnvDatabaseURL = "BULWARK_DATABASE_URL"

// Database drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Database selects where state and audit live: the embedded SQLite file in
// the data directory (default) or a PostgreSQL database shared by replicas.
type Database struct {
	// Driver is "sqlite" (default when empty) or "postgres".
	Driver string `yaml:"driver"`
	// DSNEnv names the environment variable holding the PostgreSQL
	// connection string (default BULWARK_DATABASE_URL).
	DSNEnv string `yaml:"dsn_env"`
	// MaxConns caps the connections one replica opens (0: the driver's
	// default, the larger of 4 and the number of CPUs).
	MaxConns int32 `yaml:"max_conns"`
}

// DriverName returns the configured driver, "sqlite" when none is set.
func (d Database) DriverName() string {
	if d.Driver == "" {
		return DriverSQLite
	}
	return d.Driver
}

// DSNVariable returns the name of the variable holding the DSN.
func (d Database) DSNVariable() string {
	if d.DSNEnv == "" {
		return EnvDatabaseURL
	}
	return d.DSNEnv
}

func (d Database) validate() []error {
	var errs []error
	switch d.DriverName() {
	case DriverSQLite:
		if d.DSNEnv != "" || d.MaxConns != 0 {
			errs = append(errs, errors.New("database: dsn_env and max_conns apply to driver postgres only"))
		}
	case DriverPostgres:
	default:
		errs = append(errs, fmt.Errorf("database.driver: %q is not %q or %q", d.Driver, DriverSQLite, DriverPostgres))
	}
	if d.DSNEnv != "" && !envNameRe.MatchString(d.DSNEnv) {
		errs = append(errs, fmt.Errorf("database.dsn_env: %q is not an environment variable name", d.DSNEnv))
	}
	switch d.DSNEnv {
	case EnvMasterKey, EnvMasterKeyFile, EnvConfig:
		errs = append(errs, fmt.Errorf("database.dsn_env: %q is another Bulwark setting", d.DSNEnv))
	}
	if d.MaxConns < 0 || d.MaxConns > 1000 {
		errs = append(errs, fmt.Errorf("database.max_conns: %d is not between 0 and 1000", d.MaxConns))
	}
	return errs
}

// Sentinel errors of PostgresDSN. Their messages never contain the DSN.
var (
	ErrNoDSN       = errors.New("no PostgreSQL connection string")
	ErrInvalidDSN  = errors.New("not a valid PostgreSQL connection string")
	ErrInsecureDSN = errors.New("PostgreSQL connection without TLS beyond loopback")
)

// PostgresDSN reads the connection string from the variable DSNVariable
// names and checks it. In production a connection that may travel in
// clear (sslmode disable, allow or prefer — prefer falls back to clear
// text) is refused unless every host is loopback or a Unix socket.
// Errors name the variable, never its value.
func (d Database) PostgresDSN(getenv func(string) string, production bool) (string, error) {
	name := d.DSNVariable()
	dsn := getenv(name)
	if dsn == "" {
		return "", fmt.Errorf("database: driver postgres needs %s: %w", name, ErrNoDSN)
	}
	// The parse error is not wrapped: its text may quote the string,
	// password and all.
	pc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "", fmt.Errorf("database: %s: %w", name, ErrInvalidDSN)
	}
	if !production {
		return dsn, nil
	}
	if host, ok := clearTextHost(pc); ok {
		return "", fmt.Errorf("database: %s connects to %s without requiring TLS; production mode needs sslmode=require, verify-ca or verify-full beyond loopback: %w", name, host, ErrInsecureDSN)
	}
	return dsn, nil
}

// clearTextHost returns a non-loopback host that pc may reach without TLS
// (the first attempt or any fallback pgconn would try).
func clearTextHost(pc *pgconn.Config) (string, bool) {
	if pc.TLSConfig == nil && !localHost(pc.Host) {
		return pc.Host, true
	}
	for _, fb := range pc.Fallbacks {
		if fb.TLSConfig == nil && !localHost(fb.Host) {
			return fb.Host, true
		}
	}
	return "", false
}

// localHost reports whether a libpq host is a Unix socket directory or a
// loopback name or address.
func localHost(h string) bool {
	if strings.HasPrefix(h, "/") || h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}
