// Package store defines Bulwark's persistence: tenants, virtual keys,
// providers, secrets, the barrier keyring and its passphrase salt, the
// audit chain and usage rows. Implementations (sqlite now, postgres next)
// must pass the conformance suite in storetest. Every row belongs to a
// tenant.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrConflict = errors.New("changed concurrently")
	// ErrCommitUnknown marks a failure of the commit itself: the
	// transaction may or may not be on disk (a connection lost while
	// COMMIT was in flight, a failed sync). Retrying its writes could
	// apply them twice.
	ErrCommitUnknown = errors.New("commit outcome unknown")
)

// DefaultTenant always exists.
const DefaultTenant = "default"

// Tenant is an isolation boundary: keys, providers, usage and audit events
// belong to one.
type Tenant struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Key is a virtual key's record. Hash is a keyed hash of the secret; the
// secret itself is never stored.
type Key struct {
	ID         string     `json:"id"`
	Tenant     string     `json:"tenant"`
	Name       string     `json:"name"`
	Hash       []byte     `json:"-"`
	Scopes     []string   `json:"scopes"`
	Models     []string   `json:"models"`
	Tools      []string   `json:"tools,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	NoLog      bool       `json:"no_log"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// Limits and Guard are JSON documents owned by the limit and guard
	// packages; the store keeps them opaque.
	Limits string `json:"limits,omitempty"`
	Guard  string `json:"guard,omitempty"`
}

