package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func (h *harness) call(method, path, key, body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.addr+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminAPIKeyOperations(t *testing.T) {
	h := newHarness(t)
	out := h.must("init", "--json")
	var root createdKey
	_ = json.Unmarshal([]byte(out), &root)
	h.serve()

	code, body := h.call("POST", "/api/admin/keys", root.Key, `{"name":"svc","scopes":["llm"],"expires":"30d"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var created createdKey
	_ = json.Unmarshal([]byte(body), &created)
	if h.status("/v1/models", created.Key) != http.StatusOK {
		t.Fatal("key created through the API does not work")
	}
	if code, body := h.call("GET", "/api/admin/keys", root.Key, ""); code != 200 || strings.Contains(body, created.Key) || !strings.Contains(body, created.ID) {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, body := h.call("PATCH", "/api/admin/keys/"+created.ID, root.Key, `{"name":"renamed","no_log":true}`); code != 200 || !strings.Contains(body, `"renamed"`) {
		t.Fatalf("update: %d %s", code, body)
	}
	code, body = h.call("POST", "/api/admin/keys/"+created.ID+"/rotate", root.Key, "")
	var rotated createdKey
	_ = json.Unmarshal([]byte(body), &rotated)
	if code != 200 || rotated.Key == "" || h.status("/v1/models", created.Key) != http.StatusUnauthorized {
		t.Fatalf("rotate: %d %s", code, body)
	}
	if code, _ := h.call("DELETE", "/api/admin/keys/"+created.ID, root.Key, ""); code != 200 || h.status("/v1/models", rotated.Key) != http.StatusUnauthorized {
		t.Fatalf("revoke: %d", code)
	}
	// Strict bodies.
	if code, body := h.call("POST", "/api/admin/keys", root.Key, `{"name":"x","scopse":["llm"]}`); code != 400 || !strings.Contains(body, "scopse") {
		t.Fatalf("unknown field: %d %s", code, body)
	}
	if code, _ := h.call("POST", "/api/admin/keys", root.Key, `{"name":"x","scopes":["superuser"]}`); code != 400 {
		t.Fatalf("unknown scope: %d", code)
	}
	// An llm-only key gets 403 on the admin API.
	plain := h.createKey("--name", "plain")
	if code, _ := h.call("GET", "/api/admin/keys", plain.Key, ""); code != http.StatusForbidden {
		t.Fatalf("llm key on admin API: %d", code)
	}
	// Actions are audited with the acting key's public id, never a secret.
	export := h.must("audit", "export", "--json")
	if !strings.Contains(export, `"actor":"key:`+root.ID+`"`) || strings.Contains(export, root.Key) {
		t.Fatal("admin API actions not audited by key id")
	}
}

func TestAdminIsScopedToItsTenant(t *testing.T) {
	h := newHarness(t)
	h.must("tenants", "create", "acme")
	h.must("tenants", "create", "globex")
	acmeAdmin := h.createKey("--name", "acme-admin", "--tenant", "acme", "--scopes", "admin")
	globexKey := h.createKey("--name", "globex-app", "--tenant", "globex")
	h.serve()
	code, body := h.call("GET", "/api/admin/keys", acmeAdmin.Key, "")
	if code != 200 || strings.Contains(body, globexKey.ID) {
		t.Fatalf("tenant admin sees other tenants' keys: %s", body)
	}
	if code, _ := h.call("GET", "/api/admin/keys?tenant=globex", acmeAdmin.Key, ""); code != http.StatusForbidden {
		t.Fatalf("tenant admin listed another tenant: %d", code)
	}
	if code, _ := h.call("DELETE", "/api/admin/keys/"+globexKey.ID, acmeAdmin.Key, ""); code != http.StatusNotFound {
		t.Fatalf("tenant admin revoked another tenant's key: %d", code)
	}
	if h.status("/v1/models", globexKey.Key) != http.StatusOK {
		t.Fatal("other tenant's key was affected")
	}
	if code, _ := h.call("POST", "/api/admin/keys", acmeAdmin.Key, `{"name":"x","tenant":"globex"}`); code != http.StatusForbidden {
		t.Fatalf("tenant admin created a key in another tenant: %d", code)
	}
	if code, _ := h.call("POST", "/api/admin/tenants", acmeAdmin.Key, `{"name":"new"}`); code != http.StatusForbidden {
		t.Fatalf("tenant admin created a tenant: %d", code)
	}
}

func TestMetricsNeedAdmin(t *testing.T) {
	h := newHarness(t)
	admin := h.createKey("--name", "ops", "--scopes", "admin:global")
	tenantAdmin := h.createKey("--name", "tenant-ops", "--scopes", "admin")
	plain := h.createKey("--name", "app")
	h.serve()
	h.status("/v1/models", "sk-bw-bad")
	if got := h.status("/metrics", tenantAdmin.Key); got != http.StatusForbidden {
		t.Fatalf("metrics with a tenant admin key: %d", got)
	}
	if got := h.status("/metrics", plain.Key); got != http.StatusForbidden {
		t.Fatalf("metrics with llm key: %d", got)
	}
	if got := h.status("/metrics", ""); got != http.StatusUnauthorized {
		t.Fatalf("metrics without key: %d", got)
	}
	resp := h.get("/metrics", admin.Key)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"bulwark_http_requests_total", "bulwark_auth_failures_total{reason=\"malformed\"}", "bulwark_http_request_duration_seconds_bucket"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
