package catalog_test

import (
	"context"
	"testing"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
)

// The writes minting makes besides a rotated refresh token (lifecycle.go),
// each given the connector as minting read it, which an admin's edit or
// another instance may have replaced meanwhile.

// lifecycleSvc creates Svc with a next client secret, and a refresh token
// when refresh is set, and returns it as created.
func lifecycleSvc(t *testing.T, cat *catalog.Catalog, refresh string) *connector.Connector {
	t.Helper()
	in := baseInput("Svc")
	in.NextClientSecret = ptr("secret-two")
	if refresh != "" {
		in.GrantType, in.RefreshToken = ptr("refresh_token"), ptr(refresh)
	}
	c, err := cat.Create(context.Background(), in, "tester")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func storedSvc(t *testing.T, cat *catalog.Catalog) (*connector.Connector, secret.Bundle) {
	t.Helper()
	c, err := cat.Get(context.Background(), "Svc")
	if err != nil {
		t.Fatal(err)
	}
	b, err := cat.Bundle(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return c, b
}

// TestPromoteAfterAdminEdit: promotion from a connector read before an
// admin's edit of another field promotes and keeps the edit; a second
// promotion (another instance's, from the same stale read) does nothing.
func TestPromoteAfterAdminEdit(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets}
		read := lifecycleSvc(t, cat, "")
		if _, err := cat.Update(ctx, "Svc", "", &connector.Input{Scope: ptr("write")}, "admin"); err != nil {
			t.Fatal(err)
		}
		got, promoted, err := cat.PromoteNextClientSecret(ctx, read, "secret-one", "secret-two")
		if err != nil || !promoted {
			t.Fatalf("promote: %v, promoted %v", err, promoted)
		}
		c, bundle := storedSvc(t, cat)
		if c.Revision != got.Revision || c.Scope != "write" || bundle.ClientSecret != "secret-two" || bundle.NextClientSecret != "" || c.HasNextClientSecret {
			t.Fatalf("after promotion: scope %q, client secret promoted %v, next cleared %v", c.Scope, bundle.ClientSecret == "secret-two", bundle.NextClientSecret == "")
		}
		again, promoted, err := cat.PromoteNextClientSecret(ctx, read, "secret-one", "secret-two")
		if err != nil || promoted || again.Revision != c.Revision {
			t.Fatalf("second promotion: %v, promoted %v, revision changed %v", err, promoted, again != nil && again.Revision != c.Revision)
		}
		if _, bundle := storedSvc(t, cat); bundle.ClientSecret != "secret-two" {
			t.Fatal("a second promotion lost the promoted secret")
		}
	})
}

// TestPromoteYieldsToAdminSecrets: an admin who gave another next secret
// (or another current one) meanwhile wins: nothing is promoted.
func TestPromoteYieldsToAdminSecrets(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit *connector.Input
	}{
		{"another next secret", &connector.Input{NextClientSecret: ptr("secret-three")}},
		{"another current secret", &connector.Input{ClientSecret: ptr("secret-four")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
				ctx := context.Background()
				cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets}
				read := lifecycleSvc(t, cat, "")
				if _, err := cat.Update(ctx, "Svc", "", tt.edit, "admin"); err != nil {
					t.Fatal(err)
				}
				before, want := storedSvc(t, cat)
				_, promoted, err := cat.PromoteNextClientSecret(ctx, read, "secret-one", "secret-two")
				if err != nil || promoted {
					t.Fatalf("promote: %v, promoted %v", err, promoted)
				}
				after, bundle := storedSvc(t, cat)
				if after.Revision != before.Revision || bundle != want {
					t.Fatal("promotion overwrote the admin's secrets")
				}
			})
		})
	}
}

// TestPromoteKeepsRotatedRefreshToken: a refresh token rotated after the
// read stays: the promotion writes the stored bundle, not the one read.
func TestPromoteKeepsRotatedRefreshToken(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets}
		read := lifecycleSvc(t, cat, "refresh-0")
		if _, err := cat.RotateRefreshToken(ctx, read, "refresh-0", "refresh-1"); err != nil {
			t.Fatal(err)
		}
		if _, promoted, err := cat.PromoteNextClientSecret(ctx, read, "secret-one", "secret-two"); err != nil || !promoted {
			t.Fatalf("promote: %v, promoted %v", err, promoted)
		}
		if _, bundle := storedSvc(t, cat); bundle.RefreshToken != "refresh-1" || bundle.ClientSecret != "secret-two" {
			t.Fatalf("after promotion: refresh token kept %v, client secret promoted %v", bundle.RefreshToken == "refresh-1", bundle.ClientSecret == "secret-two")
		}
	})
}

// TestMarkNeedsReconnect: the mark lands on the connector as stored (an
// admin's edit after the read is kept), only while the refused refresh
// token is still the stored one, and a new refresh token clears it.
func TestMarkNeedsReconnect(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets}
		read := lifecycleSvc(t, cat, "refresh-0")
		if _, err := cat.Update(ctx, "Svc", "", &connector.Input{Scope: ptr("write")}, "admin"); err != nil {
			t.Fatal(err)
		}
		marked, err := cat.MarkNeedsReconnect(ctx, read, "refresh-0")
		if err != nil || !marked.NeedsReconnect || marked.NeedsReconnectSince.IsZero() {
			t.Fatalf("mark: %v", err)
		}
		if c, _ := storedSvc(t, cat); !c.NeedsReconnect || c.Scope != "write" {
			t.Fatalf("stored: needsReconnect %v, scope %q", c.NeedsReconnect, c.Scope)
		}
		cleared, err := cat.Update(ctx, "Svc", "", &connector.Input{RefreshToken: ptr("refresh-new")}, "admin")
		if err != nil || cleared.NeedsReconnect || !cleared.NeedsReconnectSince.IsZero() {
			t.Fatalf("a new refresh token: %v, needsReconnect %v", err, cleared != nil && cleared.NeedsReconnect)
		}
		// A late mark for the old token, from a stale read: the token it
		// names is no longer stored, so nothing is marked.
		if got, err := cat.MarkNeedsReconnect(ctx, read, "refresh-0"); err != nil || got.NeedsReconnect {
			t.Fatalf("late mark: %v, marked %v", err, got != nil && got.NeedsReconnect)
		}
		if c, _ := storedSvc(t, cat); c.NeedsReconnect {
			t.Fatal("a mark for a replaced refresh token landed")
		}
	})
}