// Active reports whether the key may authenticate at time now.
func (k *Key) Active(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// Provider is an upstream managed through the CLI or admin API. Credential
// is barrier ciphertext ("enc:v1:…") or empty; CredentialEnv names an
// environment variable instead.
type Provider struct {
	Tenant        string    `json:"tenant"`
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	BaseURL       string    `json:"base_url"`
	Models        []string  `json:"models"`
	Credential    string    `json:"-"`
	CredentialEnv string    `json:"api_key_env,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// AuditRow is one stored audit entry: the event's fields flattened and the
// chained MAC.
type AuditRow struct {
	Seq       int64
	Time      time.Time
	Tenant    string
	Actor     string
	Action    string
	Target    string
	Outcome   string
	RequestID string
	Details   string // canonical JSON
	MAC       string // hex
}

// AuditAnchor records where the chain starts after retention purged older
// entries: Seq is the last purged entry and PrevMAC its MAC. MAC
// authenticates the anchor itself.
type AuditAnchor struct {
	Seq     int64
	PrevMAC string
	MAC     string
}

// Usage is one request's accounting row. Money is integer micro-USD.
type Usage struct {
	Time       time.Time `json:"time"`
	RequestID  string    `json:"request_id"`
	Tenant     string    `json:"tenant"`
	KeyID      string    `json:"key_id"`
	Model      string    `json:"model"`
	Provider   string    `json:"provider"`
	Deployment string    `json:"deployment,omitempty"`
	// Endpoint is the API method the row is for (usage.Endpoints: say
	// "messages" or "messages.count_tokens"). Rows written before the
	// column existed read "".
	Endpoint         string `json:"endpoint"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	CachedTokens     int64  `json:"cached_tokens"`
	CacheWriteTokens int64  `json:"cache_write_tokens"`
	// CacheWrite1hTokens is the part of CacheWriteTokens written with a
	// one-hour TTL (Anthropic), priced higher than the five-minute rest.
	// Rows written before the column existed read 0.
	CacheWrite1hTokens int64 `json:"cache_write_1h_tokens"`
	ReasoningTokens    int64 `json:"reasoning_tokens"`
	CostMicros         int64 `json:"cost_micros"`
	LatencyMS          int64 `json:"latency_ms"`
	TTFBMS             int64 `json:"ttfb_ms"`
	Status             int   `json:"status"`
	Stream             bool  `json:"stream"`
	// Estimated marks counts computed locally (request and delivered
	// bytes ÷ 4) because the upstream's own usage report never came: a
	// stream cut short, a client gone before the answer. Rows written
	// before the column existed read as not estimated.
	Estimated bool `json:"estimated"`
}

// UsageFilter selects usage rows: each field set narrows them (the zero
// value selects every row).
type UsageFilter struct {
	KeyID    string
	Tenant   string
	Endpoint string
	Since    time.Time
}

// UsageSummary aggregates usage per key, model and endpoint. Rows written
// before the endpoint was stored are summed under the endpoint "".
type UsageSummary struct {
	KeyID            string `json:"key_id"`
	Model            string `json:"model"`
	Endpoint         string `json:"endpoint"`
	Requests         int64  `json:"requests"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	// The cache sums are parts of PromptTokens billed at cache prices:
	// reads, writes, and the part of the writes with a one-hour TTL.
	CachedTokens       int64 `json:"cached_tokens"`
	CacheWriteTokens   int64 `json:"cache_write_tokens"`
	CacheWrite1hTokens int64 `json:"cache_write_1h_tokens"`
	CostMicros         int64 `json:"cost_micros"`
	Errors             int64 `json:"errors"`
	// EstimatedRequests counts the rows whose tokens were estimated, and
	// the Estimated… token sums are their part of PromptTokens and
	// CompletionTokens: the rest is the upstream's own report.
	EstimatedRequests         int64 `json:"estimated_requests"`
	EstimatedPromptTokens     int64 `json:"estimated_prompt_tokens"`
	EstimatedCompletionTokens int64 `json:"estimated_completion_tokens"`
}

// Store is the persistence interface. Implementations are safe for
// concurrent use by goroutines and by several processes sharing the same
// database (the CLI and a running serve).
type Store interface {
	// CreateTenant inserts a tenant and its audit row in one transaction.
	CreateTenant(ctx context.Context, name string, audit AuditFunc) error
	ListTenants(ctx context.Context) ([]Tenant, error)
	TenantExists(ctx context.Context, name string) (bool, error)

	// CreateKey inserts k and appends the audit row built by audit in the
	// same transaction, so an acknowledged key always has its audit entry.
	CreateKey(ctx context.Context, k *Key, audit AuditFunc) error
	GetKey(ctx context.Context, id string) (*Key, error)
	ListKeys(ctx context.Context, tenant string) ([]Key, error)
	// UpdateKey applies fn to the stored key and writes it back, with the
	// audit row, in one transaction.
	UpdateKey(ctx context.Context, id string, fn func(*Key) error, audit AuditFunc) (*Key, error)
	TouchKey(ctx context.Context, id string, at time.Time) error
	// KeysGeneration changes whenever any key changes; caches poll it.
	KeysGeneration(ctx context.Context) (int64, error)

	PutProvider(ctx context.Context, p *Provider, audit AuditFunc) error
	// ReplaceProviderCredential swaps a provider's credential if it still
	// holds old (compare-and-swap, for re-wrapping); ErrConflict otherwise.
	ReplaceProviderCredential(ctx context.Context, tenant, name, oldValue, newValue string, audit AuditFunc) error
	GetProvider(ctx context.Context, tenant, name string) (*Provider, error)
	ListProviders(ctx context.Context, tenant string) ([]Provider, error)
	DeleteProvider(ctx context.Context, tenant, name string, audit AuditFunc) error
	// ProvidersGeneration changes whenever any stored provider changes;
	// the gateway's provider cache polls it.
	ProvidersGeneration(ctx context.Context) (int64, error)

	GetSecret(ctx context.Context, name string) (string, error)
	// PutSecretIfAbsent stores value unless name exists, and returns the
	// stored value either way (first writer wins across processes).
	PutSecretIfAbsent(ctx context.Context, name, value string) (string, error)
	// ReplaceSecrets rewrites existing secrets (used by re-wrap).
	ReplaceSecret(ctx context.Context, name, oldValue, newValue string) error
	ListSecretNames(ctx context.Context) ([]string, error)

	LoadKeyring(ctx context.Context) ([]byte, int64, error)
	// KeyringVersion is LoadKeyring's version alone (0 when there is no
	// keyring): what the barrier polls for a rotation made elsewhere.
	KeyringVersion(ctx context.Context) (int64, error)
	SaveKeyring(ctx context.Context, blob []byte, expectVersion int64) error
	// KeyringSalt returns the Argon2id salt of a passphrase root key, kept
	// beside the keyring so that replicas sharing the database need nothing
	// in their data directories; ErrNotFound when none is stored.
	KeyringSalt(ctx context.Context) ([]byte, error)
	// PutKeyringSalt stores salt unless a salt is stored already, and
	// returns the stored salt either way (the first writer wins across
	// processes). It stores only while the keyring's version is
	// expectVersion (0: no keyring yet) — a salt belongs to the keyring it
	// was checked against or is about to create — and returns ErrConflict,
	// storing nothing, when neither a salt is stored nor the version holds.
	PutKeyringSalt(ctx context.Context, salt []byte, expectVersion int64) ([]byte, error)
	// SaveKeyringSalt is SaveKeyring for a rekey: in the same transaction
	// it replaces the stored salt with salt, or removes it when salt is
	// nil (a raw root key). A keyring and the salt of the key that wraps
	// it change together or not at all: ErrConflict changes neither.
	SaveKeyringSalt(ctx context.Context, blob, salt []byte, expectVersion int64) error

	// AppendAudit appends the rows fns build, each from the row before it
	// (the first from the last row, nil when the chain is empty), in one
	// durable, serialised transaction: all of them or none. It returns the
	// last row appended. One transaction for many rows is how concurrent
	// appends share a commit (audit.Log's group commit).
	AppendAudit(ctx context.Context, fns ...AuditFunc) (*AuditRow, error)
	AuditRows(ctx context.Context, afterSeq int64, fn func(AuditRow) error) error
	AuditHead(ctx context.Context) (*AuditRow, error)
	AuditAnchor(ctx context.Context) (*AuditAnchor, error)
	// PurgeAudit deletes rows with Seq <= upTo, sets the anchor and appends
	// the audit row built by audit, in one transaction. It returns
	// ErrConflict (changing nothing) when the anchor already stands at or
	// beyond upTo: anchors only move forward.
	PurgeAudit(ctx context.Context, upTo int64, anchor AuditAnchor, audit AuditFunc) error

	InsertUsage(ctx context.Context, rows []Usage) error
	SummariseUsage(ctx context.Context, f UsageFilter) ([]UsageSummary, error)

	Close() error
}

// AuditFunc builds the next audit row from the previous head (nil when the
// chain is empty). A nil AuditFunc appends nothing.
type AuditFunc func(prev *AuditRow) (AuditRow, error)
