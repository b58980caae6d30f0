package connectors_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/shared/testenv"
)

// TestHealthFieldsAndStateFilter: get and list show each connector's
// health (read-only: a client cannot set it), a health write changes no
// revision, and list filters by state, page by page, POST and GET; an
// unknown state is 400 on state.
func TestHealthFieldsAndStateFilter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		e := newEnv(t, b, nil)
		for _, n := range []string{"A1", "B1", "D1"} {
			e.mustCall(connectors.FnCreate, clientCreds(n, "billing"), http.StatusCreated)
		}
		created := e.mustCall(connectors.FnCreate, gmailConnector("mailer"), http.StatusCreated)
		if created["state"] != "ok" || created["consecutiveFailures"] != float64(0) {
			t.Fatalf("a new connector's health: %v", created)
		}
		bad := clientCreds("Other")
		bad["state"] = "ok"
		if code, body := e.call(connectors.FnCreate, bad); code != http.StatusBadRequest || errField(body) != "state" {
			t.Fatalf("create with state: %d %v", code, body)
		}

		// What minting records (the catalog call it makes).
		before := e.mustCall(connectors.FnGet, map[string]any{"name": "B1"}, http.StatusOK)
		for _, n := range []string{"B1", "D1"} {
			c, err := e.cat.Get(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			e.cat.RecordMint(ctx, c, "temporarily_unavailable", false)
		}
		a1, err := e.cat.Get(ctx, "A1")
		if err != nil {
			t.Fatal(err)
		}
		e.cat.RecordMint(ctx, a1, "", false)
		gm, err := e.cat.Get(ctx, "GmailAPI")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.cat.MarkNeedsReconnect(ctx, gm, gmailRefresh); err != nil {
			t.Fatal(err)
		}
		e.cat.RecordMint(ctx, gm, "invalid_grant", true)

		got := e.mustCall(connectors.FnGet, map[string]any{"name": "B1"}, http.StatusOK)
		if got["state"] != "failing" || got["lastErrorCode"] != "temporarily_unavailable" || got["consecutiveFailures"] != float64(1) || got["lastFailureAt"] == nil || got["stateSince"] == nil {
			t.Fatalf("get of a failing connector: %v", got)
		}
		if got["revision"] != before["revision"] {
			t.Fatal("a health write changed the connector's revision")
		}
		if a := e.mustCall(connectors.FnGet, map[string]any{"name": "A1"}, http.StatusOK); a["state"] != "ok" || a["lastSuccessAt"] == nil || a["lastErrorCode"] != nil {
			t.Fatalf("get of a healthy connector: %v", a)
		}
		if g := e.mustCall(connectors.FnGet, map[string]any{"name": "GmailAPI"}, http.StatusOK); g["state"] != "needs_reconnect" || g["lastErrorCode"] != "invalid_grant" || g["stateSince"] != g["needsReconnectSince"] {
			t.Fatalf("get of a connector that needs a reconnect: %v", g)
		}
		all := e.mustCall(connectors.FnList, map[string]any{}, http.StatusOK)
		for _, c := range all["connectors"].([]any) {
			if c.(map[string]any)["state"] == nil {
				t.Fatalf("list item without state: %v", c)
			}
		}

		cases := map[string]string{"failing": "B1,D1", "ok": "A1", "needs_reconnect": "GmailAPI"}
		for state, want := range cases {
			out := e.mustCall(connectors.FnList, map[string]any{"state": state}, http.StatusOK)
			if g := strings.Join(names(out), ","); g != want {
				t.Errorf("POST list state=%s: %q, want %q", state, g, want)
			}
			code, out := e.get(connectors.FnList, url.Values{"state": {state}})
			if g := strings.Join(names(out), ","); code != http.StatusOK || g != want {
				t.Errorf("GET list state=%s: %d %q, want %q", state, code, g, want)
			}
		}
		// One per page: each page holds the next failing connector.
		var seen []string
		body := map[string]any{"state": "failing", "pageSize": 1}
		for range 4 {
			out := e.mustCall(connectors.FnList, body, http.StatusOK)
			seen = append(seen, names(out)...)
			tok, _ := out["nextPageToken"].(string)
			if tok == "" {
				break
			}
			body["pageToken"] = tok
		}
		if g := strings.Join(seen, ","); g != "B1,D1" {
			t.Fatalf("paged state=failing: %q", g)
		}
		filtered := e.mustCall(connectors.FnList, map[string]any{"state": "failing", "agent": "billing"}, http.StatusOK)
		if g := strings.Join(names(filtered), ","); g != "B1,D1" {
			t.Fatalf("state and agent: %q", g)
		}

		for _, v := range []string{"broken", "OK", "Failing ", "needs-reconnect"} {
			if code, out := e.call(connectors.FnList, map[string]any{"state": v}); code != http.StatusBadRequest || errField(out) != "state" {
				t.Errorf("POST list state=%q: %d %v", v, code, out)
			}
			if code, out := e.get(connectors.FnList, url.Values{"state": {v}}); code != http.StatusBadRequest || errField(out) != "state" {
				t.Errorf("GET list state=%q: %d %v", v, code, out)
			}
		}

		// Deleted: a connector created again under the name starts afresh.
		e.mustCall(connectors.FnDelete, map[string]any{"name": "B1"}, http.StatusOK)
		e.mustCall(connectors.FnCreate, clientCreds("B1", "billing"), http.StatusCreated)
		// Read back, not the create's answer: that is always a fresh
		// record, whatever the store holds under the name.
		again := e.mustCall(connectors.FnGet, map[string]any{"name": "B1"}, http.StatusOK)
		if again["state"] != "ok" || again["lastErrorCode"] != nil {
			t.Fatalf("a connector created under a deleted one's name inherits its health: %v", again)
		}
	})
}
