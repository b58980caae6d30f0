// Package authtest stands in for Google's identity platform in tests: a
// loopback server publishing the public halves of locally generated keys at
// Google's certificate URLs (an RSA key for ID tokens, an ECDSA P-256 key
// for Identity-Aware Proxy's assertions), an HTTP client that routes those
// URLs to it, and signers for ID tokens and IAP assertions that
// auth.Authenticator then verifies for real.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// KeyID is the kid of the issuer's key.
const KeyID = "authtest-key-1"

// IAPKeyID is the kid of the issuer's IAP key.
const IAPKeyID = "authtest-iap-key-1"

// IAPIssuer is the iss claim of IAP's assertions.
const IAPIssuer = "https://cloud.google.com/iap"

// Issuer signs ID tokens and IAP assertions and serves their verification
// keys.
type Issuer struct {
	// Key signs ID tokens (RS256); its public half is published at
	// https://www.googleapis.com/oauth2/v3/certs.
	Key *rsa.PrivateKey
	// IAPKey signs IAP assertions (ES256); its public half is published at
	// https://www.gstatic.com/iap/verify/public_key-jwk.
	IAPKey *ecdsa.PrivateKey
	// Client fetches Google's certificate URLs from the issuer's server; give
	// it to auth.New.
	Client *http.Client
	// Fetches counts key-set requests, to either URL.
	Fetches atomic.Int32
	// IAPFetches counts the requests for IAP's key set alone.
	IAPFetches atomic.Int32
	// FailWith, when non-zero, answers key requests (to either URL) with
	// that HTTP status.
	FailWith atomic.Int32
}

// SignatureRemoved is what Cloud Run puts in place of the signature of an ID
// token it checked for its invoker role.
const SignatureRemoved = "SIGNATURE_REMOVED_BY_GOOGLE"

