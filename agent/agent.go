// Package agent is the Go client of Connectors for agents: a source of a
// connector's access tokens minted by the token function, and an HTTP
// client that calls a connector's API through the proxy function, so that
// the agent never holds the connector's credential at all.
//
// Both authenticate to the functions with the Google ID token of the
// agent's runtime (its service account on Cloud Run, GKE or a VM, or the
// credentials named by GOOGLE_APPLICATION_CREDENTIALS), from
// google.golang.org/api/idtoken, for the audience of the function's URL.
// The local run (go run ./functions/devserver) needs none: a caller on
// loopback is its local-dev principal, so for a loopback function URL no
// ID token is sent unless Options.IDToken gives one.
//
// Calling an API through the proxy (preferred: the access token stays in
// the proxy):
//
//	// terraform output -raw proxy_url; locally http://127.0.0.1:8080/proxy
//	client, err := agent.ProxyClient(ctx, proxyURL, "Gmail", "mailer", nil)
//	if err != nil { ... }
//	// Relative to the connector's apiBaseUrl,
//	// e.g. https://gmail.googleapis.com/gmail/v1/users/me/profile.
//	resp, err := client.Get("/users/me/profile")
//	if err != nil { ... }
//	defer resp.Body.Close()
//	if code, ok := agent.ProxyError(resp); ok {
//		// The proxy refused or failed (code as in docs/api.md), not the API.
//	}
//
// Minting a token for a library that wants one:
//
//	// terraform output -raw token_url; locally http://127.0.0.1:8080/token
//	ts, err := agent.TokenSource(ctx, tokenURL, "Gmail", "mailer", nil)
//	if err != nil { ... }
//	client := oauth2.NewClient(ctx, ts)
//
// The answers of the proxy are returned as they are, whoever gave them:
// an http.RoundTripper fails only when no answer came. ProxyError tells the
// proxy's own errors (marked Connectors-Error) from the API's. The token
// source's errors are *Error, with the token function's code and message.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
	"google.golang.org/api/idtoken"
)

// Headers of the proxy function.
const (
	// HeaderAgent names the agent a proxied call is for.
	HeaderAgent = "Connectors-Agent"
	// HeaderError marks an answer of the proxy's own; its value is the
	// error code.
	HeaderError = "Connectors-Error"
)

// Options adjust how the functions are reached. The zero value (or nil)
// is what a deployed agent needs.
type Options struct {
	// IDToken gives the Google ID token sent to the function as a bearer
	// token; its audience must be the function's URL. nil: the runtime's
	// own, idtoken.NewTokenSource(ctx, functionURL), or, for a loopback
	// function URL (the local run), none.
	IDToken oauth2.TokenSource
	// Transport carries the requests to the functions. nil:
	// http.DefaultTransport.
	Transport http.RoundTripper
}

func (o *Options) transport() http.RoundTripper {
	if o != nil && o.Transport != nil {
		return o.Transport
	}
	return http.DefaultTransport
}

// idTokenSource returns the ID token source for the function at fnURL:
// the given one, none for a loopback URL, or the runtime's.
func (o *Options) idTokenSource(ctx context.Context, fnURL *url.URL) (oauth2.TokenSource, error) {
	if o != nil && o.IDToken != nil {
		return o.IDToken, nil
	}
	if isLoopback(fnURL.Hostname()) {
		return nil, nil
	}
	ts, err := idtoken.NewTokenSource(ctx, strings.TrimSuffix(fnURL.String(), "/"))
	if err != nil {
		return nil, fmt.Errorf("agent: the runtime's ID token for %s: %w", fnURL.Redacted(), err)
	}
	return ts, nil
}

// parseFunctionURL checks a function's URL: absolute, http(s), no query,
// fragment or userinfo.
func parseFunctionURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil:
		return nil, fmt.Errorf("agent: %s %q is not a URL: %w", what, raw, err)
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
		return nil, fmt.Errorf("agent: %s %q must be https (http only to loopback, the local run)", what, raw)
	case u.Host == "":
		return nil, fmt.Errorf("agent: %s %q has no host", what, raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("agent: %s %q must have no userinfo, query or fragment", what, raw)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authorize sets the ID token of ts (if any) on h.
func authorize(h http.Header, ts oauth2.TokenSource) error {
	if ts == nil {
		return nil
	}
	tok, err := ts.Token()
	if err != nil {
		return fmt.Errorf("agent: the ID token: %w", err)
	}
	// An ID token goes as a bearer token whatever type its source names.
	h.Set("Authorization", "Bearer "+idTokenOf(tok))
	return nil
}

// idTokenOf is the ID token in tok: idtoken's sources put it in
// AccessToken; a source from an OAuth exchange may carry it as id_token.
func idTokenOf(tok *oauth2.Token) string {
	if s, ok := tok.Extra("id_token").(string); ok && s != "" {
		return s
	}
	return tok.AccessToken
}

// ProxyError reports whether resp is an answer of the proxy's own (it
// refused the call or could not complete it) and its error code, e.g.
// permission_denied, not_found, upstream_timeout (docs/api.md). An answer
// of the API, error or not, passes through unmarked: ok is false.
func ProxyError(resp *http.Response) (code string, ok bool) {
	if resp == nil {
		return "", false
	}
	code = resp.Header.Get(HeaderError)
	return code, code != ""
}

// Error is an error answer of the token function: its HTTP status and,
// when the function gave them, its error code (docs/api.md, e.g.
// permission_denied, not_found, upstream_error) and message. A refusal by
// Cloud Run's front end (no or a wrong ID token, no invoker role) has no
// code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("agent: token function: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
	}
	return fmt.Sprintf("agent: token function: %d %s: %s", e.Status, e.Code, e.Message)
}

// ErrNotBearer is returned by a TokenSource for a connector that mints
// AWS credentials (aws_iam), which are not a bearer token: call its API
// through the proxy, which signs each request.
var ErrNotBearer = errors.New("agent: the connector mints AWS credentials, not a bearer token; call its API through the proxy")
