package connectors_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/shared/testenv"
)

// TestLifecycleFields: nextClientSecret is write-only (only
// hasNextClientSecret comes back), maxTokenLifetime is stored and shown,
// and needsReconnect/needsReconnectSince are shown in get and list but no
// client can set them; a new refresh token clears them.
func TestLifecycleFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		e := newEnv(t, b, nil)
		in := gmailConnector("mailer")
		in["nextClientSecret"] = newSecret
		in["maxTokenLifetime"] = 3600
		out := e.mustCall(connectors.FnCreate, in, http.StatusCreated)
		if out["hasNextClientSecret"] != true || out["maxTokenLifetime"] != float64(3600) || out["needsReconnect"] != false {
			t.Fatalf("created: %v", out)
		}
		if _, ok := out["nextClientSecret"]; ok {
			t.Fatalf("response carries nextClientSecret: %v", out)
		}
		if _, ok := out["needsReconnectSince"]; ok {
			t.Fatalf("an unmarked connector shows needsReconnectSince: %v", out)
		}

		// Read-only: a client cannot set the mark, on create or update.
		bad := clientCreds("Other")
		bad["needsReconnect"] = true
		if code, body := e.call(connectors.FnCreate, bad); code != http.StatusBadRequest || errField(body) != "needsReconnect" {
			t.Fatalf("create with needsReconnect: %d %v", code, body)
		}
		for _, field := range []string{"needsReconnect", "needsReconnectSince"} {
			changes := map[string]any{field: false}
			if field == "needsReconnectSince" {
				changes[field] = "2026-01-01T00:00:00Z"
			}
			code, body := e.call(connectors.FnUpdate, map[string]any{"name": "GmailAPI", "changes": changes})
			if code != http.StatusBadRequest || errField(body) != "changes."+field {
				t.Fatalf("update of %s: %d %v", field, code, body)
			}
		}

		// Minting marks it (here: the catalog call minting makes).
		c, err := e.cat.Get(ctx, "GmailAPI")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.cat.MarkNeedsReconnect(ctx, c, gmailRefresh); err != nil {
			t.Fatal(err)
		}
		got := e.mustCall(connectors.FnGet, map[string]any{"name": "GmailAPI"}, http.StatusOK)
		since, _ := got["needsReconnectSince"].(string)
		if got["needsReconnect"] != true {
			t.Fatalf("get after the mark: %v", got)
		}
		if ts, err := time.Parse(time.RFC3339, since); err != nil || time.Since(ts) > time.Minute {
			t.Fatalf("needsReconnectSince %q: %v", since, err)
		}
		list := e.mustCall(connectors.FnList, map[string]any{}, http.StatusOK)
		items, _ := list["connectors"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["needsReconnect"] != true || items[0].(map[string]any)["needsReconnectSince"] != since {
			t.Fatalf("list after the mark: %v", list)
		}

		// A new refresh token (as the connect flow's callback stores it)
		// clears the mark.
		upd := e.mustCall(connectors.FnUpdate, map[string]any{"name": "GmailAPI", "changes": map[string]any{"refreshToken": gmailRefresh}}, http.StatusOK)
		if upd["needsReconnect"] != false {
			t.Fatalf("update with a refresh token: %v", upd)
		}
		if _, ok := upd["needsReconnectSince"]; ok {
			t.Fatalf("needsReconnectSince left after a reconnect: %v", upd)
		}
	})
}
