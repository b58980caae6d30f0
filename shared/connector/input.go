package connector

import (
	"sort"
	"strings"

	"connectors.dev/connectors/shared/secret"
)

// Input is a connector as written by an admin: every field optional, so the
// same type carries a full create request and a partial update ("changes").
// A nil pointer means "not given"; for write-only fields an empty string
// means "clear".
type Input struct {
	Name                *string            `json:"name,omitempty"`
	Active              *bool              `json:"active,omitempty"`
	HeaderAsPayload     *bool              `json:"headerAsPayload,omitempty"`
	Agents              *[]string          `json:"agents,omitempty"`
	URL                 *string            `json:"url,omitempty"`
	APIBaseURL          *string            `json:"apiBaseUrl,omitempty"`
	GrantType           *string            `json:"grantType,omitempty"`
	ContentType         *string            `json:"contentType,omitempty"`
	Scope               *string            `json:"scope,omitempty"`
	ClientID            *string            `json:"clientId,omitempty"`
	ClientSecret        *string            `json:"clientSecret,omitempty"`
	RefreshToken        *string            `json:"refreshToken,omitempty"`
	Username            *string            `json:"username,omitempty"`
	Password            *string            `json:"password,omitempty"`
	ServiceAccountEmail *string            `json:"serviceAccountEmail,omitempty"`
	ExtraParams         *map[string]string `json:"extraParams,omitempty"`
	ClientAuthMethod    *string            `json:"clientAuthMethod,omitempty"`
	KeyID               *string            `json:"keyId,omitempty"`
	AuthorizationURL    *string            `json:"authorizationUrl,omitempty"`
	Issuer              *string            `json:"issuer,omitempty"`
	AuthorizationParams *map[string]string `json:"authorizationParams,omitempty"`
	NextClientSecret    *string            `json:"nextClientSecret,omitempty"`
	MaxTokenLifetime    *int               `json:"maxTokenLifetime,omitempty"`
	// Preset and PresetParams are create-only: connectors-create fills the
	// fields not given from shared/connector/presets; Apply ignores them.
	Preset       *string           `json:"preset,omitempty"`
	PresetParams map[string]string `json:"presetParams,omitempty"`
}

// TouchesSecrets reports whether the input sets or clears a write-only field.
func (in *Input) TouchesSecrets() bool {
	return in.ClientSecret != nil || in.RefreshToken != nil || in.Password != nil || in.NextClientSecret != nil
}

