package cli

import (
	"context"
	"flag"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark/internal/admin"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/metrics"
	"github.com/bulwarkhq/bulwark/internal/server"
)

func runServe(ctx context.Context, e *Env, args []string) (err error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c common
	c.register(fs)
	listen := fs.String("listen", "", "listen address (default $BULWARK_LISTEN or 127.0.0.1:8787)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = *listen
		if err := cfg.Validate(); err != nil {
			return err
		}
	}
	warnings, err := cfg.CheckProduction()
	if err != nil {
		return err
	}
	for _, w := range warnings {
		warnf(e.Stderr, "%s\n", banner(w))
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	in.Cfg = cfg
	defer closeInstance(in, &err)
	// The master key has done its job: keep it out of reach of anything
	// that reads the environment later (provider env references, children).
	_ = os.Unsetenv(config.EnvMasterKey)
	return serve(ctx, e, in)
}

func serve(ctx context.Context, e *Env, in *instance.Instance) error {
	if err := mentionInit(ctx, e, in); err != nil {
		return err
	}
	m := metrics.New()
	srv, err := server.New(in, m)
	if err != nil {
		return err
	}
	admin.New(in).Register(srvMux{srv}, srv.Auth.Wrap)
	addr, err := srv.Listen()
	if err != nil {
		return err
	}
	defer srv.CloseListener() // a no-op once Run has served and shut down
	in.Cfg.Listen = addr      // the resolved address: OAuth metadata and the MCP resource name it
	flush, err := mountSubsystems(ctx, in, srv)
	if err != nil {
		return err
	}
	defer flush()
	go in.Keys.Watch(ctx, 250*time.Millisecond)
	go watchKeyring(ctx, in, keyringWatchGauge(srv.Metrics.Registry))
	if days := in.Cfg.Audit.RetentionDays; days > 0 {
		go retention(ctx, in, days)
	}
	return srv.Run(ctx, func(addr string) {
		in.Log.Info("listening", "addr", addr, "env", in.Cfg.Env, "data_dir", in.Cfg.DataDir)
	})
}

// keyringWatchGauge is 1 once this replica's keyring watch has stopped:
// after a rekey elsewhere it keeps serving with the keyring it holds but
// misses later rotations until restarted with the new key. Readiness stays
// green (failing it would drain every old replica at once, mid-rekey), so
// this is what an operator alerts on.
func keyringWatchGauge(reg prometheus.Registerer) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "bulwark_keyring_watch_stopped",
		Help: "1 when this replica no longer follows keyring rotations (a rekey elsewhere): restart it with the new master key."})
	reg.MustRegister(g)
	return g
}

// watchKeyring follows keyring rotations until ctx ends or the stored
// keyring no longer opens with this replica's master key.
func watchKeyring(ctx context.Context, in *instance.Instance, stopped prometheus.Gauge) {
	if err := in.Barrier.Watch(ctx, time.Second); err != nil && ctx.Err() == nil {
		stopped.Set(1)
		in.Log.Error("keyring watch stopped; restart serve to pick up later rotations", "err", err)
	}
}

// srvMux lets the admin API register on the server.
type srvMux struct{ s *server.Server }

func (m srvMux) Handle(pattern string, h http.Handler) { m.s.Handle(pattern, h) }

// mentionInit tells the operator how to get a first key; serve never
// prints a secret itself.
func mentionInit(ctx context.Context, e *Env, in *instance.Instance) error {
	keys, err := in.Store.ListKeys(ctx, "")
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Active(time.Now()) && (hasScope(k.Scopes, auth.ScopeAdmin) || hasScope(k.Scopes, auth.ScopeAdminGlobal)) {
			return nil
		}
	}
	warnf(e.Stderr, "no admin key yet: run `bulwark init` (with the same data dir) to create one; it is printed once\n")
	return nil
}

func retention(ctx context.Context, in *instance.Instance, days int) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := in.Audit.Purge(ctx, time.Now().AddDate(0, 0, -days)); err != nil {
			in.Log.Error("audit retention", "err", err)
		} else if n > 0 {
			in.Log.Info("audit retention purged entries", "entries", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func banner(msg string) string {
	line := strings.Repeat("!", 78)
	return line + "\n" + msg + "\n" + line
}
