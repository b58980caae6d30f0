package mint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
)

// DefaultGoogleScope is requested for a gcs_service_account connector
// without a scope: it covers Cloud Storage and Vertex AI / Gemini.
const DefaultGoogleScope = "https://www.googleapis.com/auth/cloud-platform"

// Google mints Google OAuth access tokens for gcs_service_account
// connectors: the service-account key signs a JWT that is exchanged at the
// key's token_uri (the JWT bearer grant, RFC 7523), by
// golang.org/x/oauth2/google.
//
// Errors are classified as the oauth package classifies them (see its
// package comment), so the HTTP layer maps them the same way: a refusal is
// an *oauth.UpstreamError (502), a slow or unreachable endpoint wraps
// outbound.ErrTimeout or outbound.ErrUnreachable (504), a forbidden
// destination wraps netguard.ErrForbidden. No error contains the key or the
// assertion.
type Google struct {
	// HTTP sends the token request; nil means outbound.NewClient with its
	// defaults. Its Timeout bounds the whole exchange.
	HTTP *http.Client
	// DefaultLifetime is assumed when the response has no expires_in; zero
	// means oauth.DefaultLifetime.
	DefaultLifetime time.Duration
	// Now is the clock for the credential's expiry; nil means time.Now.
	Now func() time.Time

	defHTTP outbound.LazyClient
}

// Mint implements Minter.
func (g *Google) Mint(ctx context.Context, c *connector.Connector, b secret.Bundle) (*Minted, error) {
	scopes := strings.Fields(c.Scope)
	if len(scopes) == 0 {
		scopes = []string{DefaultGoogleScope}
	}
	// The parse error is not wrapped: encoding/json's messages can quote a
	// character of the input, which is the private key's file.
	cfg, err := google.JWTConfigFromJSON([]byte(b.ClientSecret), scopes...)
	if err != nil {
		return nil, fmt.Errorf("google: connector %s: the service account key cannot be read", c.Name)
	}
	endpoint, err := checkTokenURI(cfg.TokenURL)
	if err != nil {
		return nil, fmt.Errorf("google: connector %s: %w", c.Name, err)
	}

	base := g.httpClient()
	timeout := base.Timeout
	if timeout <= 0 {
		timeout = outbound.DefaultTimeout
	}
	// x/oauth2/jwt sends its request without a context and formats
	// transport errors with %v, losing their type. The recorder gives the
	// request our context (whose deadline replaces the client's Timeout, so
	// that a timeout is recognisable) and keeps the transport's own error
	// for classification.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rec := &recorder{ctx: ctx, base: base.Transport}
	hc := &http.Client{Transport: rec, CheckRedirect: outbound.NoRedirect}
	tok, err := cfg.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, hc)).Token()
	if err != nil {
		return nil, googleError(ctx, c.Name, endpoint, rec, err, keyLines(cfg.PrivateKey))
	}
	if tok.AccessToken == "" {
		return nil, fmt.Errorf("google: connector %s: %w: %w", c.Name,
			&oauth.UpstreamError{Status: rec.status(), Description: "token response has no access_token"}, oauth.ErrInvalidResponse)
	}
	// Like the OAuth minter, report a scope only when the endpoint granted
	// one explicitly (Google's JWT grant usually does not).
	granted, _ := tok.Extra("scope").(string)
	return &Minted{Credential: Credential{
		AccessToken: tok.AccessToken,
		TokenType:   tokenType(tok.TokenType),
		Scope:       granted,
		Expiry:      g.expiry(tok),
	}}, nil
}

func (g *Google) httpClient() *http.Client {
	return g.defHTTP.Client(g.HTTP)
}

// expiry counts expires_in from our clock rather than using the expiry
// x/oauth2 computed from time.Now, so that it agrees with Service.Now.
func (g *Google) expiry(tok *oauth2.Token) time.Time {
	now := time.Now()
	if g.Now != nil {
		now = g.Now()
	}
	if secs, ok := tok.Extra("expires_in").(float64); ok && secs > 0 && secs < 1<<31 {
		return now.Add(time.Duration(secs) * time.Second)
	}
	lifetime := g.DefaultLifetime
	if lifetime <= 0 {
		lifetime = oauth.DefaultLifetime
	}
	return now.Add(lifetime)
}

// tokenType normalises the type the way the oauth package does: "Bearer"
// unless the provider said something else.
func tokenType(t string) string {
	if t == "" || strings.EqualFold(t, "bearer") {
		return "Bearer"
	}
	return t
}

