package cli

import (
	"context"
	"net/http"

	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/server"
)

// mountSubsystems wires the LLM gateway and the MCP server onto srv.
func mountSubsystems(_ context.Context, _ *instance.Instance, srv *server.Server) error {
	// Until providers are wired, /v1/models answers with an empty list so a
	// client can check its key.
	srv.HandleAuthed("GET /v1/models", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[]}` + "\n"))
	}))
	return nil
}
