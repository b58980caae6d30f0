package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// accessToken is what the loopback provider issues; the console must never
// show it.
const accessToken = "at-BROWSER-TEST-must-never-be-shown"

// browser drives one headless Chromium tab for a test.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // screenshots

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing; .ci/run installs it (apt-get install chromium)", chromiumPath)
		}
		t.Skipf("%s is missing (apt-get install chromium); skipping the browser test", chromiumPath)
	}
	dir := os.Getenv("CONNECTORS_ARTIFACTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	b := &browser{t: t, ctx: ctx, dir: dir}
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshot("console-failure.png")
		}
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser, then record the page's console from the start.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	return b
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitFor waits until the JavaScript expression is truthy.
func (b *browser) waitFor(what, js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s (%s): %v", what, js, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// fill replaces an input's value by typing, as a user would.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	b.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = ''; return ''; })()`, sel))
	b.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), value, chromedp.NodeVisible))
}

// selectAgent picks an agent in the header's selector.
func (b *browser) selectAgent(agent string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(() => { const s = document.getElementById('agent-filter'); s.value = %q; s.dispatchEvent(new Event('change')); return s.value; })()`, agent))
}

// screenshot saves the whole page as a PNG in the artifacts directory.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	// The header is sticky: shoot from the top so it sits where it belongs.
	return b.capture(name, `window.scrollTo(0, 0)`, chromedp.FullScreenshot(100))
}

// viewportShot saves what the window shows, as for a modal dialog whose
// backdrop covers the window only.
func (b *browser) viewportShot(name string) string {
	b.t.Helper()
	return b.capture(name, `0`, chromedp.CaptureScreenshot())
}

func (b *browser) capture(name, prepare string, shot chromedp.Action[[]byte]) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	_, _ = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](prepare))
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(b.dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Errorf("write %s: %v", p, err)
		return ""
	}
	b.t.Logf("screenshot: %s", p)
	return p
}

// rowHas is a JS expression: whether the list shows the connector.
func rowHas(name string) string {
	return fmt.Sprintf(`!!document.querySelector('#connector-list li[data-name=%q]')`, name)
}

func row(name string) string { return fmt.Sprintf(`#connector-list li[data-name=%q]`, name) }

// loaded is a JS expression: the list finished loading at least n times.
func loaded(n int) string {
	return fmt.Sprintf(`document.body.dataset.state === 'ready' && Number(document.body.dataset.loads) >= %d`, n)
}

func (b *browser) loads() int {
	b.t.Helper()
	var n int
	fmt.Sscan(b.eval(`document.body.dataset.loads || '0'`), &n)
	return n
}

// TestConsoleInBrowser drives the console page of the local run in a real
// browser: create a connector through the form, filter by agent, expand,
// edit (a field error, a conflict, then a rename and a new scope), test it
// against a loopback OAuth provider and delete it after confirming.
func TestConsoleInBrowser(t *testing.T) {
	b := newBrowser(t)

	// A loopback token endpoint: client_credentials for crm-client succeed,
	// refresh tokens are refused as revoked.
	var (
		pmu  sync.Mutex
		seen []url.Values
	)
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		pmu.Lock()
		seen = append(seen, r.PostForm)
		pmu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		f := r.PostForm
		switch {
		case f.Get("grant_type") == "refresh_token":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`)
		case f.Get("grant_type") == "client_credentials" && f.Get("client_id") == "crm-client" && f.Get("client_secret") == "crm-secret-1":
			fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600,"scope":%q}`, accessToken, f.Get("scope"))
		default:
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"Client authentication failed."}`)
		}
	}))
	defer provider.Close()

	var logs bytes.Buffer
	a, err := newApp(t.TempDir(), slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	// Two connectors of other agents, made through the API.
	for _, body := range []string{
		`{"name":"GmailAPI","url":"` + provider.URL + `/gmail/token","grantType":"refresh_token","clientId":"1234.apps.googleusercontent.com","clientSecret":"gmail-secret","refreshToken":"gmail-refresh","scope":"https://www.googleapis.com/auth/gmail.send","agents":["mailer"]}`,
		`{"name":"BillingAPI","url":"https://billing.example.com/oauth/token","grantType":"client_credentials","clientId":"billing-client","clientSecret":"billing-secret","agents":["billing"],"active":false}`,
	} {
		if code, out := post(t, srv.URL+"/connectors-create", body); code != 201 {
			t.Fatalf("seed: %d %v", code, out)
		}
	}

	b.do("open the console", chromedp.Navigate(srv.URL+"/console"))
	b.waitFor("the first load", loaded(1))
	if title := b.eval(`document.title`); !strings.Contains(title, "Connectors") {
		t.Fatalf("title %q", title)
	}
	b.waitFor("the seeded connectors", rowHas("GmailAPI")+" && "+rowHas("BillingAPI"))
	if s := b.text(row("BillingAPI") + " .status"); !strings.Contains(s, "❌") {
		t.Errorf("inactive connector's status %q", s)
	}
	if s := b.text(row("GmailAPI") + " .status"); !strings.Contains(s, "✅") {
		t.Errorf("active connector's status %q", s)
	}

	// Create a connector through the form, for a new agent typed in.
	b.click("#form-toggle")
	b.fill("#f-name", "SalesforceCRM")
	b.fill("#agent-new", "sales")
	b.click("#agent-add")
	b.waitFor("the new agent selected", `!!document.querySelector('#agent-options input[value="sales"]:checked')`)
	b.fill("#f-url", provider.URL+"/token")
	b.fill("#f-grantType", "client_credentials")
	b.fill("#f-scope", "api")
	b.fill("#f-apiBaseUrl", "https://crm.example.com/services/data/v60.0/")
	b.fill("#f-clientId", "crm-client")
	b.fill("#f-clientSecret", "crm-secret-1")
	b.click("#extra-add")
	b.fill("#extra-rows .extra-row:last-child .extra-key", "audience")
	b.fill("#extra-rows .extra-row:last-child .extra-value", "https://crm.example.com")
	b.screenshot("console-new-connector.png")
	n := b.loads()
	b.click("#submit")
	b.waitFor("the created connector", loaded(n+1)+" && "+rowHas("SalesforceCRM"))
	if s := b.text("#banner-text"); !strings.Contains(s, "Created SalesforceCRM") {
		t.Errorf("banner after create: %q", s)
	}
	if b.eval(`document.getElementById('form-body').hidden ? 'closed' : 'open'`) != "closed" {
		t.Error("the form stays open after create")
	}
	code, got := post(t, srv.URL+"/connectors-get", `{"name":"SalesforceCRM"}`)
	if code != 200 || got["createdBy"] != "local-dev" || got["hasClientSecret"] != true || got["scope"] != "api" ||
		got["active"] != true || got["headerAsPayload"] != false || fmt.Sprint(got["agents"]) != "[sales]" ||
		fmt.Sprint(got["extraParams"]) != "map[audience:https://crm.example.com]" ||
		got["apiBaseUrl"] != "https://crm.example.com/services/data/v60.0/" {
		t.Fatalf("created connector: %d %v", code, got)
	}

	// The list by agent: under its agent, not under another one.
	n = b.loads()
	b.selectAgent("sales")
	b.waitFor("the sales agent's list", loaded(n+1)+" && "+rowHas("SalesforceCRM")+" && !"+rowHas("GmailAPI")+" && !"+rowHas("BillingAPI"))
	if got := b.eval(`location.search`); got != "?agent=sales" {
		t.Errorf("the selected agent is not in the URL: %q", got)
	}
	n = b.loads()
	b.selectAgent("billing")
	b.waitFor("the billing agent's list", loaded(n+1)+" && "+rowHas("BillingAPI")+" && !"+rowHas("SalesforceCRM"))
	n = b.loads()
	b.selectAgent("")
	b.waitFor("every connector", loaded(n+1)+" && "+rowHas("BillingAPI")+" && "+rowHas("SalesforceCRM")+" && "+rowHas("GmailAPI"))
	if s := b.text(row("SalesforceCRM") + " .chips"); !strings.Contains(s, "sales") {
		t.Errorf("agents shown: %q", s)
	}

	// Expand it: client ID, URL, grant type, content type.
	b.click(row("SalesforceCRM") + " .row-toggle")
	b.waitFor("the details", `!document.querySelector('`+row("SalesforceCRM")+` .row-body').hidden`)
	details := b.text(row("SalesforceCRM") + " .details")
	for _, want := range []string{"crm-client", provider.URL + "/token", "client_credentials", "application/x-www-form-urlencoded", "https://crm.example.com/services/data/v60.0/"} {
		if !strings.Contains(details, want) {
			t.Errorf("details lack %q: %s", want, details)
		}
	}

	// Edit: the form is pre-filled; secrets are blank and say "unchanged".
	b.click(row("SalesforceCRM") + ` [data-action="edit"]`)
	b.waitFor("the edit form", `document.getElementById('form-title').textContent === 'Edit SalesforceCRM' && !document.getElementById('form-body').hidden`)
	if v := b.eval(`document.getElementById('f-name').value + '|' + document.getElementById('f-scope').value + '|' + document.getElementById('f-clientId').value + '|' + document.getElementById('f-apiBaseUrl').value`); v != "SalesforceCRM|api|crm-client|https://crm.example.com/services/data/v60.0/" {
		t.Errorf("edit form pre-filled with %q", v)
	}
	if v := b.eval(`(() => { const s = document.getElementById('f-clientSecret'); return s.type + '|' + s.value + '|' + s.placeholder; })()`); v != "password||unchanged" {
		t.Errorf("client secret input: %q", v)
	}
	if s := b.text("#submit"); s != "Save Changes" {
		t.Errorf("submit button %q", s)
	}

	// A name with a space: the API's field error appears next to the name.
	b.fill("#f-name", "Salesforce CRM")
	b.click("#submit")
	b.waitFor("the name's field error", `!document.getElementById('e-name').hidden`)
	if s := b.text("#e-name"); !strings.Contains(s, "space") {
		t.Errorf("name error %q", s)
	}
	if v := b.eval(`document.getElementById('f-name').getAttribute('aria-invalid') || ''`); v != "true" {
		t.Errorf("name input aria-invalid %q", v)
	}
	b.screenshot("console-field-error.png")

	// Someone else changes the connector meanwhile: saving is refused
	// with a clear message, and the latest version can be loaded.
	if code, out := post(t, srv.URL+"/connectors-update", `{"name":"SalesforceCRM","changes":{"scope":"api id"}}`); code != 200 {
		t.Fatalf("concurrent update: %d %v", code, out)
	}
	b.fill("#f-name", "Salesforce")
	b.click("#submit")
	b.waitFor("the conflict message", `!document.getElementById('banner').hidden && document.getElementById('banner').classList.contains('error')`)
	if s := b.text("#banner-text"); !strings.Contains(s, "changed by someone else") {
		t.Errorf("conflict banner %q", s)
	}
	if code, _ := post(t, srv.URL+"/connectors-get", `{"name":"SalesforceCRM"}`); code != 200 {
		t.Fatal("a stale save renamed the connector")
	}
	b.click("#banner-action")
	b.waitFor("the latest version in the form", `document.getElementById('f-scope').value === 'api id' && document.getElementById('f-name').value === 'SalesforceCRM'`)

	// Rename it and change its scope.
	b.fill("#f-name", "Salesforce")
	b.fill("#f-scope", "api web")
	n = b.loads()
	b.click("#submit")
	b.waitFor("the renamed connector", loaded(n+1)+" && "+rowHas("Salesforce")+" && !"+rowHas("SalesforceCRM"))
	if s := b.text("#banner-text"); !strings.Contains(s, "Saved SalesforceCRM as Salesforce") {
		t.Errorf("banner after rename: %q", s)
	}
	code, got = post(t, srv.URL+"/connectors-get", `{"name":"Salesforce"}`)
	if code != 200 || got["scope"] != "api web" || got["hasClientSecret"] != true || got["updatedBy"] != "local-dev" || got["clientId"] != "crm-client" {
		t.Fatalf("after the edit: %d %v", code, got)
	}

	// Test it: the provider issues a token; the page says so without it.
	b.waitFor("the renamed row expanded", `!document.querySelector('`+row("Salesforce")+` .row-body').hidden`)
	b.click(row("Salesforce") + ` [data-action="test"]`)
	b.waitFor("the test result", `!!document.querySelector('`+row("Salesforce")+` .test-result.ok')`)
	if s := b.text(row("Salesforce") + " .test-result"); !strings.Contains(s, "expires in 60 min") || !strings.Contains(s, "api web") {
		t.Errorf("test result %q", s)
	}
	pmu.Lock()
	last := seen[len(seen)-1]
	pmu.Unlock()
	if last.Get("client_secret") != "crm-secret-1" || last.Get("scope") != "api web" || last.Get("audience") != "https://crm.example.com" {
		t.Errorf("the provider got %v: the secret or the new scope did not survive the edit", last)
	}

	// A provider's refusal is shown with its error and description.
	b.click(row("GmailAPI") + " .row-toggle")
	b.click(row("GmailAPI") + ` [data-action="test"]`)
	b.waitFor("the refusal", `!!document.querySelector('`+row("GmailAPI")+` .test-result.fail')`)
	if s := b.text(row("GmailAPI") + " .test-result"); !strings.Contains(s, "invalid_grant") || !strings.Contains(s, "Token has been expired or revoked.") {
		t.Errorf("refusal shown as %q", s)
	}
	b.screenshot("console.png")

	// No secret and no token ever reaches the page.
	html := b.eval(`document.documentElement.outerHTML + [...document.querySelectorAll('input')].map(i => i.value).join('|')`)
	for _, secret := range []string{accessToken, "crm-secret-1", "gmail-secret", "gmail-refresh", "billing-secret"} {
		if strings.Contains(html, secret) {
			t.Errorf("the page holds %q", secret)
		}
	}

	// Delete: cancelling the confirmation keeps it; confirming removes it.
	b.click(row("Salesforce") + ` [data-action="delete"]`)
	b.waitFor("the confirmation", `document.getElementById('confirm-delete').open`)
	if s := b.text("#confirm-name"); s != "Salesforce" {
		t.Errorf("confirmation names %q", s)
	}
	b.viewportShot("console-delete-confirm.png")
	b.click("#confirm-cancel")
	b.waitFor("the confirmation closed", `!document.getElementById('confirm-delete').open`)
	if code, _ := post(t, srv.URL+"/connectors-get", `{"name":"Salesforce"}`); code != 200 {
		t.Fatal("cancelled delete removed the connector")
	}
	b.click(row("Salesforce") + ` [data-action="delete"]`)
	b.waitFor("the confirmation", `document.getElementById('confirm-delete').open`)
	n = b.loads()
	b.click("#confirm-ok")
	b.waitFor("the deleted connector gone", loaded(n+1)+" && !"+rowHas("Salesforce")+" && "+rowHas("GmailAPI"))
	if s := b.text("#banner-text"); !strings.Contains(s, "Deleted Salesforce") {
		t.Errorf("banner after delete: %q", s)
	}
	if code, _ := post(t, srv.URL+"/connectors-get", `{"name":"Salesforce"}`); code != 404 {
		t.Fatalf("after delete: get %d", code)
	}

	// The page ran without script errors or CSP violations.
	time.Sleep(200 * time.Millisecond) // let the last console events arrive
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
			t.Errorf("browser console: %s", m.String())
		}
	}
	for _, s := range []string{accessToken, "crm-secret-1"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the logs hold %q", s)
		}
	}
	var list struct {
		Connectors []json.RawMessage `json:"connectors"`
	}
	resp, err := http.Get(srv.URL + "/connectors-list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Connectors) != 2 {
		t.Errorf("left %d connectors (%v)", len(list.Connectors), err)
	}
}

// TestConsoleServed: the local run serves the console page and its
// configuration next to the functions.
func TestConsoleServed(t *testing.T) {
	a, err := newApp(t.TempDir(), slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	for path, ct := range map[string]string{"/console": "text/html; charset=utf-8", "/console/": "text/html; charset=utf-8", "/console/config.json": "application/json; charset=utf-8"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ct {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