// NewKey generates an RSA key, e.g. to forge signatures with.
func NewKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// NewIAPKey generates an ECDSA P-256 key, e.g. to forge IAP signatures with.
func NewIAPKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// NewIssuer starts an issuer whose server stops when t ends.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	key := NewKey(t)
	iapKey := NewIAPKey(t)
	point, err := iapKey.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil || len(point) != 65 {
		t.Fatalf("authtest: encode IAP key: %v", err)
	}
	iss := &Issuer{Key: key, IAPKey: iapKey}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth2/v3/certs", func(w http.ResponseWriter, r *http.Request) {
		iss.Fetches.Add(1)
		if code := iss.FailWith.Load(); code != 0 {
			http.Error(w, "unavailable", int(code))
			return
		}
		writeJWKS(w, map[string]any{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": KeyID,
			"n": b64(key.PublicKey.N.Bytes()),
			"e": b64(big.NewInt(int64(key.PublicKey.E)).Bytes()),
		})
	})
	// idtoken looks up ES256 keys at the IAP URL.
	mux.HandleFunc("GET /iap/verify/public_key-jwk", func(w http.ResponseWriter, r *http.Request) {
		iss.Fetches.Add(1)
		iss.IAPFetches.Add(1)
		if code := iss.FailWith.Load(); code != 0 {
			http.Error(w, "unavailable", int(code))
			return
		}
		writeJWKS(w, map[string]any{
			"kty": "EC", "alg": "ES256", "use": "sig", "kid": IAPKeyID, "crv": "P-256",
			"x": b64(point[1:33]),
			"y": b64(point[33:]),
		})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.Client = keysClient(t, srv.URL, srv.Client().Transport)
	return iss
}

// KeysClient returns an HTTP client that sends requests for Google's key URLs
// to the server at baseURL ("http://host:port") and refuses every other
// host. Issuer.Client is one; pointing one at a dead address simulates an
// unreachable key server.
func KeysClient(t testing.TB, baseURL string) *http.Client {
	t.Helper()
	return keysClient(t, baseURL, http.DefaultTransport)
}

func keysClient(t testing.TB, baseURL string, base http.RoundTripper) *http.Client {
	t.Helper()
	target, err := url.Parse(baseURL)
	if err != nil || target.Scheme == "" || target.Host == "" {
		t.Fatalf("authtest: bad key server URL %q (%v)", baseURL, err)
	}
	return &http.Client{Transport: redirect{target: target, base: base}}
}

func writeJWKS(w http.ResponseWriter, keys ...map[string]any) {
	if keys == nil {
		keys = []map[string]any{}
	}
	w.Header().Set("Content-Type", "application/json")
	// Like Google's: cacheable, so one fetch serves many tokens.
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
}

// redirect sends requests for Google's key hosts to the test server and
// refuses anything else, so a test never reaches the real network.
type redirect struct {
	target *url.URL
	base   http.RoundTripper
}

func (rt redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.URL.Host {
	case "www.googleapis.com", "www.gstatic.com":
	default:
		return nil, fmt.Errorf("authtest: unexpected host %q", req.URL.Host)
	}
	req = req.Clone(req.Context())
	req.URL.Scheme = rt.target.Scheme
	req.URL.Host = rt.target.Host
	req.Host = ""
	return rt.base.RoundTrip(req)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Claims returns valid Google ID token claims for email and audience.
func Claims(email, audience string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":            "https://accounts.google.com",
		"aud":            audience,
		"azp":            "1234567890",
		"sub":            "1234567890",
		"email":          email,
		"email_verified": true,
		"iat":            now.Add(-time.Minute).Unix(),
		"exp":            now.Add(time.Hour).Unix(),
	}
}

// Token returns a valid ID token for email and audience.
func (iss *Issuer) Token(t testing.TB, email, audience string) string {
	return iss.Sign(t, iss.Key, Claims(email, audience))
}

// Sign makes a compact RS256 JWT of claims with key (the issuer's own, or
// another to forge a bad signature).
func (iss *Issuer) Sign(t testing.TB, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	return Sign(t, key, map[string]any{"alg": "RS256", "kid": KeyID, "typ": "JWT"}, claims)
}

// Strip returns token as Cloud Run forwards it after its invoker check: the
// signature replaced by SignatureRemoved.
func Strip(token string) string {
	i := strings.LastIndex(token, ".")
	if i < 0 {
		return token + "." + SignatureRemoved
	}
	return token[:i+1] + SignatureRemoved
}

// Sign makes a compact RS256-signed JWT with any header, for
// malformed-token tests.
func Sign(t testing.TB, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	signed := signingInput(t, header, claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + b64(sig)
}

// IAPClaims returns valid claims of an IAP assertion for email and
// audience ("/projects/NUMBER/global/backendServices/ID"), issued now and
// valid for ten minutes, as IAP's are.
func IAPClaims(email, audience string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":   IAPIssuer,
		"aud":   audience,
		"sub":   "accounts.google.com:1234567890",
		"email": email,
		"iat":   now.Add(-time.Second).Unix(),
		"exp":   now.Add(10 * time.Minute).Unix(),
	}
	if _, domain, ok := strings.Cut(email, "@"); ok {
		c["hd"] = domain
	}
	return c
}

// IAPToken returns a valid IAP assertion for email and audience, the value
// of X-Goog-IAP-JWT-Assertion.
func (iss *Issuer) IAPToken(t testing.TB, email, audience string) string {
	t.Helper()
	return iss.SignIAP(t, iss.IAPKey, IAPClaims(email, audience))
}

// SignIAP makes a compact ES256 JWT of claims with key (the issuer's own
// IAPKey, or another to forge a bad signature) under IAP's header.
func (iss *Issuer) SignIAP(t testing.TB, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	return SignES256(t, key, map[string]any{"alg": "ES256", "kid": IAPKeyID, "typ": "JWT"}, claims)
}

// SignES256 makes a compact ES256-signed JWT with any header: the JWS
// signature R || S, 32 bytes each.
func SignES256(t testing.TB, key *ecdsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	signed := signingInput(t, header, claims)
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + b64(sig)
}

// signingInput returns the encoded header and claims joined by ".".
func signingInput(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return b64(h) + "." + b64(c)
}
