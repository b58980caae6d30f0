package connect_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/functions/connect"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/testenv"
)

// TestConnectFlow drives the whole flow against the real authorization
// server (fosite: authorization code, PKCE S256 enforced, rotating refresh
// tokens): connectors-authorize → consent at the provider → oauth-callback
// → the stored refresh token mints, on both backends.
func TestConnectFlow(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		f := newFlow(t, b)
		f.create("Mail")
		if _, err := f.minter.Test(context.Background(), "Mail"); err == nil {
			t.Fatal("an unconnected connector minted")
		}
		status, body := f.authorize(alice, map[string]any{"name": "Mail", "returnTo": "/console?view=Mail"})
		if status != http.StatusOK {
			t.Fatalf("authorize: %d %v", status, body)
		}
		au, _ := url.Parse(body["authorizationUrl"].(string))
		q := au.Query()
		for k, want := range map[string]string{
			"response_type": "code", "client_id": appID, "redirect_uri": f.client.URL + "/" + connect.FnCallback,
			"scope": "read offline", "code_challenge_method": "S256", "prompt": "consent",
		} {
			if q.Get(k) != want {
				t.Errorf("authorization URL %s = %q, want %q", k, q.Get(k), want)
			}
		}
		if len(q.Get("state")) < 43 || len(q.Get("code_challenge")) != 43 || q.Get("code_verifier") != "" {
			t.Errorf("state %q, code_challenge %q: want 256-bit state and an S256 challenge, no verifier", q.Get("state"), q.Get("code_challenge"))
		}
		if !strings.HasPrefix(au.String(), f.srv.AuthorizeURL()+"?") || body["expiresIn"] != float64(600) {
			t.Errorf("authorization URL %s, expiresIn %v", au, body["expiresIn"])
		}
		cb := f.consent(au.String())
		status, outcome, loc := f.callback(cb, alice)
		if status != http.StatusSeeOther || outcome.Get("connect") != "ok" || outcome.Get("connector") != "Mail" ||
			!strings.HasPrefix(loc, f.client.URL+"/console?view=Mail#") {
			t.Fatalf("callback: %d %v %s", status, outcome, loc)
		}
		c := f.get("Mail")
		if !c.HasRefreshToken || c.UpdatedBy != alice {
			t.Fatalf("after connect: hasRefreshToken %v, updatedBy %s", c.HasRefreshToken, c.UpdatedBy)
		}
		cred, err := f.minter.Test(context.Background(), "Mail")
		if err != nil {
			t.Fatalf("mint from the connected account: %v", err)
		}
		if in := f.srv.Introspect(t, cred.AccessToken); !in.Active || in.ClientID != appID {
			t.Fatalf("minted token: %+v", in)
		}
		// The same callback again: the state was used.
		status, _, _ = f.callback(cb, alice)
		if status != http.StatusBadRequest {
			t.Fatalf("replayed state: %d, want 400", status)
		}
		if f.get("Mail").Revision == c.Revision {
			// Minting rotated the refresh token (a new revision); the replay
			// must not have stored anything of its own.
			t.Log("the mint kept the revision")
		}
		if !strings.Contains(f.logs.String(), `"action":"connect"`) {
			t.Error("no audit line for connect")
		}
	})
}

