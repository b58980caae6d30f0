package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/outbound"
)

// Metadata is the part of an authorization server's metadata (RFC 8414
// §2, OpenID Connect Discovery §3) a connector uses.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
}

// AuthMethods is token_endpoint_auth_methods_supported, or RFC 8414 §2's
// default when the document leaves it out.
func (m *Metadata) AuthMethods() []string {
	if len(m.TokenEndpointAuthMethodsSupported) == 0 {
		return []string{connector.AuthClientSecretBasic}
	}
	return m.TokenEndpointAuthMethodsSupported
}

// DefaultDiscoveryTTL is how long a fetched document is reused.
const DefaultDiscoveryTTL = time.Hour

// maxDiscoveryBytes bounds a metadata document; real ones are a few KiB.
const maxDiscoveryBytes = 256 << 10

// Discoverer fetches and caches authorization server metadata. The zero
// value is ready to use; it must not be copied after first use.
type Discoverer struct {
	// HTTP fetches the documents; nil means the guarded outbound client.
	HTTP *http.Client
	// TTL is how long a document is reused; zero means DefaultDiscoveryTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	defHTTP outbound.LazyClient
	mu      sync.Mutex
	cache   map[string]discovered
}

type discovered struct {
	m       *Metadata
	fetched time.Time
}

// discoveryError is a failed discovery, reported on the issuer field:
// the admin named an issuer whose metadata cannot be used.
func discoveryError(format string, args ...any) error {
	return &connector.FieldError{Field: "issuer", Message: "discovery failed: " + fmt.Sprintf(format, args...)}
}

// WellKnownURLs are where issuer's metadata may be, in the order tried:
// OpenID Connect's (the path appended) and RFC 8414 §3.1's (the
// well-known segment inserted before the issuer's path).
func WellKnownURLs(issuer string) []string {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	oidc := *u
	oidc.RawPath, oidc.Path = "", ""
	oidc.Path = path + "/.well-known/openid-configuration"
	rfc := *u
	rfc.RawPath, rfc.Path = "", "/.well-known/oauth-authorization-server"+path
	return []string{oidc.String(), rfc.String()}
}

// Discover returns issuer's metadata, from the cache when fresh. The
// document's issuer must be issuer exactly (RFC 8414 §3.3): otherwise a
// server could pass off another's endpoints as the issuer's.
func (d *Discoverer) Discover(ctx context.Context, issuer string) (*Metadata, error) {
	now := d.now()
	ttl := d.TTL
	if ttl <= 0 {
		ttl = DefaultDiscoveryTTL
	}
	d.mu.Lock()
	if e, ok := d.cache[issuer]; ok && now.Sub(e.fetched) < ttl {
		d.mu.Unlock()
		return e.m, nil
	}
	d.mu.Unlock()

	var last error
	for _, u := range WellKnownURLs(issuer) {
		m, found, err := d.fetch(ctx, u)
		if err != nil {
			return nil, err
		}
		if !found {
			last = discoveryError("no metadata at %s", u)
			continue
		}
		if m.Issuer != issuer {
			return nil, discoveryError("the document at %s names issuer %q, not %q (RFC 8414 §3.3)", u, clip(m.Issuer), issuer)
		}
		if m.TokenEndpoint == "" {
			return nil, discoveryError("the document at %s has no token_endpoint", u)
		}
		d.mu.Lock()
		if d.cache == nil {
			d.cache = map[string]discovered{}
		}
		d.cache[issuer] = discovered{m: m, fetched: now}
		d.mu.Unlock()
		return m, nil
	}
	if last == nil {
		last = discoveryError("issuer %q is not a URL", issuer)
	}
	return nil, last
}

// fetch GETs one well-known URL; found is false for a 404 or 410, where
// the other location may answer.
func (d *Discoverer) fetch(ctx context.Context, u string) (*Metadata, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, discoveryError("cannot request %s", u)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	hc := *d.defHTTP.Client(d.HTTP)
	hc.CheckRedirect = outbound.NoRedirect
	resp, err := hc.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("oauth: discovery: %w", outbound.TransportError(ctx, u, err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, false, nil
	case resp.StatusCode != http.StatusOK:
		return nil, false, discoveryError("%s answered HTTP %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBytes+1))
	if err != nil {
		return nil, false, fmt.Errorf("oauth: discovery: %w", outbound.TransportError(ctx, u, err))
	}
	if len(body) > maxDiscoveryBytes {
		return nil, false, discoveryError("the document at %s is larger than %d bytes", u, maxDiscoveryBytes)
	}
	var m Metadata
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, false, discoveryError("the document at %s is not a JSON metadata object", u)
	}
	return &m, true, nil
}

func (d *Discoverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// clip bounds an untrusted string quoted in an error.
func clip(s string) string {
	return outbound.Sanitize(s, 200)
}

// FillFromIssuer completes in from its issuer's metadata: url and (for a
// refresh_token connector, whose account is connected through it)
// authorizationUrl when not given, and clientAuthMethod, when neither it
// nor headerAsPayload is given, as the first of
// connector.ClientAuthMethods the server supports. A method given that
// the server does not list is refused. refreshGrant says whether the
// connector is (or becomes) a refresh_token connector. When every URL is
// given, the issuer is not asked at all.
func (d *Discoverer) FillFromIssuer(ctx context.Context, in *connector.Input, refreshGrant bool) error {
	if in.Issuer == nil || strings.TrimSpace(*in.Issuer) == "" {
		return nil
	}
	if in.URL != nil && (!refreshGrant || in.AuthorizationURL != nil) {
		return nil // nothing to fill: no request to the issuer
	}
	m, err := d.Discover(ctx, strings.TrimSpace(*in.Issuer))
	if err != nil {
		return err
	}
	if in.URL == nil {
		in.URL = &m.TokenEndpoint
	}
	if in.AuthorizationURL == nil && refreshGrant && m.AuthorizationEndpoint != "" {
		in.AuthorizationURL = &m.AuthorizationEndpoint
	}
	supported := m.AuthMethods()
	has := func(x string) bool {
		for _, s := range supported {
			if s == x {
				return true
			}
		}
		return false
	}
	switch {
	case in.ClientAuthMethod != nil && *in.ClientAuthMethod != "":
		if !has(*in.ClientAuthMethod) {
			return &connector.FieldError{Field: "clientAuthMethod", Message: fmt.Sprintf("%s is not among the issuer's token_endpoint_auth_methods_supported (%s)", *in.ClientAuthMethod, strings.Join(supported, ", "))}
		}
	case in.HeaderAsPayload == nil:
		for _, x := range connector.ClientAuthMethods {
			if has(x) {
				in.ClientAuthMethod = &x
				break
			}
		}
	}
	return nil
}
