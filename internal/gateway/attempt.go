package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/router"
)

// HeaderDeployment names the deployment that served a routed call.
const HeaderDeployment = "X-Bulwark-Deployment"

// handled is an attempt's failure whose answer was already given (an error
// event ended the stream) or is owed to nobody (the client left). The
// executor classifies it by its cause; the handler never renders it.
type handled struct{ error }

func (h handled) Unwrap() error { return h.error }

// settled turns a handled failure into nil for the caller, which must not
// write anything more.
func settled(err error) error {
	var h handled
	if errors.As(err, &h) {
		return nil
	}
	return err
}

// routeAlias reports whether model is a routing alias the caller may use.
func (x *exchange) routeAlias(model string) (bool, error) {
	ex := x.g.deps.Routing.Executor
	if ex == nil {
		return false, nil
	}
	a, ok := ex.Router.Alias(model)
	if !ok {
		return false, nil
	}
	// As for a direct call: a models: alias resolves to its provider/model.
	if err := mayUse(x.id, model, x.g.cfg.Aliases[model]); err != nil {
		return false, err
	}
	d, _ := ex.Router.Deployment(a.Deployments[0])
	x.tgt = target{prov: provider.Config{Name: d.Provider}, upstream: d.Model}
	return true, nil
}

// route runs a routed call across the alias's deployments: fallback on
// retryable errors, retries with backoff bounded by the deadline, never
// after the first byte reached the client.
func (x *exchange) route(w http.ResponseWriter, body []byte, f Fields) error {
	sw := &sentWriter{ResponseWriter: w}
	ctx := x.r.Context()
	if d := x.g.deps.Routing.Deadline; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	res, err := x.g.deps.Routing.Executor.Do(ctx, f.Model, func(ctx context.Context, d router.Deployment) error {
		return x.tryDeployment(ctx, sw, body, f, d)
	}, sw.sent)
	if err == nil {
		return nil
	}
	x.g.log.LogAttrs(x.r.Context(), levelFor(http.StatusBadGateway), "routed call failed", slogAttrs(x, apierr.From(err))...)
	if res.Deployment.Name != "" && sw.wrote {
		return handled{err}
	}
	return routeError(x, err)
}

// tryDeployment is one attempt on d: the deployment's own limits, then the
// upstream call. A deployment whose limits refuse is skipped, not blamed.
func (x *exchange) tryDeployment(ctx context.Context, w *sentWriter, body []byte, f Fields, d router.Deployment) (err error) {
	prov, ok, err := x.g.deps.Providers.Provider(ctx, x.id.Tenant, d.Provider)
	if err != nil {
		return apierr.Internal(fmt.Errorf("gateway: provider lookup: %w", err))
	}
	// A Gemini body is always re-encoded: its model lives in the URL.
	translated := ok && (!prov.Speaks(x.rt.family) || x.rt.family == provider.FamilyGemini)
	if !ok || !prov.Serves(d.Model) || (translated && !x.canTranslate(prov)) {
		return fmt.Errorf("%w: provider %q cannot serve %q in this API format", router.ErrSkipDeployment, d.Provider, d.Model)
	}
	adm, err := x.admitDeployment(ctx, d)
	if err != nil {
		return err
	}
	// Deferred, so that a panic unwinding through the attempt still leaves
	// the hold with the exchange, whose deferred settle gives it back: a
	// lost hold would refuse the deployment's calls until restart.
	defer func() { x.keepDeployment(ctx, adm, err != nil && !w.wrote) }()
	x.tgt = target{prov: prov, upstream: d.Model}
	// A failed earlier attempt must not leave its status on this one's row.
	x.rec.Status = 0
	x.rec.Provider, x.rec.Deployment = prov.Name, d.Name
	x.call.Provider, x.call.Upstream = prov.Name, d.Model
	w.Header().Set(HeaderDeployment, d.Name)
	ctx = provider.WithConnectTimeout(ctx, d.Timeouts.Connect)
	if translated {
		return x.forwardTranslated(ctx, w, body, f)
	}
	return x.forwardSame(ctx, w, body, f, d.Model)
}

// admitDeployment takes d's own limits for one attempt (nil when d has
// none). A deployment whose limits refuse is skipped
// (router.ErrSkipDeployment), not blamed; a limit store that fails
// denies. End the hold with keepDeployment.
func (x *exchange) admitDeployment(ctx context.Context, d router.Deployment) (*limit.Admission, error) {
	gate := x.g.deps.Routing.Gate
	sub := router.DeploymentSubject(d)
	if gate == nil || !sub.Active() {
		return nil, nil
	}
	var adm *limit.Admission
	var err error
	if x.call.count {
		// A count takes the deployment's slot and its own bucket, as a
		// key's counts do: not the calls' rate, nor TPM reserved at the
		// model's maximum output for a call that produces none.
		adm, err = gate.AdmitCount(ctx, []limit.Subject{sub})
	} else {
		est := limit.Estimate{PromptTokens: x.call.PromptTokens, MaxOutputTokens: x.call.MaxTokens}
		if est.MaxOutputTokens <= 0 && !x.call.embedding {
			est.MaxOutputTokens = x.g.maxOutput(d.Model)
		}
		adm, err = gate.Admit(ctx, []limit.Subject{sub}, est)
	}
	if errors.Is(err, limit.ErrDenied) {
		return nil, fmt.Errorf("%w: %w", router.ErrSkipDeployment, err)
	}
	if err != nil {
		return nil, deniedError(err)
	}
	return adm, nil
}