// TestCallbackRefusals: a replayed state, an expired one, another admin's,
// a changed connector, a wrong verifier and the provider's own refusal each
// end without a refresh token stored.
func TestCallbackRefusals(t *testing.T) {
	f := newFlow(t, testenv.New(t, testenv.Embedded))
	unchanged := func(t *testing.T, name string, before *connector.Connector) {
		t.Helper()
		if after := f.get(name); after.Revision != before.Revision || after.HasRefreshToken {
			t.Fatalf("the connector changed: revision %s → %s, hasRefreshToken %v", before.Revision, after.Revision, after.HasRefreshToken)
		}
	}
	t.Run("replayed state", func(t *testing.T) {
		f.create("Replay")
		cb := f.start(alice, "Replay")
		if status, outcome, _ := f.callback(cb, alice); outcome.Get("connect") != "ok" {
			t.Fatalf("first callback: %d %v", status, outcome)
		}
		before := f.get("Replay")
		if status, outcome, _ := f.callback(cb, alice); status != http.StatusBadRequest || outcome.Get("connect") != "" {
			t.Fatalf("replay: %d %v, want 400 without a redirect", status, outcome)
		}
		if f.get("Replay").Revision != before.Revision {
			t.Fatal("the replay changed the connector")
		}
	})
	t.Run("expired state", func(t *testing.T) {
		before := f.create("Expired")
		cb := f.start(alice, "Expired")
		f.advance(connect.StateTTL + time.Second)
		defer f.advance(-(connect.StateTTL + time.Second))
		status, outcome, _ := f.callback(cb, alice)
		if status != http.StatusBadRequest || outcome.Get("connect") != "" {
			t.Fatalf("expired: %d %v, want 400 without a redirect", status, outcome)
		}
		unchanged(t, "Expired", before)
	})
	t.Run("another admin", func(t *testing.T) {
		before := f.create("Forwarded")
		cb := f.start(alice, "Forwarded")
		if status, outcome, _ := f.callback(cb, bob); status != http.StatusForbidden || outcome.Get("connect") != "" {
			t.Fatalf("bob on alice's callback: %d %v, want 403 without a redirect", status, outcome)
		}
		unchanged(t, "Forwarded", before)
		// The link is spent: alice cannot finish it afterwards either.
		if status, _, _ := f.callback(cb, alice); status != http.StatusBadRequest {
			t.Fatalf("alice after bob: %d, want 400", status)
		}
		unchanged(t, "Forwarded", before)
	})
	t.Run("no identity", func(t *testing.T) {
		f.create("Anon")
		cb := f.start(alice, "Anon")
		if status, _, _ := f.callback(cb, ""); status != http.StatusUnauthorized {
			t.Fatalf("callback without an identity: %d, want 401", status)
		}
	})
	t.Run("mismatched revision", func(t *testing.T) {
		f.create("Moved")
		cb := f.start(alice, "Moved")
		changed, err := f.cat.Update(context.Background(), "Moved", "", &connector.Input{Scope: ptr("read")}, bob)
		if err != nil {
			t.Fatal(err)
		}
		status, outcome, _ := f.callback(cb, alice)
		if status != http.StatusConflict || outcome.Get("connect") != "" {
			t.Fatalf("changed connector: %d %v, want 409 without a redirect", status, outcome)
		}
		unchanged(t, "Moved", changed)
	})
	t.Run("wrong verifier", func(t *testing.T) {
		before := f.create("Pkce")
		f.states.mu.Lock()
		f.states.corrupt = true
		f.states.mu.Unlock()
		cb := f.start(alice, "Pkce")
		status, outcome, _ := f.callback(cb, alice)
		if status != http.StatusSeeOther || outcome.Get("error") != "invalid_grant" {
			t.Fatalf("wrong verifier: %d %v, want the provider's invalid_grant", status, outcome)
		}
		unchanged(t, "Pkce", before)
	})
	t.Run("another issuer (RFC 9207)", func(t *testing.T) {
		f.create("Mixup")
		if _, err := f.cat.Update(context.Background(), "Mixup", "", &connector.Input{Issuer: ptr(f.srv.URL)}, alice); err != nil {
			t.Fatal(err)
		}
		before := f.get("Mixup")
		cb := f.start(alice, "Mixup")
		status, outcome, _ := f.callback(cb+"&iss="+url.QueryEscape("https://evil.example"), alice)
		if status != http.StatusSeeOther || outcome.Get("error") != "issuer_mismatch" {
			t.Fatalf("mix-up: %d %v, want issuer_mismatch", status, outcome)
		}
		unchanged(t, "Mixup", before)
	})
	t.Run("provider refusal shown", func(t *testing.T) {
		before := f.create("Denied")
		f.srv.Refuse("access_denied")
		defer f.srv.Refuse("")
		cb := f.start(alice, "Denied")
		status, outcome, _ := f.callback(cb, alice)
		if status != http.StatusSeeOther || outcome.Get("error") != "access_denied" || outcome.Get("error_description") == "" {
			t.Fatalf("refusal: %d %v, want access_denied with its description", status, outcome)
		}
		unchanged(t, "Denied", before)
	})
}

// TestCallbackRefusalPage: a browser refused on an expired state gets a
// page saying why and linking back to the console, not JSON.
func TestCallbackRefusalPage(t *testing.T) {
	f := newFlow(t, testenv.New(t, testenv.Embedded))
	f.create("Late")
	cb := f.start(alice, "Late")
	f.advance(connect.StateTTL + time.Second)
	req, _ := http.NewRequest(http.MethodGet, cb, nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, body := f.send(req, alice)
	page := string(body)
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(page, "Connecting Late failed") || !strings.Contains(page, `href="`+f.client.URL+"/console#connect=error") {
		t.Fatalf("%d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
}

// TestAuthorizeRules: returnTo stays on the console, the connector must
// have an authorizationUrl, and only admins may start.
func TestAuthorizeRules(t *testing.T) {
	f := newFlow(t, testenv.New(t, testenv.Embedded))
	f.create("Mail")
	if _, err := f.cat.Create(context.Background(), &connector.Input{Name: ptr("Plain"), URL: ptr(f.srv.TokenURL()), GrantType: ptr("client_credentials"),
		ClientID: ptr(appID), ClientSecret: ptr(appSecret)}, alice); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"other origin", map[string]any{"name": "Mail", "returnTo": "https://evil.example/console"}, "returnTo"},
		{"scheme-relative", map[string]any{"name": "Mail", "returnTo": "//evil.example/console"}, "returnTo"},
		{"outside the console", map[string]any{"name": "Mail", "returnTo": "/connectors-list"}, "returnTo"},
		{"prefix lookalike", map[string]any{"name": "Mail", "returnTo": "/consolex"}, "returnTo"},
		{"dot segments", map[string]any{"name": "Mail", "returnTo": "/console/../connectors-delete"}, "returnTo"},
		{"backslash", map[string]any{"name": "Mail", "returnTo": "/console\\@evil.example"}, "returnTo"},
		{"javascript", map[string]any{"name": "Mail", "returnTo": "javascript:alert(1)"}, "returnTo"},
		{"fragment", map[string]any{"name": "Mail", "returnTo": "/console#x"}, "returnTo"},
		{"no authorizationUrl", map[string]any{"name": "Plain"}, "name"},
		{"bad name", map[string]any{"name": "a b"}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.authorize(alice, tc.body)
			e, _ := body["error"].(map[string]any)
			if status != http.StatusBadRequest || e["field"] != tc.field {
				t.Fatalf("%d %v, want 400 on %s", status, body, tc.field)
			}
		})
	}
	if status, body := f.authorize(alice, map[string]any{"name": "Mail", "returnTo": f.client.URL + "/console/"}); status != http.StatusOK {
		t.Fatalf("a URL on the console: %d %v", status, body)
	}
	if status, _ := f.authorize("", map[string]any{"name": "Mail"}); status != http.StatusUnauthorized {
		t.Fatalf("authorize without identity: %d, want 401", status)
	}
	if status, _ := f.authorize("mallory@example.com", map[string]any{"name": "Mail"}); status != http.StatusForbidden {
		t.Fatalf("authorize as a non-admin: %d, want 403", status)
	}
}
