// Package oauth mints access tokens at a connector's OAuth 2.0 token
// endpoint (RFC 6749): it builds the token request and parses the token
// response. The request goes through the guarded client of shared/outbound,
// like every request to a connector-supplied endpoint.
//
// golang.org/x/oauth2 is not used for the exchange itself: its
// clientcredentials package cannot encode JSON request bodies or arbitrary
// extension grants, and its response parser is internal. Instead one request
// builder and one response parser serve every grant type (client_credentials
// §4.4, refresh_token §6, password §4.3, extension grants §4.5). The parser
// mirrors x/oauth2's tolerance for real providers (expires_in as a string,
// form-encoded bodies, 200 responses carrying an error) and is stricter where
// it matters: oversized bodies are an error rather than silently truncated,
// tokens must be RFC 6749 VSCHAR strings, and a negative or non-numeric
// expires_in is refused.
//
// Nothing in this package logs, and no error it returns contains a secret,
// a token or the request body: provider-supplied error texts are sanitised
// and have the connector's secret values redacted.
//
// Error classes, for callers mapping to docs/api.md's wire format:
//
//   - *UpstreamError: the provider answered but gave no token (an RFC 6749
//     error response, a non-2xx status, a redirect, or an unusable body;
//     the last wraps ErrInvalidResponse) → 502 upstream_error.
//   - outbound.ErrTimeout and outbound.ErrUnreachable: the provider was
//     slow or could not be reached → both 504 upstream_timeout (docs/api.md:
//     "unreachable or slow → 504"); they are distinct so that logs and
//     metrics can tell them apart.
//   - netguard.ErrForbidden: the destination is refused by the address
//     policy; no request was sent.
//   - context.Canceled: the caller gave up.
//   - anything else: the connector cannot be minted here (a bug or a
//     connector that bypassed validation) → 500.
package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/errkind"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
)

// UserAgent identifies the product to token endpoints, so that a provider's
// operators can tell who is calling.
const UserAgent = "connectors.dev-connectors/1.0 (OAuth token broker)"

// DefaultLifetime is assumed for tokens whose response has no (or a zero)
// expires_in, when Client.DefaultLifetime is not set. RFC 6749 §5.1 leaves
// the lifetime to the server in that case; an hour is what most providers
// issue, and caching for longer than the real lifetime only costs one
// refused call.
const DefaultLifetime = time.Hour

// ErrInvalidResponse: the endpoint answered 2xx but its body is not a
// usable token response. Always wrapped in an *UpstreamError. Match it
// with errors.Is.
var ErrInvalidResponse = errors.New("invalid token response")

// ErrNotConnected: a refresh_token connector with an authorizationUrl
// whose account no admin has connected yet (connectors-authorize).
var ErrNotConnected = errkind.New(errkind.FailedPrecondition, "connector not connected", "",
	"the connector has no refresh token yet: an admin connects the account (Connect in the console, or connectors-authorize)")

// Client mints tokens. The zero value is ready to use. A Client must not be
// copied after first use.
type Client struct {
	// HTTP sends the token requests; nil means
	// outbound.NewClient(outbound.Options{}), created once. Redirects are
	// never followed whatever its CheckRedirect says. A client not made by
	// outbound.NewClient has no SSRF guard.
	HTTP *http.Client
	// DefaultLifetime is the token lifetime assumed when expires_in is
	// missing or 0 and the connector sets no maxTokenLifetime; zero means
	// DefaultLifetime.
	DefaultLifetime time.Duration
	// Now is the clock for Result.Expiry; nil means time.Now.
	Now func() time.Time

	defHTTP outbound.LazyClient
}

// Result is a minted token. Its String method redacts the tokens, so a stray
// %v never logs them.
type Result struct {
	AccessToken string
	TokenType   string // "Bearer" unless the provider said otherwise
	Scope       string // the granted scope, when the provider returned one
	Expiry      time.Time
	// RefreshToken is set when the provider returned one: it rotated the
	// refresh token, and the caller must store the new one.
	RefreshToken string
}

// String describes the result without its tokens.
func (r Result) String() string {
	return fmt.Sprintf("oauth.Result{TokenType: %q, Scope: %q, Expiry: %s, AccessToken: REDACTED, RefreshToken set: %t}",
		r.TokenType, r.Scope, r.Expiry.Format(time.RFC3339), r.RefreshToken != "")
}

// GoString describes the result without its tokens.
func (r Result) GoString() string { return r.String() }

// Mint requests an access token for conn at its token endpoint, with the
// write-only values in b.
func (c *Client) Mint(ctx context.Context, conn *connector.Connector, b secret.Bundle) (*Result, error) {
	if conn == nil {
		return nil, errors.New("oauth: nil connector")
	}
	req, endpoint, err := newTokenRequest(ctx, conn, b, c.now())
	if err != nil {
		return nil, err
	}
	return c.send(ctx, req, endpoint, newRedactor(conn, b), c.lifetimeFor(conn))
}

// send posts a token request and parses the answer.
func (c *Client) send(ctx context.Context, req *http.Request, endpoint string, red outbound.Redactor, lifetime time.Duration) (*Result, error) {
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", outbound.TransportError(ctx, endpoint, err))
	}
	defer resp.Body.Close()
	body, tooLarge, err := readBody(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", outbound.TransportError(ctx, endpoint, fmt.Errorf("read token response: %w", err)))
	}
	return parseTokenResponse(resp.StatusCode, resp.Header, body, tooLarge, c.now(), lifetime, red)
}

