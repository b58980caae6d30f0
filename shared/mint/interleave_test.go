package mint_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
)

// The interleaving tests: concurrent writers of one connector's secrets
// (admins' updates, rotations of refresh tokens, tests) on both secret
// backends, against fosite, which rotates refresh tokens and revokes the
// whole grant when a superseded one comes back. The catalog's fault tests
// cut a backend at every step of one mutation; these run the mutations
// into each other.

const fositeSecret = "client-secret-interleave"

// adminCatalogs are n catalogs over b's data, each with its own backend
// clients, as n instances of the connectors function would be.
func adminCatalogs(t *testing.T, b testenv.Backends, n int) []*catalog.Catalog {
	var out []*catalog.Catalog
	for i := range n {
		ib := b
		if i > 0 {
			ib = testenv.Instance(t, b)
		}
		out = append(out, &catalog.Catalog{Store: ib.Store, Secrets: ib.Secrets, Options: connector.Options{AllowInsecureURLs: true}})
	}
	return out
}

// checkPinned fails unless the stored connector's pinned secret version
// is readable and holds want as its client secret.
func checkPinned(t *testing.T, b testenv.Backends, name, want string) {
	t.Helper()
	if _, bundle := stored(t, b, name); bundle.ClientSecret != want {
		t.Fatalf("%s: pinned client secret is not the one written", name)
	}
}

// TestInterleavedClientSecretUpdates: rounds of concurrent clientSecret
// updates, from six admin instances, on six connectors. Each update
// commits a new secret version and prunes older ones; no prune may
// destroy a version another writer committed meanwhile. Every update
// succeeds or loses the race with 409 (never another error), and
// afterwards every connector mints at fosite with the secret it holds.
func TestInterleavedClientSecretUpdates(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		as := oauthtest.NewFosite(t)
		as.AddClient("cid", fositeSecret, false, "read")
		const (
			connectors = 6
			writers    = 6
			rounds     = 3
		)
		names := make([]string, connectors)
		for i := range names {
			names[i] = fmt.Sprintf("Api%d", i)
			in := clientCredentials(names[i], as.TokenURL())
			in.ClientSecret = ptr(fositeSecret)
			in.HeaderAsPayload = ptr(false)
			createConnector(t, b, in)
		}
		admins := adminCatalogs(t, b, writers)
		svc := instance(t, b, clock.NewFake(), "tester")
		var ok, conflicts atomic.Int64
		for round := 1; round <= rounds; round++ {
			var wg sync.WaitGroup
			errs := make(chan error, connectors*writers)
			for _, name := range names {
				for w := range writers {
					wg.Go(func() {
						_, err := admins[w].Update(ctx, name, "", &connector.Input{ClientSecret: ptr(fositeSecret)}, "admin")
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, connector.ErrConflict):
							conflicts.Add(1)
						default:
							errs <- fmt.Errorf("round %d: update of %s: %w", round, name, err)
						}
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for _, name := range names {
				checkPinned(t, b, name, fositeSecret)
				if _, err := svc.Test(ctx, name); err != nil {
					t.Fatalf("round %d: %s no longer mints: %v", round, name, err)
				}
			}
		}
		t.Logf("%s: %d rounds × %d connectors × %d writers: %d updates committed, %d lost the race (409)",
			b.Kind, rounds, connectors, writers, ok.Load(), conflicts.Load())
		if ok.Load() < int64(rounds*connectors) {
			t.Fatalf("only %d updates committed; want at least one per connector and round", ok.Load())
		}
	})
}

// TestInterleavedRotationAndAdminEdits: refreshes at a rotating provider
// (forced, through Test, on four minting instances) while admins re-type
// the client secret (a new secret version, pruning the one the refresh
// read) and edit metadata. The refresh token fosite issued is stored
// every time, so no refresh ever sends a superseded one: fosite never
// answers invalid_grant and the grant is never revoked.
func TestInterleavedRotationAndAdminEdits(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		as := oauthtest.NewFosite(t)
		as.AddClient("cid", fositeSecret, false, "read", "offline")
		as.AddUser("alice", "wonderland")
		in := refreshing("Mail", as.TokenURL(), as.RefreshToken(t, "cid", "alice", "read"))
		in.ClientSecret = ptr(fositeSecret)
		in.HeaderAsPayload = ptr(false)
		createConnector(t, b, in)
		clk := clock.NewFake()
		minters := fourInstances(t, b, clk)
		admins := adminCatalogs(t, b, 2)

		const refreshes = 16
		stop := make(chan struct{})
		var edits atomic.Int64
		var wg sync.WaitGroup
		for i, admin := range admins {
			wg.Go(func() {
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					change := &connector.Input{ClientSecret: ptr(fositeSecret)}
					if (n+i)%2 == 1 {
						change = &connector.Input{Agents: ptr([]string{"agent-1", fmt.Sprintf("agent-%d", n%5+2)})}
					}
					if _, err := admin.Update(ctx, "Mail", "", change, "admin"); err != nil && !errors.Is(err, connector.ErrConflict) {
						t.Errorf("admin %d: update: %v", i, err)
					}
					edits.Add(1)
					// About as often as the refreshes, so that most
					// refreshes overlap an edit.
					time.Sleep(time.Duration(5+3*(n%7)) * time.Millisecond)
				}
			})
		}
		var failed atomic.Int64
		var mw sync.WaitGroup
		for i := range refreshes {
			mw.Go(func() {
				if _, err := minters[i%len(minters)].Test(ctx, "Mail"); err != nil {
					failed.Add(1)
					t.Errorf("refresh %d: %v", i, err)
				}
			})
			if i%4 == 3 {
				mw.Wait()
			}
		}
		mw.Wait()
		close(stop)
		wg.Wait()
		t.Logf("%s: %d forced refreshes (%d failed) against %d concurrent admin edits; fosite: %d token calls, %d invalid_grant",
			b.Kind, refreshes, failed.Load(), edits.Load(), as.TokenCalls(), as.InvalidGrants())
		if as.InvalidGrants() != 0 {
			t.Fatalf("fosite answered invalid_grant %d times: a superseded refresh token was sent and the grant revoked", as.InvalidGrants())
		}
		// The stored refresh token is fosite's current one, and works.
		_, bundle := stored(t, b, "Mail")
		if !as.Introspect(t, bundle.RefreshToken).Active {
			t.Fatal("the stored refresh token is not active at fosite")
		}
		if _, err := minters[0].Test(ctx, "Mail"); err != nil {
			t.Fatalf("refresh after the edits: %v", err)
		}
	})
}

