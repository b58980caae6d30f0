package main

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
)

// TestConsoleConnectInBrowser: in a real browser, an admin creates a
// connector from a preset (its placeholder typed in the form), then presses
// Connect on a connector of a loopback authorization server (fosite),
// consents there, and comes back to the console showing it connected; the
// connector then mints. The grant revoked at the provider, the console
// shows "Needs reconnect", and Reconnect clears it.
func TestConsoleConnectInBrowser(t *testing.T) {
	b := newBrowser(t)
	fosite := oauthtest.NewFosite(t)
	a, err := newApp(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	fosite.Register(oauthtest.Client{ID: "browser-app", Secret: "browser-secret", Method: "client_secret_basic",
		Scopes: []string{"read", "offline"}, RedirectURIs: []string{srv.URL + "/oauth-callback"}})
	body := fmt.Sprintf(`{"name":"Loopback","url":%q,"authorizationUrl":%q,"grantType":"refresh_token","clientId":"browser-app",
		"clientSecret":"browser-secret","clientAuthMethod":"client_secret_basic","scope":"read offline","agents":["mailer"]}`, fosite.TokenURL(), fosite.AuthorizeURL())
	if code, out := post(t, srv.URL+"/connectors-create", body); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}

	b.do("open the console", chromedp.Navigate(srv.URL+"/console"))
	b.waitFor("the first load", loaded(1))

	// A preset: Zendesk, with its {subdomain}.
	b.click("#form-toggle")
	b.fill("#f-name", "Support")
	b.eval(`(() => { const s = document.getElementById('f-preset'); s.value = 'zendesk'; s.dispatchEvent(new Event('change')); return ''; })()`)
	b.fill("#pp-subdomain", "acme")
	if u := b.eval(`document.getElementById('f-url').value`); u != "https://acme.zendesk.com/oauth/tokens" {
		t.Fatalf("the preset filled url %q", u)
	}
	b.fill("#f-clientId", "zd-client")
	b.fill("#f-clientSecret", "zd-secret")
	b.fill("#f-nextClientSecret", "zd-next-secret")
	b.fill("#f-maxTokenLifetime", "600")
	b.click("#submit")
	b.waitFor("the preset's connector", rowHas("Support"))
	if code, out := post(t, srv.URL+"/connectors-get", `{"name":"Support"}`); code != 200 || out["authorizationUrl"] != "https://acme.zendesk.com/oauth/authorizations/new" ||
		out["hasNextClientSecret"] != true || out["maxTokenLifetime"] != float64(600) {
		t.Fatalf("preset connector: %d %v", code, out)
	}

	// Connect: to fosite and back.
	b.click(row("Loopback") + " .row-toggle")
	b.click(row("Loopback") + ` button[data-action="connect"]`)
	waitAcross(t, b, "the return to the console", `location.pathname === '/console' && !document.getElementById('banner').hidden && document.getElementById('banner-text').textContent.includes('Connected Loopback')`)
	if h := b.eval(`location.hash`); h != "" {
		t.Errorf("the outcome stayed in the address bar: %q", h)
	}
	b.waitFor("the connected account", `(document.querySelector('#connector-list li[data-name="Loopback"] .details') || {textContent: ''}).textContent.includes('Connected')`)
	code, out := post(t, srv.URL+"/token", `{"connector":"Loopback","agent":"mailer"}`)
	if code != 200 || out["access_token"] == nil {
		t.Fatalf("token after connecting in the browser: %d %v", code, out)
	}

	// The user revokes the grant at the provider (RFC 7009 revokes the
	// refresh token with its access token): the next refresh marks the
	// connector, the console shows it, and Reconnect clears it.
	fosite.Revoke(t, "browser-app", "browser-secret", true, out["access_token"].(string))
	if code, out := post(t, srv.URL+"/connectors-test", `{"name":"Loopback"}`); code != 409 {
		t.Fatalf("test after the revocation: %d %v, want 409 needs_reconnect", code, out)
	}
	b.do("reload the console", chromedp.Reload())
	b.waitFor("the needs-reconnect badge", `!!document.querySelector('`+row("Loopback")+` [data-badge="needs-reconnect"]')`)
	if s := b.text(row("Loopback") + ` [data-health="needs_reconnect"]`); !strings.Contains(s, "❌") || !strings.Contains(s, "invalid_grant") {
		t.Errorf("health badge %q, want ❌ invalid_grant", s)
	}
	b.click(row("Loopback") + " .row-toggle")
	b.screenshot("needs-reconnect.png")
	if s := b.text(row("Loopback") + " .details"); !strings.Contains(s, "Needs reconnect") || !strings.Contains(s, "press Reconnect") || !strings.Contains(s, "Needs reconnect: invalid_grant since") {
		t.Errorf("details %q", s)
	}
	b.click(row("Loopback") + ` button[data-action="connect"]`)
	waitAcross(t, b, "the return from reconnecting", `location.pathname === '/console' && document.getElementById('banner-text').textContent.includes('Connected Loopback') && !!document.querySelector('`+row("Loopback")+`')`)
	b.waitFor("the badge gone", `!document.querySelector('`+row("Loopback")+` [data-badge="needs-reconnect"]')`)
	if code, out := post(t, srv.URL+"/token", `{"connector":"Loopback","agent":"mailer"}`); code != 200 || out["access_token"] == nil {
		t.Fatalf("token after reconnecting: %d %v", code, out)
	}
	b.do("reload the console", chromedp.Reload())
	b.waitFor("the healthy mark", `!!document.querySelector('`+row("Loopback")+` [data-health="ok"]')`)
	if s := b.text(row("Loopback") + ` [data-health="ok"]`); !strings.Contains(s, "✅") {
		t.Errorf("health badge after reconnecting %q, want ✅", s)
	}
	b.click(row("Loopback") + " .row-toggle")

	// The provider's refusal is shown, not swallowed.
	fosite.Refuse("access_denied")
	b.click(row("Loopback") + ` button[data-action="connect"]`)
	waitAcross(t, b, "the refusal", `document.getElementById('banner-text').textContent.includes('access_denied')`)
	if s := b.text("#banner-text"); !strings.Contains(s, "Connecting Loopback failed") {
		t.Errorf("banner %q", s)
	}
}

// waitAcross waits for a JavaScript expression to hold across page
// navigations (to the provider and back), which end a single poll.
func waitAcross(t *testing.T, b *browser, what, js string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("!!("+js+")")); err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s (%s): timed out", what, js)
}
