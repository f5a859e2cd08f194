package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/tools/envtool"
	"github.com/bulwarkhq/bulwark/internal/tools/sqlq"
	"github.com/bulwarkhq/bulwark/internal/tools/timetool"
)

// dataTools builds sql_query, env_get and time_now when enabled.
func (b *Builtins) dataTools(cfg BuiltinConfig) error {
	if cfg.SQL != nil {
		db, err := sqlq.Open(*cfg.SQL)
		if err != nil {
			return fmt.Errorf("mcp: sql_query: %w", err)
		}
		b.closers = append(b.closers, db.Close)
		b.tools = append(b.tools, sqlTool(db))
	}
	if cfg.Env {
		t, err := envtool.New(cfg.EnvAllow)
		if err != nil {
			return fmt.Errorf("mcp: env_get: %w", err)
		}
		b.tools = append(b.tools, envTool(t))
	}
	if cfg.Time {
		b.tools = append(b.tools, timeTool(timetool.New(nil)))
	}
	return nil
}

func sqlTool(db *sqlq.DB) Tool {
	return Tool{
		Name: "sql_query", Scope: ScopeSQL, ReadOnly: true,
		Description: "Run one read-only SELECT against an operator-configured database (" + strings.Join(db.Names(), ", ") + ").",
		InputSchema: schema(`"database":{"type":"string"},"query":{"type":"string"},"params":{"type":"array"}`, "database", "query"),
		Handler: func(ctx context.Context, _ *identity.Identity, args json.RawMessage) (Result, error) {
			var in struct {
				Database string `json:"database"`
				Query    string `json:"query"`
				Params   []any  `json:"params"`
			}
			if err := DecodeArgs(args, &in); err != nil {
				return Result{}, err
			}
			for _, p := range in.Params {
				switch p.(type) {
				case string, float64, bool, nil:
				default:
					return Result{}, Refuse("params must be strings, numbers, booleans or null", nil)
				}
			}
			res, err := db.Query(ctx, in.Database, in.Query, in.Params...)
			if errors.Is(err, sqlq.ErrUnknownDB) {
				return Result{}, Refuse("unknown database (configured: "+strings.Join(db.Names(), ", ")+")", err)
			}
			if err != nil {
				for _, known := range []error{sqlq.ErrRefused, sqlq.ErrTimeout} {
					if errors.Is(err, known) {
						return Result{}, Refuse(known.Error()+publicDetail(err, known), err)
					}
				}
				return Result{}, err
			}
			enc, err := json.Marshal(res)
			if err != nil {
				return Result{}, fmt.Errorf("encode result: %w", err)
			}
			return Result{Text: string(enc), Data: res}, nil
		},
	}
}

// publicDetail returns what a tool package wrote after its sentinel (the
// reason for a refusal), which describes the caller's own input.
func publicDetail(err, sentinel error) string {
	msg := err.Error()
	if i := strings.Index(msg, sentinel.Error()); i >= 0 {
		return msg[i+len(sentinel.Error()):]
	}
	return ""
}

func envTool(t *envtool.Tool) Tool {
	return Tool{
		Name: "env_get", Scope: ScopeEnv, ReadOnly: true,
		Description: "Read an environment variable the operator allowlisted (" + strings.Join(t.Allowed(), ", ") + ").",
		InputSchema: schema(`"name":{"type":"string"}`, "name"),
		Handler: func(_ context.Context, _ *identity.Identity, args json.RawMessage) (Result, error) {
			var in struct {
				Name string `json:"name"`
			}
			if err := DecodeArgs(args, &in); err != nil {
				return Result{}, err
			}
			v, err := t.Get(in.Name)
			switch {
			case errors.Is(err, envtool.ErrNotAllowed), errors.Is(err, envtool.ErrNotSet):
				// Same answer for both: a refusal must not reveal whether a
				// variable exists.
				return Result{}, Refuse("environment variable not available", err)
			case err != nil:
				return Result{}, err
			}
			return Result{Text: v}, nil
		},
	}
}

func timeTool(t *timetool.Tool) Tool {
	return Tool{
		Name: "time_now", Scope: ScopeTime, ReadOnly: true,
		Description: "The current time in UTC and, optionally, in an IANA time zone.",
		InputSchema: schema(`"zone":{"type":"string"}`),
		Handler: func(_ context.Context, _ *identity.Identity, args json.RawMessage) (Result, error) {
			var in struct {
				Zone string `json:"zone"`
			}
			if err := DecodeArgs(args, &in); err != nil {
				return Result{}, err
			}
			now, err := t.Now(in.Zone)
			if errors.Is(err, timetool.ErrBadZone) {
				return Result{}, Refuse(timetool.ErrBadZone.Error(), err)
			} else if err != nil {
				return Result{}, err
			}
			text := now.UTC
			if now.Local != "" {
				text = now.Local + " (" + now.Zone + ")"
			}
			return Result{Text: text, Data: now}, nil
		},
	}
}
