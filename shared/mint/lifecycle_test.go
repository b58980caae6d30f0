package mint_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/testenv"
)

// The lifecycle tests (docs/security.md, "Secret rotation and dead
// grants"): a client secret rotated at the provider with the next one
// waiting in the connector, maxTokenLifetime, and invalid_grant.

const (
	currentSecret = "client-secret-current-0001"
	nextSecret    = "client-secret-next-0002"
	strangeSecret = "client-secret-unknown-0003"
)

// loggedInstance is instance with its own and its catalog's log captured.
func loggedInstance(t *testing.T, b testenv.Backends, clk *clock.Fake, name string, logs *logtest.Buffer) *mint.Service {
	s := instance(t, b, clk, name)
	l := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.Log, s.Catalog.Log = l, l
	return s
}

// rotatingClient is a client_credentials connector at fosite holding
// currentSecret and, next to it, nextSecret.
func rotatingClient(t *testing.T, b testenv.Backends) *oauthtest.Fosite {
	as := oauthtest.NewFosite(t)
	as.AddClient("cid", currentSecret, false, "read")
	in := clientCredentials("Svc", as.TokenURL())
	in.ClientSecret, in.NextClientSecret = ptr(currentSecret), ptr(nextSecret)
	in.HeaderAsPayload = ptr(false)
	createConnector(t, b, in)
	return as
}

// noSecretIn fails t when any of the client secrets appears in s.
func noSecretIn(t *testing.T, what, s string) {
	t.Helper()
	for _, v := range []string{currentSecret, nextSecret, strangeSecret} {
		if strings.Contains(s, v) {
			t.Fatalf("%s quotes a client secret: %s", what, s)
		}
	}
}

// TestNextClientSecretPromoted: the provider switched to the next secret;
// the mint after the switch is refused with the current one, succeeds with
// the next, and promotes it: the stored connector holds it as its client
// secret, no next one, and the following mint is one call, with no
// invalid_client.
func TestNextClientSecretPromoted(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		as := rotatingClient(t, b)
		clk := clock.NewFake()
		var logs logtest.Buffer
		s := loggedInstance(t, b, clk, "i1", &logs)
		if _, err := s.Token(ctx, "Svc", "agent-1"); err != nil {
			t.Fatalf("mint with the current secret: %v", err)
		}
		if c, bundle := stored(t, b, "Svc"); bundle.ClientSecret != currentSecret || !c.HasNextClientSecret {
			t.Fatal("a mint the current secret passed promoted the next one")
		}

		as.SetClientSecret("cid", nextSecret)
		clk.Advance(2 * time.Hour)
		calls := as.TokenCalls()
		if _, err := s.Token(ctx, "Svc", "agent-1"); err != nil {
			t.Fatalf("mint after the provider switched secrets: %v", err)
		}
		if n := as.TokenCalls() - calls; n != 2 {
			t.Fatalf("token calls %d, want 2 (current refused, next accepted)", n)
		}
		c, bundle := stored(t, b, "Svc")
		if bundle.ClientSecret != nextSecret || bundle.NextClientSecret != "" || c.HasNextClientSecret || !c.HasClientSecret {
			t.Fatalf("after the switch: client secret promoted %v, next one cleared %v, hasNextClientSecret %v",
				bundle.ClientSecret == nextSecret, bundle.NextClientSecret == "", c.HasNextClientSecret)
		}
		got, err := s.Catalog.Get(ctx, "Svc")
		if err != nil || got.HasNextClientSecret {
			t.Fatalf("get after promotion: %v, hasNextClientSecret %v", err, got != nil && got.HasNextClientSecret)
		}

		clk.Advance(2 * time.Hour)
		calls = as.TokenCalls()
		if _, err := s.Token(ctx, "Svc", "agent-1"); err != nil {
			t.Fatalf("mint after promotion: %v", err)
		}
		if n := as.TokenCalls() - calls; n != 1 {
			t.Fatalf("token calls after promotion %d, want 1 (no invalid_client)", n)
		}
		if !strings.Contains(logs.String(), "promoted the next client secret") {
			t.Fatalf("no log line tells of the promotion:\n%s", logs.String())
		}
		noSecretIn(t, "log", logs.String())
	})
}

