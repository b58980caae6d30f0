// Package presets is the embedded, versioned catalog of common OAuth
// providers (presets.json): each preset holds a provider's token and
// authorization endpoints, request encoding, client authentication
// method, default scopes, the extras it needs and its API base URL,
// written from the provider's own documentation (its "docs" link).
//
// connectors-create takes {"preset": ID, "presetParams": {...}} beside the
// connector's fields: the preset fills every field the request leaves out,
// after its placeholders ({tenant}, {subdomain}, {domain}, …) are replaced
// by presetParams. The console lists the catalog from its config.json.
package presets

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"connectors.dev/connectors/shared/connector"
)

//go:embed presets.json
var raw []byte

// Preset is one provider's defaults. Params lists its placeholders.
type Preset struct {
	ID                  string            `json:"id"`
	Title               string            `json:"title"`
	Docs                string            `json:"docs"`
	Notes               string            `json:"notes,omitempty"`
	GrantType           string            `json:"grantType"`
	URL                 string            `json:"url"`
	AuthorizationURL    string            `json:"authorizationUrl,omitempty"`
	Issuer              string            `json:"issuer,omitempty"`
	ContentType         string            `json:"contentType"`
	ClientAuthMethod    string            `json:"clientAuthMethod"`
	Scope               string            `json:"scope,omitempty"`
	ExtraParams         map[string]string `json:"extraParams,omitempty"`
	AuthorizationParams map[string]string `json:"authorizationParams,omitempty"`
	APIBaseURL          string            `json:"apiBaseUrl,omitempty"`
	Params              []string          `json:"params,omitempty"`
}

// Catalog is the whole file: its version changes with every edit, so a
// console or a script can tell which catalog it shows.
type Catalog struct {
	Version string   `json:"version"`
	Presets []Preset `json:"presets"`
}

var placeholderRE = regexp.MustCompile(`\{([A-Za-z][A-Za-z0-9]*)\}`)

// paramValueRE: a host name, one of its labels, or a tenant ID; never a
// "/", "@", ":" or "?" that would move a URL's path, user info, port or
// query.
var paramValueRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

var load = sync.OnceValues(func() (*Catalog, error) {
	var c Catalog
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("presets: presets.json: %w", err)
	}
	for i := range c.Presets {
		p := &c.Presets[i]
		seen := map[string]bool{}
		for _, s := range p.strings() {
			for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
				seen[m[1]] = true
			}
		}
		for k := range seen {
			p.Params = append(p.Params, k)
		}
		sort.Strings(p.Params)
	}
	return &c, nil
})

// All returns the catalog. The embedded file is checked by the package's
// tests, so an error here is a build that skipped them.
func All() (*Catalog, error) { return load() }

// Get returns the preset called id.
func Get(id string) (Preset, bool) {
	c, err := load()
	if err != nil {
		return Preset{}, false
	}
	for _, p := range c.Presets {
		if p.ID == id {
			return p, true
		}
	}
	return Preset{}, false
}

// strings are every value that may hold a placeholder.
func (p *Preset) strings() []string {
	out := []string{p.URL, p.AuthorizationURL, p.Issuer, p.APIBaseURL}
	for _, m := range []map[string]string{p.ExtraParams, p.AuthorizationParams} {
		for _, v := range m {
			out = append(out, v)
		}
	}
	return out
}

func fieldErr(field, format string, args ...any) error {
	return &connector.FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Apply fills every field of in that is not given from the preset id,
// with its placeholders replaced by params. A placeholder is needed only
// in a field the preset fills; a param the preset has no placeholder for
// is refused, so that a typo does not pass unnoticed.
func Apply(id string, params map[string]string, in *connector.Input) error {
	p, ok := Get(id)
	if !ok {
		c, _ := load()
		ids := []string{}
		if c != nil {
			for _, q := range c.Presets {
				ids = append(ids, q.ID)
			}
		}
		return fieldErr("preset", "is not a known preset; the catalog has %s", strings.Join(ids, ", "))
	}
	known := map[string]bool{}
	for _, k := range p.Params {
		known[k] = true
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] {
			return fieldErr("presetParams."+k, "preset %s has no {%s} placeholder (it has: %s)", id, k, strings.Join(p.Params, ", "))
		}
		if !paramValueRE.MatchString(params[k]) {
			return fieldErr("presetParams."+k, "must be a host name, a label of one, or an ID (letters, digits, . and -)")
		}
	}
	var missing error
	fill := func(field, s string) string {
		return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
			name := m[1 : len(m)-1]
			v, ok := params[name]
			if !ok && missing == nil {
				missing = fieldErr("presetParams."+name, "is required by preset %s: %s holds {%s}", id, field, name)
			}
			return v
		})
	}
	str := func(dst **string, field, v string) {
		if *dst == nil && v != "" {
			v = fill(field, v)
			*dst = &v
		}
	}
	str(&in.GrantType, "grantType", p.GrantType)
	str(&in.URL, "url", p.URL)
	str(&in.AuthorizationURL, "authorizationUrl", p.AuthorizationURL)
	str(&in.Issuer, "issuer", p.Issuer)
	str(&in.ContentType, "contentType", p.ContentType)
	if in.HeaderAsPayload == nil {
		// headerAsPayload given alone is the admin's choice of method.
		str(&in.ClientAuthMethod, "clientAuthMethod", p.ClientAuthMethod)
	}
	str(&in.Scope, "scope", p.Scope)
	str(&in.APIBaseURL, "apiBaseUrl", p.APIBaseURL)
	mp := func(dst **map[string]string, field string, src map[string]string) {
		if *dst != nil || len(src) == 0 {
			return
		}
		m := make(map[string]string, len(src))
		for k, v := range src {
			m[k] = fill(field+"."+k, v)
		}
		*dst = &m
	}
	mp(&in.ExtraParams, "extraParams", p.ExtraParams)
	mp(&in.AuthorizationParams, "authorizationParams", p.AuthorizationParams)
	return missing
}