func (c *Client) httpClient() *http.Client {
	base := c.defHTTP.Client(c.HTTP)
	// A shallow copy shares the transport (and its connection pool) but lets
	// us force the redirect policy: a redirect could lead anywhere, and
	// re-POSTing credentials to it is never right for a token endpoint.
	hc := *base
	hc.CheckRedirect = outbound.NoRedirect
	return &hc
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// lifetimeFor is the lifetime assumed for conn's tokens when the provider
// omits expires_in: the connector's maxTokenLifetime, set by an admin who
// knows the provider's tokens (GitHub's, Slack's never say), else the
// client's default. A longer expires_in is capped by the caller (mint).
func (c *Client) lifetimeFor(conn *connector.Connector) time.Duration {
	if conn.MaxTokenLifetime > 0 {
		return time.Duration(conn.MaxTokenLifetime) * time.Second
	}
	return c.lifetime()
}

func (c *Client) lifetime() time.Duration {
	if c.DefaultLifetime > 0 {
		return c.DefaultLifetime
	}
	return DefaultLifetime
}

// isReserved reports whether an extra parameter would override one set from
// the connector's own fields. Connector validation refuses these already; the
// check is repeated here because letting metadata override them would smuggle
// in a different grant or credential.
func isReserved(param string) bool {
	// Case-insensitively, as validation does: a connector stored before that
	// rule must not override a parameter under another case either.
	return connector.IsReservedParam(param)
}

// newTokenRequest builds the one token request every grant type uses. The
// returned endpoint is the URL without query, for error messages.
func newTokenRequest(ctx context.Context, conn *connector.Connector, b secret.Bundle, now time.Time) (*http.Request, string, error) {
	endpoint, err := tokenEndpoint(conn)
	if err != nil {
		return nil, "", err
	}
	params, err := tokenParams(conn, b)
	if err != nil {
		return nil, "", err
	}
	return buildTokenRequest(ctx, conn, b, params, endpoint, now)
}

// tokenEndpoint checks conn's url and returns it without query, for
// error messages.
func tokenEndpoint(conn *connector.Connector) (string, error) {
	u, err := url.Parse(conn.URL)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return "", fmt.Errorf("oauth: connector %s: url is not an absolute http(s) URL without credentials", conn.Name)
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(), nil
}

// buildTokenRequest adds client authentication to params and encodes
// the request.
func buildTokenRequest(ctx context.Context, conn *connector.Connector, b secret.Bundle, params map[string]string, endpoint string, now time.Time) (*http.Request, string, error) {
	// RFC 6749 §2.3.1: a client uses one authentication method, never both
	// (clientauth.go).
	basic, err := authenticate(conn, b, params, now)
	if err != nil {
		return nil, "", err
	}
	body, contentType, err := encodeBody(conn, params)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, conn.URL, bytes.NewReader(body))
	if err != nil {
		return nil, "", fmt.Errorf("oauth: connector %s: build token request to %s: %w", conn.Name, endpoint, err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if basic != "" {
		req.Header.Set("Authorization", "Basic "+basic)
	}
	return req, endpoint, nil
}

// tokenParams are the request parameters except client authentication.
func tokenParams(conn *connector.Connector, b secret.Bundle) (map[string]string, error) {
	if conn.GrantType == "" || !connector.IsOAuth(conn.GrantType) {
		return nil, fmt.Errorf("oauth: connector %s: grant type %q is not minted at an OAuth token endpoint", conn.Name, conn.GrantType)
	}
	p := map[string]string{"grant_type": conn.GrantType}
	switch conn.GrantType {
	case connector.GrantRefreshToken:
		if b.RefreshToken == "" {
			if conn.AuthorizationURL != "" {
				return nil, fmt.Errorf("oauth: connector %s: %w", conn.Name, ErrNotConnected)
			}
			return nil, fmt.Errorf("oauth: connector %s: grant type refresh_token needs a refresh token", conn.Name)
		}
		p["refresh_token"] = b.RefreshToken
	case connector.GrantPassword:
		if conn.Username == "" {
			return nil, fmt.Errorf("oauth: connector %s: grant type password needs a username", conn.Name)
		}
		p["username"] = conn.Username
		p["password"] = b.Password
	}
	if conn.Scope != "" {
		p["scope"] = conn.Scope
	}
	for k, v := range conn.ExtraParams {
		if isReserved(k) {
			return nil, fmt.Errorf("oauth: connector %s: extraParams.%s would override a standard parameter", conn.Name, k)
		}
		p[k] = v
	}
	return p, nil
}

// basicCredentials is the RFC 6749 §2.3.1 encoding, exactly as
// golang.org/x/oauth2 does it: each part form-urlencoded, then joined by ":"
// and base64-encoded. Form-encoding first keeps a ":" in the client ID from
// splitting the pair in the wrong place.
func basicCredentials(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

func encodeBody(conn *connector.Connector, params map[string]string) ([]byte, string, error) {
	switch conn.ContentType {
	case "", connector.ContentTypeForm:
		v := make(url.Values, len(params))
		for k, val := range params {
			v.Set(k, val)
		}
		return []byte(v.Encode()), connector.ContentTypeForm, nil
	case connector.ContentTypeJSON:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		// Secrets go over the wire as they are: "&" as \u0026 is valid JSON
		// but needlessly trips up hand-written provider parsers.
		enc.SetEscapeHTML(false)
		if err := enc.Encode(params); err != nil {
			// Cannot happen for a map of strings; the error is not wrapped
			// because encoding/json errors may quote values.
			return nil, "", fmt.Errorf("oauth: connector %s: encode JSON token request failed", conn.Name)
		}
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), connector.ContentTypeJSON, nil
	default:
		return nil, "", fmt.Errorf("oauth: connector %s: unsupported contentType %q", conn.Name, conn.ContentType)
	}
}