// Fields lists the wire names of the fields in sets or clears, in a fixed
// order, for audit lines: names only, never values.
func (in *Input) Fields() []string {
	var out []string
	for _, f := range []struct {
		set  bool
		name string
	}{
		{in.Name != nil, "name"}, {in.Active != nil, "active"}, {in.HeaderAsPayload != nil, "headerAsPayload"},
		{in.Agents != nil, "agents"}, {in.URL != nil, "url"}, {in.APIBaseURL != nil, "apiBaseUrl"}, {in.GrantType != nil, "grantType"},
		{in.ContentType != nil, "contentType"}, {in.Scope != nil, "scope"}, {in.ClientID != nil, "clientId"},
		{in.ClientSecret != nil, "clientSecret"}, {in.RefreshToken != nil, "refreshToken"},
		{in.Username != nil, "username"}, {in.Password != nil, "password"},
		{in.ServiceAccountEmail != nil, "serviceAccountEmail"}, {in.ExtraParams != nil, "extraParams"},
		{in.ClientAuthMethod != nil, "clientAuthMethod"}, {in.KeyID != nil, "keyId"},
		{in.AuthorizationURL != nil, "authorizationUrl"}, {in.Issuer != nil, "issuer"}, {in.AuthorizationParams != nil, "authorizationParams"},
		{in.NextClientSecret != nil, "nextClientSecret"}, {in.MaxTokenLifetime != nil, "maxTokenLifetime"},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// CheckRebind enforces that write-only values stay bound to the
// destination they were entered for. An update that moves cur (a new url,
// or a new grantType, which decides where and how they are sent) must give
// every write-only value cur holds again, or clear it with "": otherwise
// an admin could point a connector at a server of theirs and have the next
// test or mint post the client secret, refresh token, password, private
// key or AWS secret key there, reading back what the API never returns.
func (in *Input) CheckRebind(cur *Connector) error {
	if err := in.checkAuthRebind(cur); err != nil {
		return err
	}
	moved := ""
	switch {
	case in.URL != nil && strings.TrimSpace(*in.URL) != cur.URL:
		moved = "url"
	case in.GrantType != nil && strings.TrimSpace(*in.GrantType) != cur.GrantType:
		moved = "grantType"
	case in.APIBaseURL != nil && Origin(strings.TrimSpace(*in.APIBaseURL)) != Origin(cur.APIBaseURL):
		// The proxy sends the credential minted from these values to
		// apiBaseUrl's origin: moving it moves where they are used.
		moved = "apiBaseUrl's origin"
	default:
		return nil
	}
	for _, f := range []struct {
		held  bool
		given *string
		name  string
	}{
		{cur.HasClientSecret, in.ClientSecret, "clientSecret"},
		{cur.HasRefreshToken, in.RefreshToken, "refreshToken"},
		{cur.HasPassword, in.Password, "password"},
		{cur.HasNextClientSecret, in.NextClientSecret, "nextClientSecret"},
	} {
		if f.held && f.given == nil {
			return fieldErr(f.name, "must be given again (or \"\" to clear it) when %s changes: a stored secret is only ever sent to the destination it was entered for", moved)
		}
	}
	return nil
}

// Defaults returns a connector holding docs/api.md's defaults, the base a
// create request is applied to.
func Defaults() *Connector {
	return &Connector{
		Active:      true,
		Agents:      []string{},
		ContentType: ContentTypeForm,
	}
}

// Apply writes the given fields of in onto c and b. Agents are
// deduplicated (first occurrence wins) and surrounding whitespace is trimmed
// from the identifier-like fields, never from secrets.
func (in *Input) Apply(c *Connector, b *secret.Bundle) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	set(&c.Name, in.Name)
	if in.Active != nil {
		c.Active = *in.Active
	}
	if in.HeaderAsPayload != nil {
		c.HeaderAsPayload = *in.HeaderAsPayload
	}
	if in.Agents != nil {
		c.Agents = dedupe(*in.Agents)
	}
	set(&c.URL, in.URL)
	set(&c.APIBaseURL, in.APIBaseURL)
	set(&c.GrantType, in.GrantType)
	set(&c.ContentType, in.ContentType)
	if in.ContentType != nil && c.ContentType == "" {
		c.ContentType = ContentTypeForm
	}
	if in.Scope != nil {
		c.Scope = strings.Join(strings.Fields(*in.Scope), " ")
	}
	set(&c.ClientID, in.ClientID)
	set(&c.Username, in.Username)
	set(&c.ServiceAccountEmail, in.ServiceAccountEmail)
	if in.ExtraParams != nil {
		if len(*in.ExtraParams) == 0 {
			c.ExtraParams = nil
		} else {
			c.ExtraParams = make(map[string]string, len(*in.ExtraParams))
			for k, v := range *in.ExtraParams {
				c.ExtraParams[k] = v
			}
		}
	}
	in.applyClientAuth(c)
	in.applyAuthorization(c)
	// The presence flags change only with the values they describe: on an
	// update that leaves secrets alone, b was never read and is empty.
	if in.ClientSecret != nil {
		b.ClientSecret = *in.ClientSecret
		c.HasClientSecret = b.ClientSecret != ""
	}
	if in.RefreshToken != nil {
		b.RefreshToken = *in.RefreshToken
		c.HasRefreshToken = b.RefreshToken != ""
	}
	if in.Password != nil {
		b.Password = *in.Password
		c.HasPassword = b.Password != ""
	}
	in.applyLifecycle(c, b)
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, a := range in {
		a = strings.TrimSpace(a)
		if seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, a)
	}
	return out
}

// sortedKeys returns m's keys in order, so validation reports the same
// field first every time.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
