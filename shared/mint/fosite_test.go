package mint_test

import (
	"net/http"
	"testing"
	"time"

	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/testenv"
)

// TestConcurrencyRotationFosite is TestConcurrencyRotation against a real
// authorization server, ORY fosite, which rotates refresh tokens and, on the
// reuse of one, revokes the whole chain: 4 instances × 250 concurrent
// requests after each expiry cause exactly one refresh, never an
// invalid_grant, and the secret store always holds fosite's current refresh
// token.
func TestConcurrencyRotationFosite(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		as := oauthtest.NewFosite(t)
		// The client refreshing() configures, with client_secret_post.
		as.AddClient("cid", "client-secret-mint-test", false, "read", "offline")
		as.AddUser("alice", "wonderland")
		initial := as.RefreshToken(t, "cid", "alice", "read")

		clk := clock.NewFake()
		input := refreshing("Mail", as.TokenURL(), initial)
		input.HeaderAsPayload = ptr(false) // client_secret_post
		createConnector(t, b, input)
		instances := fourInstances(t, b, clk)

		// storedRefresh is the refresh token in the secret store.
		storedRefresh := func() string {
			t.Helper()
			_, bundle := stored(t, b, "Mail")
			if bundle.ClientSecret != "client-secret-mint-test" {
				t.Fatal("stored bundle lost the client secret")
			}
			return bundle.RefreshToken
		}

		const (
			rounds = 3
			n      = 250
		)
		used := []string{initial} // refresh tokens in the order issued
		var prevAccess string
		for round := 1; round <= rounds; round++ {
			// Our clock decides expiry (fosite's tokens live 30 real
			// minutes): past it, every instance must refresh.
			clk.Advance(2 * time.Hour)
			calls, invalid := as.TokenCalls(), as.InvalidGrants()
			start := time.Now()
			tokens := burst(t, instances, "Mail", n)
			elapsed := time.Since(start)
			calls, invalid = as.TokenCalls()-calls, as.InvalidGrants()-invalid
			if len(tokens) != 1 {
				t.Fatalf("round %d: distinct tokens %d, want 1", round, len(tokens))
			}
			var access string
			for tok, count := range tokens {
				access = tok
				if count != len(instances)*n {
					t.Fatalf("round %d: %d of %d requests got the token", round, count, len(instances)*n)
				}
			}
			in := as.Introspect(t, access)
			rt := storedRefresh()
			rtIn := as.Introspect(t, rt)
			prevRTIn := as.Introspect(t, used[len(used)-1])
			prevATActive := prevAccess != "" && as.Introspect(t, prevAccess).Active
			t.Logf("%s round %d: %d x %d concurrent requests in %v: %d token-endpoint call(s), %d invalid_grant, %d distinct token(s); access token active %v (scope %q), previous one active %v; stored refresh token rotated %v, active %v, previous one active %v",
				b.Kind, round, len(instances), n, elapsed.Round(time.Millisecond), calls, invalid, len(tokens),
				in.Active, in.Scope, prevATActive, rt != used[len(used)-1], rtIn.Active, prevRTIn.Active)
			if calls != 1 || invalid != 0 {
				t.Fatalf("round %d: token-endpoint calls %d (want 1), invalid_grant %d (want 0)", round, calls, invalid)
			}
			if !in.Active || in.Scope != "read offline" {
				t.Fatalf("round %d: introspection of the access token = %+v", round, in)
			}
			// fosite's current refresh token is active and its
			// predecessor is not; introspection redeems neither.
			if rt == used[len(used)-1] || !rtIn.Active || prevRTIn.Active {
				t.Fatalf("round %d: stored refresh token is not fosite's current one (rotated %v, active %v, predecessor active %v)",
					round, rt != used[len(used)-1], rtIn.Active, prevRTIn.Active)
			}
			used = append(used, rt)
			prevAccess = access
		}
		// The password grant, then one refresh a round.
		total, invalid := as.TokenCalls(), as.InvalidGrants()
		if total != 1+rounds || invalid != 0 {
			t.Fatalf("token-endpoint calls %d (want %d), invalid_grant %d (want 0)", total, 1+rounds, invalid)
		}

		// Last, since fosite then revokes the chain: the previous refresh
		// token is refused, and the stored one was the one to keep.
		prev := used[len(used)-2]
		r := as.Refresh(t, "cid", prev)
		current := as.Introspect(t, used[len(used)-1])
		t.Logf("%s: %d rounds of %d x %d: %d refresh call(s), %d invalid_grant; then the previous refresh token reused: HTTP %d %s, chain revoked: %v",
			b.Kind, rounds, len(instances), n, total-1, invalid, r.Status, r.Error, !current.Active)
		if r.Status != http.StatusBadRequest || r.Error != "invalid_grant" {
			t.Fatalf("previous refresh token: HTTP %d %q, want 400 invalid_grant", r.Status, r.Error)
		}
		if as.InvalidGrants() != 1 {
			t.Fatalf("invalid_grant %d, want only the deliberate one", as.InvalidGrants())
		}
	})
}