// keepDeployment ends an attempt's hold on its deployment: given back at
// once when the attempt failed before anything reached the client
// (release), otherwise kept by the exchange until the call is settled
// with its usage, or, for a token count, until endCount frees it.
func (x *exchange) keepDeployment(ctx context.Context, adm *limit.Admission, release bool) {
	switch {
	case adm == nil:
	case release:
		_ = adm.Abort(ctx)
	default:
		x.depAdm = adm
	}
}

// canTranslate reports whether a chat call in the caller's dialect can be
// translated for prov (embeddings and token counts are not translated).
func (x *exchange) canTranslate(prov provider.Config) bool {
	return translatable(prov) && (x.rt == routeChat || x.rt == routeMessages || x.rt == routeGemini)
}

// forwardSame is an attempt in the caller's own dialect: the body with only
// its model rewritten.
func (x *exchange) forwardSame(ctx context.Context, w http.ResponseWriter, body []byte, f Fields, model string) error {
	out, err := Rewrite(body, f, model, x.rt.family == provider.FamilyOpenAI && x.rt.path == "/chat/completions")
	if err != nil {
		return apierr.Internal(fmt.Errorf("gateway: rewrite body: %w", err))
	}
	return x.forward(ctx, w, out, f)
}

// forwardTranslated is an attempt on a deployment whose provider speaks
// another family: the body is translated for it and its answer back, with
// the same retries and fallback as a same-dialect attempt. A request this
// deployment cannot take (untranslatable, or a feature it would drop under
// X-Bulwark-Strict) skips it for one that can; when none can, the client
// gets that 400.
func (x *exchange) forwardTranslated(ctx context.Context, w http.ResponseWriter, body []byte, f Fields) error {
	t, out, err := x.translate(body, f.Model, f.Stream)
	if err != nil {
		return fmt.Errorf("%w: %w", router.ErrSkipDeployment, err)
	}
	return t.forward(ctx, w, out)
}

// routeError gives a routed failure its public face. The error chain may
// hold upstream text: it goes to the log, never to the client.
func routeError(x *exchange, err error) error {
	var d *limit.Denied
	var ae *apierr.Error
	switch {
	case x.r.Context().Err() != nil:
		x.rec.Status = statusClientClosed
		return nil //nolint:nilerr // the client has gone: nothing to answer
	case errors.As(err, &d):
		return x.refusedCount(deniedError(d))
	case errors.Is(err, router.ErrFirstByteTimeout), errors.Is(err, router.ErrIdleTimeout):
		return apierr.New(http.StatusGatewayTimeout, "upstream_timeout", "the upstream provider did not answer in time").WithCause(err)
	case errors.As(err, &ae) && ae.Code == codeLimitsUnavailable:
		// A deployment's limit store failed: a count leaves its row, as
		// when the key's own limit store fails (admitRequest).
		return x.refusedCount(ae.WithCause(err))
	case errors.As(err, &ae):
		return ae.WithCause(err)
	case errors.Is(err, router.ErrNoHealthyDeployment):
		return apierr.Unavailable("no_healthy_deployment", "no deployment of this model is available right now; retry shortly", time.Second).WithCause(err)
	case errors.Is(err, router.ErrDeadline), errors.Is(err, context.DeadlineExceeded):
		return apierr.New(http.StatusGatewayTimeout, "upstream_timeout", "the request deadline passed before the upstream answered").WithCause(err)
	}
	return apierr.New(http.StatusBadGateway, "upstream_error", "the upstream provider failed to answer").WithCause(err)
}

// refusedCount records a token count that every deployment's limits
// refused, or whose deployment's limit store failed, as admitRequest
// records one the caller's limits refused: a usage row with its 429 (503)
// and the request metrics, the only trace a count leaves. A call is
// recorded by serveCall, whatever its error.
func (x *exchange) refusedCount(err error) error {
	if x.rt.count {
		x.rec.Status = apierr.From(err).Status
		x.settle(0)
	}
	return err
}

// sentWriter remembers whether anything reached the client, which ends
// retries.
type sentWriter struct {
	http.ResponseWriter
	wrote bool
}

func (s *sentWriter) sent() bool { return s.wrote }

func (s *sentWriter) WriteHeader(code int) {
	s.wrote = true
	s.ResponseWriter.WriteHeader(code)
}

func (s *sentWriter) Write(p []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController flush the real writer.
func (s *sentWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
