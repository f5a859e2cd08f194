package config

import (
	"encoding"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// configDoc is the operator's reference for this package's file and
// environment.
const configDoc = "../../docs/configuration.md"

// Key paths are the dotted YAML paths of the settings an operator can
// write, e.g. "http.body_read_timeout". The convention for collections:
//
//   - a map or slice of scalars is one setting, named by its own key
//     ("models", "trusted_proxies", "tools.limits");
//   - a map or slice of structs contributes its element's fields under the
//     collection's key, without the user-chosen map key or list index:
//     "providers.name", "routing.deployments.rpm", "guard.tenants.pii";
//   - a pointer is its element; a type that decodes itself
//     (yaml.Unmarshaler, encoding.TextUnmarshaler) is one setting.
//
// The doc mentions a path when one of its ```yaml blocks sets it (blocks
// are read as whole config files, collections collapsed the same way) or
// when its prose names the full dotted path.

// TestConfigurationDocCoversEveryKey fails listing every settable key of
// Config that docs/configuration.md does not mention, and every key its
// YAML blocks show that Config does not have.
func TestConfigurationDocCoversEveryKey(t *testing.T) {
	doc := readConfigDoc(t)
	shown, unknown := docKeyPaths(t, doc)
	for _, u := range unknown {
		t.Errorf("%s shows %s, which Config does not have", configDoc, u)
	}
	var missing []string
	for _, p := range keyPaths(reflect.TypeFor[Config](), "") {
		if !shown[p] && !namedInProse(doc, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s does not mention %d config keys:\n  %s", configDoc, len(missing), strings.Join(missing, "\n  "))
	}
}

// TestConfigurationDocCoversEveryVariable fails listing every BULWARK_*
// variable named in this package's source that is not a row of the
// doc's environment table.
func TestConfigurationDocCoversEveryVariable(t *testing.T) {
	doc := readConfigDoc(t)
	vars := bulwarkVariables(t)
	if len(vars) < 8 { // the six of config.go, the database URL and the Redis URL
		t.Fatalf("found only %v in the source; the scan is broken", vars)
	}
	for _, v := range vars {
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(v) + "` \\|")
		if !row.MatchString(doc) {
			t.Errorf("%s: no row for %s in the environment table", configDoc, v)
		}
	}
}

// TestKeyPaths pins the convention above, so that the doc test cannot
// pass by walking nothing.
func TestKeyPaths(t *testing.T) {
	paths := keyPaths(reflect.TypeFor[Config](), "")
	for _, want := range []string{
		"listen", "http.body_read_timeout", "idempotency.max_entries_per_key",
		"models", "trusted_proxies", "tools.limits", // collections of scalars
		"providers.name", "routing.deployments.timeouts.connect", "tools.exec.commands.path", // of structs
		"limits.tenant_default.rpm",                             // pointer to a struct
		"limits.tenants.budget_usd", "guard.tenants.reversible", // types that decode themselves, *bool
	} {
		if !slices.Contains(paths, want) {
			t.Errorf("key paths lack %s", want)
		}
	}
	for _, p := range paths {
		if strings.Contains(strings.ToLower(p), "masterkey") {
			t.Errorf("key paths include %s, an unexported field the decoder never sets", p)
		}
	}
}

func readConfigDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// yamlKey returns the key a struct field decodes from; ok is false for a
// field the decoder never sets.
func yamlKey(f reflect.StructField) (key string, inline, ok bool) {
	if !f.IsExported() {
		return "", false, false
	}
	name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return "", false, false
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, slices.Contains(strings.Split(opts, ","), "inline"), true
}

var (
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// setting reports whether t is set as a whole (a leaf of the key paths).
// t is not a pointer.
func setting(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(yamlUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct:
		return false
	case reflect.Map, reflect.Slice:
		e := deref(t.Elem())
		return setting(e)
	}
	return true
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// keyPaths returns the key paths of t under prefix, in field order.
func keyPaths(t reflect.Type, prefix string) []string {
	t = deref(t)
	if setting(t) {
		return []string{prefix}
	}
	if t.Kind() == reflect.Map || t.Kind() == reflect.Slice {
		return keyPaths(t.Elem(), prefix)
	}
	var paths []string
	for f := range t.Fields() {
		key, inline, ok := yamlKey(f)
		switch {
		case !ok:
		case inline:
			paths = append(paths, keyPaths(f.Type, prefix)...)
		default:
			paths = append(paths, keyPaths(f.Type, join(prefix, key))...)
		}
	}
	return paths
}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// docKeyPaths reads every ```yaml block of doc as a config file and
// returns the key paths they set, and the keys they show that Config does
// not have. A block that does not decode strictly (a value of the wrong
// type) is an error.
func docKeyPaths(t *testing.T, doc string) (shown map[string]bool, unknown []string) {
	t.Helper()
	shown = map[string]bool{}
	blocks := yamlBlock.FindAllStringSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatalf("%s has no ```yaml block", configDoc)
	}
	for _, b := range blocks {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(b[1]), &n); err != nil {
			t.Fatalf("%s: a yaml block does not parse: %v", configDoc, err)
		}
		if len(n.Content) == 1 {
			walkDoc(n.Content[0], reflect.TypeFor[Config](), "", shown, &unknown)
		}
		if err := Decode([]byte(b[1]), Default()); err != nil {
			t.Errorf("%s: a yaml block is not a config file: %v", configDoc, err)
		}
	}
	return shown, unknown
}

// walkDoc marks the key paths node sets, read as a value of type t.
func walkDoc(node *yaml.Node, t reflect.Type, prefix string, shown map[string]bool, unknown *[]string) {
	t = deref(t)
	if setting(t) {
		shown[prefix] = true
		return
	}
	switch {
	case t.Kind() == reflect.Slice && node.Kind == yaml.SequenceNode:
		for _, item := range node.Content {
			walkDoc(item, t.Elem(), prefix, shown, unknown)
		}
	case t.Kind() == reflect.Map && node.Kind == yaml.MappingNode:
		for i := 1; i < len(node.Content); i += 2 {
			walkDoc(node.Content[i], t.Elem(), prefix, shown, unknown)
		}
	case t.Kind() == reflect.Struct && node.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			ft, ok := fieldType(t, k.Value)
			if !ok {
				*unknown = append(*unknown, join(prefix, k.Value)+" (line "+strconv.Itoa(k.Line)+" of its block)")
				continue
			}
			walkDoc(v, ft, join(prefix, k.Value), shown, unknown)
		}
	}
}

// fieldType returns the type of t's field decoded from key, looking into
// inline fields.
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	for f := range t.Fields() {
		name, inline, ok := yamlKey(f)
		switch {
		case !ok:
		case inline:
			if ft, ok := fieldType(deref(f.Type), key); ok {
				return ft, true
			}
		case name == key:
			return f.Type, true
		}
	}
	return nil, false
}

// namedInProse reports whether doc names the full dotted path p, not as
// the tail of a longer path.
func namedInProse(doc, p string) bool {
	return regexp.MustCompile(`(^|[^\w.])` + regexp.QuoteMeta(p) + `($|[^\w])`).MatchString(doc)
}

// bulwarkVariables returns the BULWARK_* names that string literals of
// this package's non-test source spell out, sorted.
func bulwarkVariables(t *testing.T) []string {
	t.Helper()
	name := regexp.MustCompile(`^BULWARK_[A-Z0-9_]+$`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && name.MatchString(s) {
					seen[s] = true
				}
			}
			return true
		})
	}
	return slices.Sorted(maps.Keys(seen))
}