// TestNextClientSecretConcurrentInstances: two instances force a mint at
// once after the switch, over and over; the secret is promoted exactly
// once, and the stored connector never loses it (every round mints).
func TestNextClientSecretConcurrentInstances(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		as := rotatingClient(t, b)
		clk := clock.NewFake()
		var logs logtest.Buffer
		instances := []*mint.Service{
			loggedInstance(t, b, clk, "i1", &logs),
			loggedInstance(t, testenv.Instance(t, b), clk, "i2", &logs),
		}
		for _, s := range instances {
			if _, err := s.Connector(ctx, "Svc"); err != nil { // both cache the two-secret metadata
				t.Fatal(err)
			}
		}
		as.SetClientSecret("cid", nextSecret)
		for round := range 3 {
			var wg sync.WaitGroup
			errs := make(chan error, len(instances))
			for _, s := range instances {
				wg.Go(func() {
					if _, err := s.Test(ctx, "Svc"); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("round %d: %v", round, err)
			}
			if _, bundle := stored(t, b, "Svc"); bundle.ClientSecret != nextSecret {
				t.Fatalf("round %d: the stored client secret is not the one the provider accepts", round)
			}
		}
		if n := strings.Count(logs.String(), "catalog: promoted the next client secret"); n != 1 {
			t.Fatalf("promotions logged %d, want 1:\n%s", n, logs.String())
		}
		noSecretIn(t, "log", logs.String())
	})
}

// TestWrongNextClientSecret: the provider accepts neither secret; the
// caller gets the provider's invalid_client (502 upstream_error), nothing
// is promoted, and no secret appears in the error or a log line.
func TestWrongNextClientSecret(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		as := rotatingClient(t, b)
		as.SetClientSecret("cid", strangeSecret)
		var logs logtest.Buffer
		s := loggedInstance(t, b, clock.NewFake(), "i1", &logs)
		before, _ := stored(t, b, "Svc")
		_, err := s.Token(ctx, "Svc", "agent-1")
		e := httpx.Map(err)
		if err == nil || e.Status != http.StatusBadGateway || e.Upstream == nil || e.Upstream.Error != "invalid_client" {
			t.Fatalf("error %v (mapped %+v), want 502 with the provider's invalid_client", err, e)
		}
		if n := as.TokenCalls(); n != 2 {
			t.Fatalf("token calls %d, want 2 (current, then next)", n)
		}
		after, bundle := stored(t, b, "Svc")
		if after.Revision != before.Revision || bundle.ClientSecret != currentSecret || bundle.NextClientSecret != nextSecret {
			t.Fatal("a refused next secret changed the connector")
		}
		noSecretIn(t, "error", err.Error())
		noSecretIn(t, "error message", e.Message+" "+e.Upstream.ErrorDescription)
		noSecretIn(t, "log", logs.String())
	})
}

// TestNextClientSecretPassesButGrantDead: the provider refuses the
// current secret and accepts the next one, but refuses the refresh token:
// the caller gets that invalid_grant, not the current secret's
// invalid_client, and nothing is promoted.
func TestNextClientSecretPassesButGrantDead(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		p := newProvider(t, "refresh-at-the-provider")
		p.ClientSecret = nextSecret
		in := refreshing("Mail", p.URL, "refresh-revoked")
		in.ClientSecret, in.NextClientSecret = ptr(currentSecret), ptr(nextSecret)
		createConnector(t, b, in)
		s := instance(t, b, clock.NewFake(), "A")
		_, err := s.Token(ctx, "Mail", "agent-1")
		if e := httpx.Map(err); e.Upstream == nil || e.Upstream.Error != "invalid_grant" {
			t.Fatalf("error %v (upstream %+v), want the provider's invalid_grant", err, e.Upstream)
		}
		if _, bundle := stored(t, b, "Mail"); bundle.ClientSecret != currentSecret || bundle.NextClientSecret != nextSecret {
			t.Fatal("a next secret whose request failed was promoted")
		}
		noSecretIn(t, "error", err.Error())
	})
}

