package cloudtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// JWTBearerGrant is the grant type of RFC 7523's JWT bearer grant, with
// which a service account exchanges a signed assertion for a token.
const JWTBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

const (
	// maxAssertionLifetime is Google's limit on exp - iat.
	maxAssertionLifetime = time.Hour
	// clockSkew is how far iat may be ahead of the server's clock.
	clockSkew = 5 * time.Minute
	// tokenLifetime is the expires_in Google's token endpoint answers.
	tokenLifetime = 3599
)

// GoogleToken is an http.Handler standing in for Google's OAuth token
// endpoint for the JWT bearer grant (RFC 7523), as a service account's key
// uses it. It accepts an assertion only if it is an RS256 JWT signed by
// PublicKey's private half, issued by ClientEmail for the audience
// TokenURI, with a scope, and fresh (iat not in the future, exp after now
// and at most an hour after iat). It answers {"access_token":
// "ya29.local-…", "token_type": "Bearer", "expires_in": 3599} with a new
// token each time, or 400 with an RFC 6749 error: invalid_grant for a bad
// assertion.
type GoogleToken struct {
	// PublicKey verifies the assertion's signature.
	PublicKey *rsa.PublicKey
	// ClientEmail is the service account the assertion must be issued by
	// (iss).
	ClientEmail string
	// TokenURI is the audience (aud) the assertion must name: the key's
	// token_uri, where this handler is served.
	TokenURI string
	// KeyID, when set, is the private_key_id the assertion's header must
	// name (kid).
	KeyID string
	// RequiredScope, when set, lists space-separated scopes the assertion
	// must each ask for; otherwise any non-empty scope is accepted.
	RequiredScope string
	// Log, when set, receives one line per request: the service account,
	// audience and scope verified, or why the assertion was refused. It
	// never carries the assertion or the token issued.
	Log func(msg string)
	// Now is the clock for iat and exp; nil means time.Now.
	Now func() time.Time
}

// tokenError is a refusal as RFC 6749 §5.2 words it.
type tokenError struct {
	status int
	code   string
	desc   string
}

// ServeHTTP answers one token request.
func (g *GoogleToken) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, terr := g.verify(r)
	if terr != nil {
		g.logf("refused (HTTP %d %s): %s", terr.status, terr.code, terr.desc)
		writeJSON(w, terr.status, map[string]string{"error": terr.code, "error_description": terr.desc})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": "ya29.local-" + rand.Text() + rand.Text(),
		"token_type":   "Bearer",
		"expires_in":   tokenLifetime,
	})
	g.logf("assertion verified (RS256 by %s's key, aud %s, scope %q, valid %s); issued a token for %ds",
		loggable(c.Iss), loggable(c.Aud), c.Scope, time.Unix(c.Exp, 0).Sub(time.Unix(c.Iat, 0)), tokenLifetime)
}

