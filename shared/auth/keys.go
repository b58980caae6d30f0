package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/api/idtoken"
)

// keysClient returns a copy of c (or a default client) whose transport turns
// non-200 answers into transport errors. idtoken reports them as plain
// strings; as transport errors they surface as *url.Error, which is how
// Authenticate tells "Google's keys are unreachable" (503) from "the token
// is bad" (401).
func keysClient(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		out.Timeout = 10 * time.Second
	}
	base := out.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out.Transport = statusTransport{base}
	return &out
}

type statusTransport struct{ base http.RoundTripper }

func (t statusTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("unexpected status %s", resp.Status)
	}
	return resp, nil
}

// validate checks token's signature against Google's published keys (RS256
// or ES256, as its header says), that its aud is audience and that it has
// not expired, and returns its payload. It fails with ErrUnavailable when
// the keys cannot be fetched.
func (a *Authenticator) validate(ctx context.Context, token, audience string) (*idtoken.Payload, error) {
	v, err := a.validator()
	if err != nil {
		return nil, fail(ErrUnavailable, token, "%v", err)
	}
	verified, err := v.Validate(ctx, token, audience)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fail(ErrUnavailable, token, "fetching Google's token-signing keys: %v", err)
		}
		return nil, fail(ErrUnauthenticated, token, "token verification failed: %v", err)
	}
	return verified, nil
}

// checkAlg makes sure the JWT token is signed with alg, and for ES256 that
// its signature has the 64 bytes idtoken's verifier slices without checking.
func checkAlg(token, alg string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("the token is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return errors.New("the token's header is not base64url")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(raw, &header); err != nil {
		return errors.New("the token's header is not JSON")
	}
	if header.Alg != alg {
		return fmt.Errorf("the token is signed with %s, not %s", clip(header.Alg), alg)
	}
	if alg == "ES256" {
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || len(sig) != 64 {
			return errors.New("the token's signature is not an ES256 signature")
		}
	}
	return nil
}