// TestMaxTokenLifetime: a provider that omits expires_in gets the
// connector's maxTokenLifetime as the lifetime (not the default hour,
// whether shorter or longer), and one that claims a longer lifetime is
// capped by it: the cached token is minted again once it has passed.
func TestMaxTokenLifetime(t *testing.T) {
	tests := []struct {
		name      string
		expiresIn int // -1: omitted
		max       int
		want      time.Duration
	}{
		{"omitted, shorter than the default hour", -1, 600, 10 * time.Minute},
		{"omitted, longer than the default hour", -1, 8 * 3600, 8 * time.Hour},
		{"a year claimed, capped", 365 * 86400, 600, 10 * time.Minute},
		{"shorter claimed, kept", 300, 600, 5 * time.Minute},
		{"omitted, no maximum: the default hour", -1, 0, time.Hour},
	}
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				p := newProvider(t, "")
				p.ExpiresIn = tt.expiresIn
				name := "Life" + string(rune('A'+i))
				in := clientCredentials(name, p.URL)
				if tt.max != 0 {
					in.MaxTokenLifetime = ptr(tt.max)
				}
				createConnector(t, b, in)
				clk := clock.NewFake()
				s := instance(t, b, clk, "i1")
				c, err := s.Token(ctx, name, "agent-1")
				if err != nil {
					t.Fatal(err)
				}
				if got := c.Expiry.Sub(clk.Now()); got != tt.want {
					t.Fatalf("lifetime %v, want %v", got, tt.want)
				}
				clk.Advance(tt.want / 2)
				if _, err := s.Token(ctx, name, "agent-1"); err != nil || p.Calls.Load() != 1 {
					t.Fatalf("halfway: %v, provider calls %d, want 1", err, p.Calls.Load())
				}
				clk.Advance(tt.want / 2)
				if _, err := s.Token(ctx, name, "agent-1"); err != nil || p.Calls.Load() != 2 {
					t.Fatalf("at expiry: %v, provider calls %d, want 2", err, p.Calls.Load())
				}
			})
		}
	})
}

// TestInvalidGrantAfterRotationElsewhere: while this instance asks with
// the refresh token it read, another one rotates it and stores the new
// one; the provider refuses the old one (invalid_grant), and this instance
// reads the stored one again and mints with it. No reconnect is needed.
func TestInvalidGrantAfterRotationElsewhere(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		p := newProvider(t, "refresh-0")
		createConnector(t, b, refreshing("Mail", p.URL, "refresh-0"))
		admin := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}}
		p.Before = func(n int) {
			if n != 1 {
				return
			}
			// What the other instance did: the provider rotated refresh-0
			// into refresh-B for it, and it stored refresh-B.
			p.SetRefresh("refresh-B")
			cur, err := admin.Get(ctx, "Mail")
			if err == nil {
				_, err = admin.RotateRefreshToken(ctx, cur, "refresh-0", "refresh-B")
			}
			if err != nil {
				t.Error(err)
			}
		}
		s := instance(t, b, clock.NewFake(), "A")
		c, err := s.Token(ctx, "Mail", "agent-1")
		if err != nil {
			t.Fatalf("mint after a rotation elsewhere: %v", err)
		}
		if c.AccessToken == "" || p.Calls.Load() != 2 || p.InvalidGrants.Load() != 1 {
			t.Fatalf("provider calls %d (want 2), invalid_grant %d (want 1)", p.Calls.Load(), p.InvalidGrants.Load())
		}
		got, bundle := stored(t, b, "Mail")
		if got.NeedsReconnect || bundle.RefreshToken != p.CurrentRefresh() {
			t.Fatalf("needsReconnect %v, stored refresh token current %v", got.NeedsReconnect, bundle.RefreshToken == p.CurrentRefresh())
		}
	})
}