// claims are the assertion's claims this endpoint checks.
type claims struct {
	Iss   string `json:"iss"`
	Aud   string `json:"aud"`
	Scope string `json:"scope"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

func (g *GoogleToken) verify(r *http.Request) (*claims, *tokenError) {
	if g.PublicKey == nil || g.TokenURI == "" || g.ClientEmail == "" {
		return nil, &tokenError{http.StatusInternalServerError, "server_error", "the stand-in has no key, token URI or client email configured"}
	}
	if u, err := url.Parse(g.TokenURI); err != nil || r.URL.Path != u.Path {
		return nil, &tokenError{http.StatusNotFound, "invalid_request", "no token endpoint at " + loggable(r.URL.Path)}
	}
	if r.Method != http.MethodPost {
		return nil, &tokenError{http.StatusBadRequest, "invalid_request", "the token request must be a POST"}
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, &tokenError{http.StatusBadRequest, "invalid_request", "the body is not a form"}
	}
	if gt := r.PostForm.Get("grant_type"); gt != JWTBearerGrant {
		return nil, &tokenError{http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: " + loggable(gt)}
	}
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		return nil, &tokenError{http.StatusBadRequest, "invalid_request", "Missing required parameter: assertion"}
	}
	c, err := g.check(assertion)
	if err != nil {
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", err.Error()}
	}
	return c, nil
}

// Verify checks a JWT bearer assertion as the handler does, and returns
// the scope it asks for (space-separated, normalized); for tests that
// serve their own endpoint around it.
func (g *GoogleToken) Verify(assertion string) (scope string, err error) {
	c, err := g.check(assertion)
	if err != nil {
		return "", err
	}
	return c.Scope, nil
}

// check verifies the assertion; its errors describe what failed without
// quoting the assertion.
func (g *GoogleToken) check(assertion string) (*claims, error) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("invalid JWT: not a compact JWS (%d parts)", len(parts))
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return nil, fmt.Errorf("invalid JWT: header: %w", err)
	}
	if header.Alg != "RS256" {
		return nil, fmt.Errorf("invalid JWT: alg %s, want RS256", loggable(header.Alg))
	}
	if g.KeyID != "" && header.Kid != g.KeyID {
		return nil, fmt.Errorf("invalid JWT Signature: kid %s is not the service account's key %s", loggable(header.Kid), g.KeyID)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("invalid JWT Signature: not base64url")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(g.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		return nil, errors.New("invalid JWT Signature: not signed by the service account's key")
	}
	var c claims
	if err := decodeSegment(parts[1], &c); err != nil {
		return nil, fmt.Errorf("invalid JWT: claims: %w", err)
	}
	now := g.now()
	iat, exp := time.Unix(c.Iat, 0), time.Unix(c.Exp, 0)
	switch {
	case c.Iss != g.ClientEmail:
		return nil, fmt.Errorf("invalid JWT: iss %s is not %s", loggable(c.Iss), g.ClientEmail)
	case c.Aud != g.TokenURI:
		return nil, fmt.Errorf("invalid JWT: aud %s is not this token endpoint, %s", loggable(c.Aud), g.TokenURI)
	case strings.TrimSpace(c.Scope) == "":
		return nil, errors.New("invalid JWT: no scope")
	case c.Iat == 0 || c.Exp == 0:
		return nil, errors.New("invalid JWT: iat and exp are required")
	case iat.After(now.Add(clockSkew)):
		return nil, fmt.Errorf("invalid JWT: iat %d is in the future (now %d)", c.Iat, now.Unix())
	case !exp.After(now):
		return nil, fmt.Errorf("invalid JWT: Token must be a short-lived token and in a reasonable timeframe (exp %d, now %d)", c.Exp, now.Unix())
	case !exp.After(iat) || exp.Sub(iat) > maxAssertionLifetime:
		return nil, fmt.Errorf("invalid JWT: exp - iat is %s, want at most %s", exp.Sub(iat), maxAssertionLifetime)
	}
	asked := strings.Fields(c.Scope)
	for _, want := range strings.Fields(g.RequiredScope) {
		if !slices.Contains(asked, want) {
			return nil, fmt.Errorf("invalid JWT: scope %s does not include %s", loggable(c.Scope), want)
		}
	}
	c.Scope = strings.Join(asked, " ")
	return &c, nil
}

func decodeSegment(seg string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errors.New("not a JSON object of the expected shape")
	}
	return nil
}

func (g *GoogleToken) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *GoogleToken) logf(format string, args ...any) {
	if g.Log != nil {
		g.Log(fmt.Sprintf(format, args...))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serviceAccountKey is the JSON key's layout, in the console's field order.
type serviceAccountKey struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	ClientID     string `json:"client_id"`
	TokenURI     string `json:"token_uri"`
}

// PrivateKeyLines returns a JSON key's private key, whole and line by line
// (the lines long enough to be part of the key material): what a test
// searches logs and bodies for, since any one line leaks part of the key.
// Nil when keyJSON holds no private key.
func PrivateKeyLines(keyJSON []byte) []string {
	var k serviceAccountKey
	if json.Unmarshal(keyJSON, &k) != nil || k.PrivateKey == "" {
		return nil
	}
	out := []string{k.PrivateKey}
	for _, line := range strings.Split(k.PrivateKey, "\n") {
		if len(line) > 40 {
			out = append(out, line)
		}
	}
	return out
}

// NewServiceAccountKey makes a service account's key as the Cloud console
// downloads it: a fresh RSA-2048 key (PKCS#8 PEM) with its type,
// project_id, private_key_id, client_email, client_id and token_uri. pub
// is its public half, for GoogleToken.PublicKey.
func NewServiceAccountKey(email, projectID, tokenURI string) (keyJSON []byte, pub *rsa.PublicKey, err error) {
	if !strings.Contains(email, "@") || projectID == "" || tokenURI == "" {
		return nil, nil, errors.New("cloudtest: a service account key needs an email, a project ID and a token URI")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("cloudtest: generate the service account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("cloudtest: encode the service account key: %w", err)
	}
	kid := make([]byte, 20)
	_, _ = rand.Read(kid) // never fails (crypto/rand)
	// Google's client IDs are 21 decimal digits.
	id, err := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil))
	if err != nil {
		return nil, nil, fmt.Errorf("cloudtest: client ID: %w", err)
	}
	keyJSON, err = json.MarshalIndent(serviceAccountKey{
		Type:         "service_account",
		ProjectID:    projectID,
		PrivateKeyID: fmt.Sprintf("%x", kid),
		PrivateKey:   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		ClientEmail:  email,
		ClientID:     fmt.Sprintf("1%020d", id),
		TokenURI:     tokenURI,
	}, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("cloudtest: encode the service account key: %w", err)
	}
	return append(keyJSON, '\n'), &key.PublicKey, nil
}