// checkTokenURI repeats, at mint time, what connector validation enforces on
// a key's token_uri (a connector written around validation must not turn
// the service into a plain-http client); the address policy itself is the
// guarded client's. It returns the URI without query, for error messages.
func checkTokenURI(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
		return "", errors.New(`the service account key's "token_uri" is not an absolute URL without credentials`)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && netguard.IsLoopbackHost(u.Hostname()):
		// Local development; the client's policy decides whether loopback
		// may be dialled at all.
	default:
		return "", errors.New(`the service account key's "token_uri" must use https`)
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(), nil
}

// googleError classifies a failed exchange. The error x/oauth2 returned is
// never included: a RetrieveError's text quotes the response body.
func googleError(ctx context.Context, name, endpoint string, rec *recorder, err error, secrets []string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return fmt.Errorf("google: connector %s: %w", name, retrieveError(re, secrets))
	}
	if terr := rec.err(); terr != nil {
		return fmt.Errorf("google: connector %s: %w", name, outbound.TransportError(ctx, endpoint, terr))
	}
	if s := rec.status(); s >= 200 && s <= 299 {
		// The endpoint answered 2xx with a body x/oauth2 could not parse.
		return fmt.Errorf("google: connector %s: %w: %w", name,
			&oauth.UpstreamError{Status: s, Description: "token response is not a JSON token response"}, oauth.ErrInvalidResponse)
	}
	// Nothing was sent: the key could not sign (x/oauth2 checked the PEM
	// only now). Its error may describe the key, so it is not wrapped.
	return fmt.Errorf("google: connector %s: the service account key cannot sign a token request", name)
}

// retrieveError turns the token endpoint's refusal into an UpstreamError
// with its RFC 6749 §5.2 error and error_description. x/oauth2/jwt does not
// parse them, so the body is read here, and sanitised: the endpoint could
// echo the assertion.
func retrieveError(re *oauth2.RetrieveError, secrets []string) *oauth.UpstreamError {
	status := re.Response.StatusCode
	e := &oauth.UpstreamError{Status: status}
	if status >= 300 && status <= 399 {
		e.Description = "token endpoint redirected; redirects are not followed"
		return e
	}
	code, desc := re.ErrorCode, re.ErrorDescription
	if code == "" {
		var body struct {
			Error            any    `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		if json.Unmarshal(re.Body, &body) == nil {
			// Google's APIs sometimes answer {"error": {"code":…, "message":…}}.
			switch v := body.Error.(type) {
			case string:
				code = v
			case map[string]any:
				code, _ = v["status"].(string)
				if m, ok := v["message"].(string); ok && body.ErrorDescription == "" {
					body.ErrorDescription = m
				}
			}
			desc = body.ErrorDescription
		}
	}
	e.Code = sanitize(code, 100, secrets...)
	e.Description = sanitize(desc, 300, secrets...)
	if e.Code == "" && e.Description == "" {
		e.Description = fmt.Sprintf("token endpoint answered HTTP %d", status)
	}
	return e
}

// keyLines are the lines of a PEM private key's body, to redact from
// provider texts: an endpoint has no business echoing any of them, but a
// text that did must not carry them on.
func keyLines(pemKey []byte) []string {
	var out []string
	for _, f := range strings.Fields(string(pemKey)) {
		if len(f) >= 16 && !strings.HasPrefix(f, "-----") {
			out = append(out, f)
		}
	}
	return out
}

// recorder is the transport of one exchange: it binds the request to the
// exchange's context and remembers the last response status and the first
// transport or body-read error.
type recorder struct {
	ctx  context.Context
	base http.RoundTripper

	mu      sync.Mutex
	lastErr error
	code    int
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	base := r.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req.WithContext(r.ctx))
	if err != nil {
		r.record(err, 0)
		return nil, err
	}
	r.record(nil, resp.StatusCode)
	resp.Body = &recordingBody{ReadCloser: resp.Body, rec: r}
	return resp, nil
}

func (r *recorder) record(err error, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil && r.lastErr == nil {
		r.lastErr = err
	}
	if status != 0 {
		r.code = status
	}
}

func (r *recorder) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

func (r *recorder) status() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.code
}

type recordingBody struct {
	io.ReadCloser
	rec *recorder
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.rec.record(fmt.Errorf("read token response: %w", err), 0)
	}
	return n, err
}

// jwtLike matches compact JWS/JWT serialisations, such as an assertion an
// endpoint echoes back.
var jwtLike = regexp.MustCompile(`[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)

// sanitize is outbound.Sanitize with anything shaped like a JWT redacted as
// well: an endpoint could echo the signed assertion, which is not one of the
// known secrets.
func sanitize(s string, max int, secrets ...string) string {
	return outbound.SanitizeFunc(s, max, redactJWTs, secrets...)
}

func redactJWTs(s string) string { return jwtLike.ReplaceAllString(s, "[redacted]") }