// TestDeadGrantNeedsReconnect: the provider refuses the stored refresh
// token itself; the caller gets 409 needs_reconnect with the provider's
// answer, the connector is marked since then, the next refusal keeps the
// first time, and a new refresh token from an admin clears the mark and
// mints.
func TestDeadGrantNeedsReconnect(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		p := newProvider(t, "refresh-0")
		createConnector(t, b, refreshing("Mail", p.URL, "refresh-0"))
		p.SetRefresh("revoked-at-the-provider") // the user revoked the grant
		clk := clock.NewFake()
		since := clk.Now().UTC().Truncate(time.Second)
		s := instance(t, b, clk, "A")
		_, err := s.Token(ctx, "Mail", "agent-1")
		var re *mint.ReconnectError
		e := httpx.Map(err)
		if !errors.As(err, &re) || e.Status != http.StatusConflict || e.Code != httpx.CodeNeedsReconnect ||
			e.Upstream == nil || e.Upstream.Error != "invalid_grant" {
			t.Fatalf("error %v mapped to %d %s (upstream %+v), want 409 needs_reconnect with the provider's invalid_grant", err, e.Status, e.Code, e.Upstream)
		}
		if strings.Contains(err.Error(), "refresh-0") || strings.Contains(e.Message, "refresh-0") {
			t.Fatalf("error quotes the refresh token: %v", err)
		}
		got, _ := stored(t, b, "Mail")
		if !got.NeedsReconnect || !got.NeedsReconnectSince.Equal(since) {
			t.Fatalf("needsReconnect %v since %v, want true since %v", got.NeedsReconnect, got.NeedsReconnectSince, since)
		}

		// Refused again later: the mark keeps its first time.
		clk.Advance(time.Hour)
		if _, err := s.Token(ctx, "Mail", "agent-1"); httpx.Map(err).Code != httpx.CodeNeedsReconnect {
			t.Fatalf("second refusal: %v", err)
		}
		again, _ := stored(t, b, "Mail")
		if !again.NeedsReconnectSince.Equal(since) || again.Revision != got.Revision {
			t.Fatalf("second refusal moved the mark: since %v, revision changed %v", again.NeedsReconnectSince, again.Revision != got.Revision)
		}

		// The admin reconnects: a new refresh token clears the mark.
		p.SetRefresh("refresh-new")
		admin := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}}
		updated, err := admin.Update(ctx, "Mail", "", &connector.Input{RefreshToken: ptr("refresh-new")}, "admin")
		if err != nil {
			t.Fatal(err)
		}
		if updated.NeedsReconnect || !updated.NeedsReconnectSince.IsZero() {
			t.Fatal("a new refresh token left needsReconnect set")
		}
		s.Forget("Mail")
		if _, err := s.Token(ctx, "Mail", "agent-1"); err != nil {
			t.Fatalf("mint after the reconnect: %v", err)
		}
	})
}

// TestMintClearsNeedsReconnect: a marked connector whose refresh token the
// provider accepts after all (the refusal was the provider's mistake) is
// unmarked by the mint that succeeds.
func TestMintClearsNeedsReconnect(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		p := newProvider(t, "refresh-0")
		p.ExpiresIn = 3600
		createConnector(t, b, refreshing("Mail", p.URL, "refresh-0"))
		admin := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}}
		cur, err := admin.Get(ctx, "Mail")
		if err != nil {
			t.Fatal(err)
		}
		if cur, err = admin.MarkNeedsReconnect(ctx, cur, "refresh-0"); err != nil || !cur.NeedsReconnect {
			t.Fatalf("mark: %v", err)
		}
		s := instance(t, b, clock.NewFake(), "A")
		if _, err := s.Token(ctx, "Mail", "agent-1"); err != nil {
			t.Fatal(err)
		}
		if got, _ := stored(t, b, "Mail"); got.NeedsReconnect {
			t.Fatal("a successful mint left needsReconnect set")
		}
	})
}
