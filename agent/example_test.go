package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"connectors.dev/connectors/agent"
	"golang.org/x/oauth2"
)

// An agent reads the user's Gmail profile through the proxy: it never
// holds the Gmail token. The connector "Gmail" has the apiBaseUrl
// https://gmail.googleapis.com/gmail/v1/, so "/users/me/profile" reaches
// https://gmail.googleapis.com/gmail/v1/users/me/profile.
func ExampleProxyClient() {
	ctx := context.Background()
	// terraform -chdir=terraform output -raw proxy_url
	proxyURL := "https://proxy-123456789012.europe-west1.run.app"
	client, err := agent.ProxyClient(ctx, proxyURL, "Gmail", "mailer", nil)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Get("/users/me/profile")
	if err != nil {
		log.Fatal(err) // no answer at all
	}
	defer resp.Body.Close()
	if code, ok := agent.ProxyError(resp); ok {
		log.Fatalf("the proxy refused the call: %s (%d)", code, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		log.Fatalf("Gmail answered %s", resp.Status) // 429, 500…: the API's own
	}
	var profile struct {
		EmailAddress string `json:"emailAddress"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&profile); err != nil {
		log.Fatal(err)
	}
	fmt.Println(profile.EmailAddress)
}

// The local run serves the proxy at /proxy and needs no ID token from a
// loopback caller; a POST streams its body through.
func ExampleProxyClient_localRun() {
	ctx := context.Background()
	client, err := agent.ProxyClient(ctx, "http://127.0.0.1:8080/proxy", "Crm", "crm-bot", nil)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Post("/contacts", "application/json", strings.NewReader(`{"name":"Ada"}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	fmt.Println(resp.Status)
}

// A client library built for the API's own URLs calls through the proxy
// when its HTTP client carries a Transport with APIBase: each request's
// URL below the base is sent through the proxy, any other URL is refused.
func ExampleTransport() {
	ctx := context.Background()
	t, err := agent.NewTransport(ctx, "https://proxy-123456789012.europe-west1.run.app", "Gmail", "mailer", nil)
	if err != nil {
		log.Fatal(err)
	}
	t.APIBase = "https://gmail.googleapis.com/gmail/v1/"
	client := &http.Client{Transport: t}
	// Give client to the library (for Google's: option.WithHTTPClient);
	// its requests for https://gmail.googleapis.com/gmail/v1/... go through
	// the proxy.
	resp, err := client.Get("https://gmail.googleapis.com/gmail/v1/users/me/labels")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
}

// When a library needs the token itself, TokenSource mints it through the
// token function and reuses it until shortly before it expires.
func ExampleTokenSource() {
	ctx := context.Background()
	// terraform -chdir=terraform output -raw token_url
	ts, err := agent.TokenSource(ctx, "https://token-123456789012.europe-west1.run.app", "Gmail", "mailer", nil)
	if err != nil {
		log.Fatal(err)
	}
	client := oauth2.NewClient(ctx, ts)
	resp, err := client.Get("https://gmail.googleapis.com/gmail/v1/users/me/profile")
	var e *agent.Error
	switch {
	case errors.As(err, &e) && e.Code == "permission_denied":
		log.Fatalf("this runtime may not act for the agent: %s", e.Message)
	case err != nil:
		log.Fatal(err)
	}
	resp.Body.Close()
}

// Tests, and runtimes that hold an ID token of their own, give the ID
// token source; its audience must be the function's URL.
func ExampleOptions() {
	ctx := context.Background()
	proxyURL := "https://proxy-123456789012.europe-west1.run.app"
	var idTokens oauth2.TokenSource // e.g. idtoken.NewTokenSource(ctx, proxyURL, idtoken.WithCredentialsFile("sa.json"))
	client, err := agent.ProxyClient(ctx, proxyURL, "Gmail", "mailer", &agent.Options{IDToken: idTokens})
	if err != nil {
		log.Fatal(err)
	}
	_ = client
}
