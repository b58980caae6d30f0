package oauth_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
)

func strictClient() *oauth.Client {
	return &oauth.Client{HTTP: outbound.NewClient(outbound.Options{
		ConnectTimeout: 200 * time.Millisecond,
		Timeout:        time.Second,
	})}
}

func TestMetadataAddressesRefused(t *testing.T) {
	for _, u := range []string{
		"http://169.254.169.254/computeMetadata/v1/token",
		"http://[::ffff:169.254.169.254]/latest/api/token",
		"http://[fd00:ec2::254]/latest/api/token",
		"http://metadata.google.internal/computeMetadata/v1/token",
		"https://169.254.170.2/v2/credentials", // link-local (ECS task credentials)
		"http://0.0.0.0:80/",
		"http://[::]:80/",
		"http://224.0.0.1/",
	} {
		t.Run(u, func(t *testing.T) {
			// Allowing loopback and private ranges changes nothing for these.
			for _, policy := range []netguard.Policy{{}, {AllowLoopback: true, AllowPrivate: true}} {
				c := &oauth.Client{HTTP: outbound.NewClient(outbound.Options{Policy: policy, ConnectTimeout: 200 * time.Millisecond, Timeout: time.Second})}
				start := time.Now()
				_, err := c.Mint(context.Background(), ccConnector(u), secret.Bundle{ClientSecret: "test-client-secret"})
				if !errors.Is(err, netguard.ErrForbidden) {
					t.Fatalf("policy %+v: err = %v, want ErrForbidden", policy, err)
				}
				if errors.Is(err, outbound.ErrTimeout) || errors.Is(err, outbound.ErrUnreachable) {
					t.Errorf("refusal also classified as timeout/unreachable: %v", err)
				}
				if d := time.Since(start); d > 150*time.Millisecond {
					t.Errorf("refusal took %v: it should not wait for a connection", d)
				}
			}
		})
	}
}

// loopbackTarget is a provider on 127.0.0.1 whose port is reached through
// the name "localhost".
func loopbackTarget(t *testing.T) (*provider, string) {
	p := newProvider(t, respond(200, "application/json", okJSON))
	u, _ := url.Parse(p.URL)
	_, port, _ := net.SplitHostPort(u.Host)
	return p, "http://localhost:" + port + "/token"
}

func TestLoopbackNameRefused(t *testing.T) {
	p, u := loopbackTarget(t)
	for _, target := range []string{u, p.URL + "/token"} {
		_, err := strictClient().Mint(context.Background(), ccConnector(target), secret.Bundle{ClientSecret: "test-client-secret"})
		if !errors.Is(err, netguard.ErrForbidden) {
			t.Fatalf("%s: err = %v, want ErrForbidden", target, err)
		}
	}
	if n := p.hits.Load(); n != 0 {
		t.Fatalf("loopback target got %d requests", n)
	}
}

func TestLoopbackAllowed(t *testing.T) {
	p, u := loopbackTarget(t)
	c := &oauth.Client{HTTP: outbound.NewClient(outbound.Options{Policy: netguard.Policy{AllowLoopback: true}})}
	res, err := c.Mint(context.Background(), ccConnector(u), secret.Bundle{ClientSecret: "test-client-secret"})
	if err != nil {
		t.Fatalf("Mint with AllowLoopback: %v", err)
	}
	if res.AccessToken != "at-123" || p.hits.Load() != 1 {
		t.Fatalf("res = %v, hits = %d", res, p.hits.Load())
	}
}

func TestRedirectToForbiddenNotFollowed(t *testing.T) {
	inner := newProvider(t, respond(200, "application/json", okJSON))
	for _, loc := range []string{inner.URL + "/token", "http://169.254.169.254/computeMetadata/v1/"} {
		p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, loc, http.StatusTemporaryRedirect)
		})
		// The provider itself is on loopback, so loopback is allowed here;
		// the redirect is still not followed.
		c := &oauth.Client{HTTP: outbound.NewClient(outbound.Options{Policy: netguard.Policy{AllowLoopback: true}})}
		_, err := c.Mint(context.Background(), ccConnector(p.URL), secret.Bundle{ClientSecret: "test-client-secret"})
		var ue *oauth.UpstreamError
		if !errors.As(err, &ue) || ue.Status != http.StatusTemporaryRedirect {
			t.Fatalf("redirect to %s: err = %v, want UpstreamError 307", loc, err)
		}
	}
	if n := inner.hits.Load(); n != 0 {
		t.Fatalf("redirect target got %d requests", n)
	}
}
