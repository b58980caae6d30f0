package connect_test

import (
	"context"
	"net/http"
	"testing"

	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/testenv"
)

// TestReconnectAfterDeadGrant: the user revokes the grant at the provider
// (fosite, RFC 7009); the next mint gets invalid_grant for the stored
// refresh token itself, so it answers 409 needs_reconnect and marks the
// connector; the admin connects again through the flow, which clears the
// mark, and the connector mints.
func TestReconnectAfterDeadGrant(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		f := newFlow(t, b)
		f.create("Mail")
		if status, outcome, _ := f.callback(f.start(alice, "Mail"), alice); status != http.StatusSeeOther || outcome.Get("connect") != "ok" {
			t.Fatalf("connect: %d %v", status, outcome)
		}
		c := f.get("Mail")
		bundle, err := f.cat.Bundle(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		f.srv.Revoke(t, appID, appSecret, true, bundle.RefreshToken)

		_, err = f.minter.Test(ctx, "Mail")
		if e := httpx.Map(err); e.Status != http.StatusConflict || e.Code != httpx.CodeNeedsReconnect {
			t.Fatalf("mint after the revocation: %v (mapped %d %s), want 409 needs_reconnect", err, e.Status, e.Code)
		}
		if c := f.get("Mail"); !c.NeedsReconnect || c.NeedsReconnectSince.IsZero() {
			t.Fatalf("after the refusal: needsReconnect %v since %v", c.NeedsReconnect, c.NeedsReconnectSince)
		}

		if status, outcome, _ := f.callback(f.start(alice, "Mail"), alice); status != http.StatusSeeOther || outcome.Get("connect") != "ok" {
			t.Fatalf("reconnect: %d %v", status, outcome)
		}
		if c := f.get("Mail"); c.NeedsReconnect || !c.NeedsReconnectSince.IsZero() {
			t.Fatal("the reconnect left needsReconnect set")
		}
		if _, err := f.minter.Test(ctx, "Mail"); err != nil {
			t.Fatalf("mint after the reconnect: %v", err)
		}
	})
}
