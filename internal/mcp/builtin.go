package mcp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/tools/exectool"
	"github.com/bulwarkhq/bulwark/internal/tools/fetch"
	"github.com/bulwarkhq/bulwark/internal/tools/fs"
	"github.com/bulwarkhq/bulwark/internal/tools/gittool"
	"github.com/bulwarkhq/bulwark/internal/tools/sqlq"
)

// Scopes of the built-in tools.
const (
	ScopeFSRead  = "tools:fs.read"
	ScopeFSWrite = "tools:fs.write"
	ScopeFetch   = "tools:fetch"
	ScopeSQL     = "tools:sql"
	ScopeEnv     = "tools:env"
	ScopeTime    = "tools:time"
	ScopeGit     = "tools:git"
	ScopeExec    = "tools:exec"
)

// BuiltinConfig enables and configures the standard tools (tools.* in the
// configuration). Every tool is off unless enabled; fs_write has its own
// switch so read access never implies write access.
type BuiltinConfig struct {
	// WorkspaceRoot holds one workspace per tenant: <WorkspaceRoot>/<tenant>.
	WorkspaceRoot string
	// FSRead enables fs_read, fs_list and fs_search.
	FSRead bool
	// FSWrite enables fs_write (off by default).
	FSWrite bool
	// FSLimits bounds the file tools; zero fields take fs.DefaultLimits.
	FSLimits fs.Limits
	// Fetch enables http_fetch with this configuration when non-nil.
	Fetch *fetch.Config
	// Git enables the git tool (sandboxed, over the tenant workspace) when non-nil.
	Git *gittool.Config
	// Exec enables the exec tool (sandboxed, allowlisted programs) when non-nil.
	Exec *exectool.Config
	// SQL enables sql_query over these operator-named databases when non-nil.
	SQL *sqlq.Config
	// Env enables env_get for exactly the names in EnvAllow.
	Env      bool
	EnvAllow []string
	// Time enables time_now.
	Time bool
}

// Builtins holds the standard tools and the per-tenant workspaces they
// share. It is safe for concurrent use; Close it at shutdown.
type Builtins struct {
	cfg     BuiltinConfig
	fetch   *fetch.Client
	tools   []Tool
	closers []func() error
	// owner, when set, owns every tenant workspace: Bulwark runs as root
	// and git/exec run in a sandbox as this uid, which must be able to use
	// what the file tools write (see fs.Owner).
	owner *fs.Owner

	mu         sync.Mutex
	workspaces map[string]*fs.Workspace
}

// NewBuiltins validates cfg and builds the enabled tools.
func NewBuiltins(cfg BuiltinConfig) (*Builtins, error) {
	b := &Builtins{cfg: cfg, workspaces: map[string]*fs.Workspace{}}
	if (cfg.FSRead || cfg.FSWrite) && cfg.WorkspaceRoot == "" {
		return nil, errors.New("mcp: file tools need tools.workspace_root")
	}
	owner, err := workspaceOwner(cfg, os.Geteuid())
	if err != nil {
		return nil, err
	}
	b.owner = owner
	if cfg.FSRead {
		b.tools = append(b.tools, b.fsRead(), b.fsList(), b.fsSearch())
	}
	if cfg.FSWrite {
		b.tools = append(b.tools, b.fsWrite())
	}
	if cfg.Fetch != nil {
		c, err := fetch.New(*cfg.Fetch)
		if err != nil {
			return nil, fmt.Errorf("mcp: http_fetch: %w", err)
		}
		b.fetch = c
		b.tools = append(b.tools, b.httpFetch())
	}
	if err := b.dataTools(cfg); err != nil {
		_ = b.Close()
		return nil, err
	}
	if err := b.procTools(cfg); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// Tools returns the enabled tools, for Deps.Tools.
func (b *Builtins) Tools() []Tool { return append([]Tool(nil), b.tools...) }

// Close releases the open workspaces.
func (b *Builtins) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, c := range b.closers {
		errs = append(errs, c())
	}
	b.closers = nil
	for t, w := range b.workspaces {
		errs = append(errs, w.Close())
		delete(b.workspaces, t)
	}
	return errors.Join(errs...)
}