// refreshDuring creates the refreshing connector Mail and mints from it
// once, at a provider that runs edit with an admin's catalog while it holds
// the refresh; it returns the mint's error.
// The provider holds the refresh at the moment the minting instance has
// sent the old refresh token and not yet stored the new one (fosite cannot
// be paused there); the rotated token it issues is "refresh-1".
func refreshDuring(t *testing.T, b testenv.Backends, edit func(admin *catalog.Catalog)) error {
	t.Helper()
	admin := adminCatalogs(t, b, 1)[0]
	p := newProvider(t, "rt-0")
	p.Before = func(int) { edit(admin) }
	createConnector(t, b, refreshing("Mail", p.URL, "rt-0"))
	_, err := instance(t, b, clock.NewFake(), "minter").Token(context.Background(), "Mail", "agent-1")
	return err
}

// TestRotationSurvivesEditsMidRefresh: an admin edit that re-types the
// client secret lands while the provider holds the refresh. The version
// the refresh read is pruned by then; the rotated refresh token must still
// be stored (on the connector as now stored, keeping the admin's edit).
func TestRotationSurvivesEditsMidRefresh(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		err := refreshDuring(t, b, func(admin *catalog.Catalog) {
			for _, change := range []*connector.Input{
				{ClientSecret: ptr("client-secret-retyped")},
				{Agents: ptr([]string{"agent-1", "agent-2"})},
			} {
				if _, err := admin.Update(ctx, "Mail", "", change, "admin"); err != nil {
					t.Errorf("admin edit mid-refresh: %v", err)
				}
			}
		})
		if err != nil {
			t.Fatalf("token: %v", err)
		}
		c, bundle := stored(t, b, "Mail")
		if bundle.RefreshToken != "refresh-1" {
			t.Fatal("the refresh token the provider rotated to was not stored")
		}
		if bundle.ClientSecret != "client-secret-retyped" || !c.HasAgent("agent-2") {
			t.Fatal("the admin's edits were lost to the rotation")
		}
	})
}

// TestRotationExplicitReplacementWins: an admin who replaces the refresh
// token itself mid-refresh keeps theirs; the rotation does not overwrite
// it.
func TestRotationExplicitReplacementWins(t *testing.T) {
	ctx := context.Background()
	b := testenv.New(t, testenv.Embedded)
	err := refreshDuring(t, b, func(admin *catalog.Catalog) {
		if _, err := admin.Update(ctx, "Mail", "", &connector.Input{RefreshToken: ptr("rt-admin")}, "admin"); err != nil {
			t.Errorf("admin edit mid-refresh: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	if _, bundle := stored(t, b, "Mail"); bundle.RefreshToken != "rt-admin" {
		t.Fatal("the admin's explicit refresh token was overwritten by the rotation")
	}
}

// TestRotationIntoDeletedConnectorFails: the connector is deleted while
// the provider holds the refresh. Storing the rotated token fails; the
// caller gets that error, and the process lives (it used to panic in the
// single-flight goroutine, ending every request in flight).
func TestRotationIntoDeletedConnectorFails(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		err := refreshDuring(t, b, func(admin *catalog.Catalog) {
			if err := admin.Delete(ctx, "Mail", ""); err != nil {
				t.Errorf("delete mid-refresh: %v", err)
			}
		})
		if !errors.Is(err, connector.ErrNotFound) {
			t.Fatalf("token after a delete mid-refresh: got %v, want ErrNotFound", err)
		}
	})
}

// TestFillPanicIsAnError: a minter that panics fails its callers with
// ErrPanic (a 500) and leaves the process, and the next fill, alone.
func TestFillPanicIsAnError(t *testing.T) {
	ctx := context.Background()
	b := testenv.New(t, testenv.Embedded)
	createConnector(t, b, clientCredentials("Boom", "http://127.0.0.1:1/token"))
	svc := instance(t, b, clock.NewFake(), "minter")
	var calls atomic.Int64
	svc.ByGrant = map[string]mint.Minter{connector.GrantClientCredentials: mint.MinterFunc(
		func(ctx context.Context, c *connector.Connector, _ secret.Bundle) (*mint.Minted, error) {
			if calls.Add(1) == 1 {
				var nilConn *connector.Connector
				_ = nilConn.Name // the kind of bug issue 10 found
			}
			return &mint.Minted{Credential: mint.Credential{AccessToken: "ok", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}}, nil
		})}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = svc.Token(ctx, "Boom", "agent-1") })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, mint.ErrPanic) {
			t.Fatalf("caller %d: got %v, want ErrPanic", i, err)
		}
	}
	// The lease the panicking fill held must not block the next one.
	if c, err := svc.Token(ctx, "Boom", "agent-1"); err != nil || c.AccessToken != "ok" {
		t.Fatalf("after the panic: %v", err)
	}
}
