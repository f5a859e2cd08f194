package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/provider/mock"
)

// models lists the models the caller's key may use: every "provider/model"
// of the tenant's providers that declare models (the mock's own list for
// mock providers) and every alias, in the OpenAI shape, or the Anthropic
// shape when the request carries anthropic-version.
func (g *Gateway) models(w http.ResponseWriter, r *http.Request) {
	d := apierr.OpenAI
	if r.Header.Get("Anthropic-Version") != "" {
		d = apierr.Anthropic
	}
	id, err := caller(r)
	if err != nil {
		g.writeError(w, r, d, err)
		return
	}
	provs, err := g.deps.Providers.Providers(r.Context(), id.Tenant)
	if err != nil {
		g.writeError(w, r, d, apierr.Internal(fmt.Errorf("gateway: list providers: %w", err)))
		return
	}
	type entry struct{ id, owner string }
	var list []entry
	names := map[string]bool{}
	for _, p := range provs {
		names[p.Name] = true
		ms := p.Models
		if p.Type == provider.TypeMock && len(ms) == 0 {
			ms = mock.Models
		}
		for _, m := range ms {
			if full := p.Name + "/" + m; id.AllowsModel(full) {
				list = append(list, entry{full, p.Name})
			}
		}
	}
	for alias, target := range g.cfg.Aliases {
		p, _, _ := strings.Cut(target, "/")
		if names[p] && (id.AllowsModel(alias) || id.AllowsModel(target)) {
			list = append(list, entry{alias, p})
		}
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.id, b.id) })
	hasMore := false
	if d == apierr.Anthropic {
		if list, hasMore, err = page(list, r.URL.Query(), func(e entry) string { return e.id }); err != nil {
			g.writeError(w, r, d, err)
			return
		}
	}
	setRequestID(w, r, d)
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if d == apierr.Anthropic {
		type model struct {
			Type        string `json:"type"`
			ID          string `json:"id"`
			DisplayName string `json:"display_name"`
			CreatedAt   string `json:"created_at"`
		}
		out := struct {
			Data    []model `json:"data"`
			HasMore bool    `json:"has_more"`
			FirstID *string `json:"first_id"`
			LastID  *string `json:"last_id"`
		}{Data: []model{}, HasMore: hasMore}
		for _, e := range list {
			out.Data = append(out.Data, model{"model", e.id, e.id, "2025-01-01T00:00:00Z"})
		}
		if len(list) > 0 {
			out.FirstID, out.LastID = &list[0].id, &list[len(list)-1].id
		}
		_ = enc.Encode(out)
		return
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, e := range list {
		out.Data = append(out.Data, model{e.id, "model", 0, e.owner})
	}
	_ = enc.Encode(out)
}

// page cuts a sorted list as Anthropic's List Models pages it: limit
// (default 20, 1–1000), and after_id or before_id, exclusive cursors (an id
// no longer listed gives an empty page, so a pager that follows last_id
// ends instead of failing). hasMore reports entries beyond the page in the
// direction of travel.
func page[T any](list []T, q url.Values, id func(T) string) (out []T, hasMore bool, err error) {
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > 1000 {
			e := apierr.BadRequest("invalid_request_error", "limit must be an integer from 1 to 1000")
			e.Param = "limit"
			return nil, false, e
		}
		limit = n
	}
	after, before := q.Get("after_id"), q.Get("before_id")
	at := func(cursor string) int { return slices.IndexFunc(list, func(e T) bool { return id(e) == cursor }) }
	switch {
	case after != "" && before != "":
		return nil, false, apierr.BadRequest("invalid_request_error", "give after_id or before_id, not both")
	case before != "":
		i := at(before)
		if i < 0 {
			return list[:0], false, nil
		}
		start := max(i-limit, 0)
		return list[start:i], start > 0, nil
	case after != "":
		i := at(after)
		if i < 0 {
			return list[:0], false, nil
		}
		list = list[i+1:]
	}
	if len(list) > limit {
		return list[:limit], true, nil
	}
	return list, false, nil
}