// workspace returns the caller's tenant workspace. The tenant comes from
// the verified identity only, never from arguments, so a key of tenant A
// cannot name a path in tenant B's workspace.
func (b *Builtins) workspace(id *identity.Identity) (*fs.Workspace, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w, ok := b.workspaces[id.Tenant]; ok {
		return w, nil
	}
	w, err := fs.ForTenantOwned(b.cfg.WorkspaceRoot, id.Tenant, b.cfg.FSLimits, b.owner)
	if err != nil {
		return nil, Refuse("this tenant has no usable workspace", err)
	}
	b.workspaces[id.Tenant] = w
	return w, nil
}

// fsPublic turns a file-tool error into a client-safe one: the fs package's
// sentinel errors name only the caller's relative path.
func fsPublic(err error) error {
	for _, known := range []error{fs.ErrInvalidPath, fs.ErrNotFound, fs.ErrOutside, fs.ErrNotRegular, fs.ErrNotDir,
		fs.ErrTooLarge, fs.ErrReadOnly, fs.ErrSymlink, fs.ErrAccess} {
		if errors.Is(err, known) {
			return Refuse(strings.TrimPrefix(err.Error(), "fs: "), err)
		}
	}
	return err
}

func schema(props string, required ...string) json.RawMessage {
	req, _ := json.Marshal(required)
	if len(required) == 0 {
		req = []byte("[]")
	}
	return json.RawMessage(`{"type":"object","additionalProperties":false,"properties":{` + props + `},"required":` + string(req) + `}`)
}

func (b *Builtins) fsRead() Tool {
	return Tool{
		Name: "fs_read", Scope: ScopeFSRead, ReadOnly: true,
		Description: "Read a file of your workspace (path relative to the workspace root).",
		InputSchema: schema(`"path":{"type":"string"},"offset":{"type":"integer","minimum":0},"limit":{"type":"integer","minimum":0}`, "path"),
		Handler: func(_ context.Context, id *identity.Identity, args json.RawMessage) (Result, error) {
			var in struct {
				Path   string `json:"path"`
				Offset int64  `json:"offset"`
				Limit  int64  `json:"limit"`
			}
			if err := DecodeArgs(args, &in); err != nil {
				return Result{}, err
			}
			if in.Offset < 0 || in.Limit < 0 {
				return Result{}, Refuse("offset and limit must not be negative", nil)
			}
			w, err := b.workspace(id)
			if err != nil {
				return Result{}, err
			}
			data, err := w.Read(in.Path, in.Offset, in.Limit)
			if err != nil {
				return Result{}, fsPublic(err)
			}
			if utf8.Valid(data) {
				return Result{Text: string(data), Data: map[string]any{"path": in.Path, "bytes": len(data)}}, nil
			}
			return Result{
				Text: fmt.Sprintf("binary content, %d bytes (base64 in structured content)", len(data)),
				Data: map[string]any{"path": in.Path, "bytes": len(data), "base64": base64.StdEncoding.EncodeToString(data)},
			}, nil
		},
	}
}

func (b *Builtins) fsList() Tool {
	return Tool{
		Name: "fs_list", Scope: ScopeFSRead, ReadOnly: true,
		Description: "List a directory of your workspace (\".\" for the root).",
		InputSchema: schema(`"path":{"type":"string"}`),
		Handler: func(_ context.Context, id *identity.Identity, args json.RawMessage) (Result, error) {
			var in struct {
				Path string `json:"path"`
			}
			if err := DecodeArgs(args, &in); err != nil {
				return Result{}, err
			}
			if in.Path == "" {
				in.Path = "."
			}
			w, err := b.workspace(id)
			if err != nil {
				return Result{}, err
			}
			entries, err := w.List(in.Path)
			if err != nil {
				return Result{}, fsPublic(err)
			}
			var sb strings.Builder
			for _, e := range entries {
				fmt.Fprintf(&sb, "%s\t%d\t%s\n", e.Type, e.Size, e.Name)
			}
			return Result{Text: sb.String(), Data: map[string]any{"entries": entries}}, nil
		},
	}
}

