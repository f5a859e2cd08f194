package openai

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Azure OpenAI is served as a variant of the openai provider type. A
// provider is Azure when its base URL's host is an Azure OpenAI resource
// (*.openai.azure.com, *.cognitiveservices.azure.com) or when the base URL
// carries an api-version query parameter. Two URL styles exist:
//
//   - deployments (classic): base_url https://RES.openai.azure.com/openai?api-version=2024-10-21
//     calls https://RES.openai.azure.com/openai/deployments/{model}/chat/completions?api-version=2024-10-21,
//     the model being the deployment name;
//   - v1: base_url https://RES.openai.azure.com/openai/v1 (no api-version)
//     calls {base}/chat/completions like any OpenAI-compatible server.
//
// Both authenticate with the api-key header, never a bearer token.

// azureHostSuffixes are the hosts of Azure OpenAI resources.
var azureHostSuffixes = []string{".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"}

// IsAzure reports whether base addresses an Azure OpenAI resource. The
// answer is remembered per base URL (every request to an OpenAI-type
// provider asks, and parsing the URL and its query each time cost a
// microsecond); at most azureMemoMax bases are remembered.
func IsAzure(base string) bool {
	azureMemo.RLock()
	v, ok := azureMemo.m[base]
	azureMemo.RUnlock()
	if ok {
		return v
	}
	v = isAzure(base)
	azureMemo.Lock()
	if len(azureMemo.m) < azureMemoMax {
		azureMemo.m[base] = v
	}
	azureMemo.Unlock()
	return v
}

var azureMemo = struct {
	sync.RWMutex
	m map[string]bool
}{m: map[string]bool{}}

const azureMemoMax = 4096

func isAzure(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	if u.Query().Has("api-version") {
		return true
	}
	h := strings.ToLower(u.Hostname())
	for _, s := range azureHostSuffixes {
		if strings.HasSuffix(h, s) {
			return true
		}
	}
	return false
}

// AzureURL returns the upstream URL for path (PathChat, PathEmbeddings) on
// deployment. With an api-version in base the classic deployments URL is
// built and the version is the only query parameter kept; without one the
// v1 style applies. The deployment is path-escaped so a model name cannot
// reach another route.
func AzureURL(base, deployment, path string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	version := u.Query().Get("api-version")
	u.RawQuery, u.Fragment = "", ""
	p := strings.TrimRight(u.Path, "/")
	if version == "" || path == PathModels {
		u.Path = p + path
		if version != "" {
			u.RawQuery = url.Values{"api-version": {version}}.Encode()
		}
		return u.String(), nil
	}
	if !ValidDeployment(deployment) {
		return "", ErrDeployment
	}
	u.Path = p + "/deployments/" + deployment + path
	u.RawPath = p + "/deployments/" + url.PathEscape(deployment) + path
	u.RawQuery = url.Values{"api-version": {version}}.Encode()
	return u.String(), nil
}

// ValidDeployment reports whether d can name an Azure deployment in a URL
// path: escaped, as one segment, so only an empty or dot-only name could
// walk the path.
func ValidDeployment(d string) bool { return d != "" && strings.Trim(d, ".") != "" }

// ErrDeployment reports a model name that cannot be an Azure deployment
// (empty or dot-only: it would walk the URL path).
var ErrDeployment = errors.New("openai: invalid azure deployment name")

// SetAzureAuth sets an Azure OpenAI resource key.
func SetAzureAuth(h http.Header, apiKey string) {
	if apiKey != "" {
		h.Set("Api-Key", apiKey)
	}
}