func (b *Builtins) fsSearch() Tool {
	return Tool{
		Name: "fs_search", Scope: ScopeFSRead, ReadOnly: true,
		Description: "Search the text files of your workspace for a literal string (or an RE2 regexp).",
		InputSchema: schema(`"query":{"type":"string"},"path":{"type":"string"},"regexp":{"type":"boolean"},"max":{"type":"integer","minimum":1,"maximum":1000}`, "query"),
		Handler: func(_ context.Context, id *identity.Identity, args json.RawMessage) (Result, error) {
			var in struct {
				Query  string `json:"query"`
				Path   string `json:"path"`
				Regexp bool   `json:"regexp"`
				Max    int    `json:"max"`
			}
			if err := DecodeArgs(args, &in); err != nil {
				return Result{}, err
			}
			if in.Query == "" {
				return Result{}, Refuse("query must not be empty", nil)
			}
			if in.Path == "" {
				in.Path = "."
			}
			if in.Max <= 0 || in.Max > 1000 {
				in.Max = 100
			}
			w, err := b.workspace(id)
			if err != nil {
				return Result{}, err
			}
			search := w.Search
			if in.Regexp {
				search = w.SearchRegexp
			}
			matches, err := search(in.Path, in.Query, in.Max)
			if err != nil {
				return Result{}, fsPublic(err)
			}
			var sb strings.Builder
			for _, m := range matches {
				fmt.Fprintf(&sb, "%s:%d: %s\n", m.Path, m.Line, m.Text)
			}
			return Result{Text: sb.String(), Data: map[string]any{"matches": matches}}, nil
		},
	}
}

func (b *Builtins) fsWrite() Tool {
	return Tool{
		Name: "fs_write", Scope: ScopeFSWrite,
		Description: "Write (create or replace, atomically) a file of your workspace.",
		InputSchema: schema(`"path":{"type":"string"},"content":{"type":"string"}`, "path", "content"),
		Handler: func(_ context.Context, id *identity.Identity, args json.RawMessage) (Result, error) {
			var in struct {
				Path    string `json:"path"`
				Content string `json:"content"`
			}
			if err := DecodeArgs(args, &in); err != nil {
				return Result{}, err
			}
			w, err := b.workspace(id)
			if err != nil {
				return Result{}, err
			}
			if err := w.Write(in.Path, []byte(in.Content)); err != nil {
				return Result{}, fsPublic(err)
			}
			return Result{Text: fmt.Sprintf("wrote %d bytes to %s", len(in.Content), in.Path)}, nil
		},
	}
}

func (b *Builtins) httpFetch() Tool {
	return Tool{
		Name: "http_fetch", Scope: ScopeFetch, ReadOnly: true,
		Description: "Fetch a public http(s) URL with GET. Private, loopback and metadata addresses are refused.",
		InputSchema: schema(`"url":{"type":"string"},"max_bytes":{"type":"integer","minimum":1},"accept":{"type":"string"}`, "url"),
		Handler: func(ctx context.Context, _ *identity.Identity, args json.RawMessage) (Result, error) {
			var in struct {
				URL      string `json:"url"`
				MaxBytes int64  `json:"max_bytes"`
				Accept   string `json:"accept"`
			}
			if err := DecodeArgs(args, &in); err != nil {
				return Result{}, err
			}
			if in.MaxBytes < 0 {
				return Result{}, Refuse("max_bytes must not be negative", nil)
			}
			res, err := b.fetch.Get(ctx, in.URL, fetch.Options{MaxBytes: in.MaxBytes, Accept: in.Accept})
			if err != nil {
				return Result{}, fetchPublic(err)
			}
			text := string(res.Body)
			if !utf8.Valid(res.Body) {
				text = fmt.Sprintf("binary body, %d bytes", len(res.Body))
			}
			return Result{Text: text, Data: map[string]any{
				"status": res.Status, "final_url": res.FinalURL, "truncated": res.Truncated,
				"content_type": res.Header.Get("Content-Type"), "bytes": len(res.Body),
			}}, nil
		},
	}
}

// fetchPublic maps fetch errors to client-safe messages. A refused address
// gets a fixed message: echoing what a name resolved to would map the
// internal network for the caller.
func fetchPublic(err error) error {
	switch {
	case errors.Is(err, fetch.ErrForbiddenAddress):
		return Refuse("the URL resolves to an address tools may not reach (loopback, private, link-local, metadata or reserved)", err)
	case errors.Is(err, fetch.ErrInvalidURL):
		msg := err.Error()
		if i := strings.Index(msg, fetch.ErrInvalidURL.Error()); i >= 0 {
			msg = msg[i:]
		}
		return Refuse(msg, err)
	case errors.Is(err, fetch.ErrTooManyRedirects):
		return Refuse("too many redirects", err)
	case errors.Is(err, fetch.ErrTimeout):
		return Refuse("the fetch timed out", err)
	}
	return err
}
