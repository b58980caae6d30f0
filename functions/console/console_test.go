package console

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"connectors.dev/connectors/functions/connect"
	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/functions/probe"
)

func get(t *testing.T, h http.Handler, method, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func cspDirectives(t *testing.T, csp string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) == 0 {
			continue
		}
		out[f[0]] = f[1:]
	}
	return out
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

var (
	inlineScriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	inlineStyleRE  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	configRE       = regexp.MustCompile(`(?s)<script type="application/json" id="console-config">(.*?)</script>`)
)

// TestPage: the page is HTML, self-contained, and its CSP allows exactly
// its own inline script and style and connections to its own origin.
func TestPage(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/console", "/console/", "/console/index.html"} {
		resp, body := get(t, s, http.MethodGet, path)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("GET %s: %s = %q, want %q", path, h, got, want)
			}
		}
		if !strings.Contains(body, "<title>Connectors") || !strings.Contains(body, `id="connector-form"`) {
			t.Fatalf("GET %s: not the console page", path)
		}

		csp := cspDirectives(t, resp.Header.Get("Content-Security-Policy"))
		for d, want := range map[string][]string{
			"default-src":     {"'none'"},
			"connect-src":     {"'self'"},
			"img-src":         {"data:"},
			"base-uri":        {"'none'"},
			"form-action":     {"'none'"},
			"frame-ancestors": {"'none'"},
		} {
			if !slices.Equal(csp[d], want) {
				t.Errorf("CSP %s = %v, want %v", d, csp[d], want)
			}
		}
		scripts := inlineScriptRE.FindAllStringSubmatch(body, -1)
		styles := inlineStyleRE.FindAllStringSubmatch(body, -1)
		if len(scripts) != 1 || len(styles) != 1 {
			t.Fatalf("want one inline script and one style, got %d and %d", len(scripts), len(styles))
		}
		if !slices.Equal(csp["script-src"], []string{sha(scripts[0][1])}) {
			t.Errorf("script-src %v does not allow exactly the inline script", csp["script-src"])
		}
		if !slices.Equal(csp["style-src"], []string{sha(styles[0][1])}) {
			t.Errorf("style-src %v does not allow exactly the inline style", csp["style-src"])
		}
		for _, d := range csp {
			for _, src := range d {
				if src == "'unsafe-inline'" || src == "'unsafe-eval'" || src == "*" || strings.HasPrefix(src, "http") {
					t.Errorf("CSP allows %s", src)
				}
			}
		}
		// Nothing is loaded from anywhere: no external script, style,
		// image or font, no CDN.
		if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(body); m != "" {
			t.Errorf("page loads something from elsewhere: %s", m)
		}
	}

	resp, _ := get(t, s, http.MethodHead, "/console")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("HEAD: %d", resp.StatusCode)
	}
	resp, body := get(t, s, http.MethodPost, "/console")
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(body, `"invalid_argument"`) {
		t.Errorf("POST: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, s, http.MethodGet, "/console/app.js")
	if resp.StatusCode != 404 || !strings.Contains(body, `"not_found"`) {
		t.Errorf("unknown path: %d %s", resp.StatusCode, body)
	}
}

// TestConfigJSON: locally every admin function is on the page's origin,
// and the inlined configuration is the served one.
func TestConfigJSON(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, s, http.MethodGet, "/console/config.json")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("config.json: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var cfg pageConfig
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, n := range []string{connectors.FnCreate, connectors.FnList, connectors.FnGet, connectors.FnUpdate, connectors.FnDelete, probe.FnTest, connect.FnAuthorize} {
		want[n] = "/" + n
	}
	if cfg.Presets == nil || cfg.Presets.Version == "" || len(cfg.Presets.Presets) < 30 {
		t.Errorf("config.json holds no preset catalog: %+v", cfg.Presets)
	}
	if len(cfg.Functions) != len(want) {
		t.Fatalf("functions %v, want %v", cfg.Functions, want)
	}
	for n, u := range want {
		if cfg.Functions[n] != u {
			t.Errorf("%s at %q, want %q", n, cfg.Functions[n], u)
		}
	}
	_, page := get(t, s, http.MethodGet, "/")
	m := configRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no inlined configuration")
	}
	var inlined pageConfig
	if err := json.Unmarshal([]byte(m[1]), &inlined); err != nil {
		t.Fatal(err)
	}
	if len(inlined.Functions) != len(want) || inlined.Functions[probe.FnTest] != "/"+probe.FnTest {
		t.Errorf("inlined %v", inlined)
	}
}

// TestProductionURLs: with a base URL and an override, the page gets those
// URLs and may connect to exactly their origins.
func TestProductionURLs(t *testing.T) {
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{
			EnvBaseURL:      "https://europe-west1-proj.cloudfunctions.net/",
			EnvFunctionURLs: `{"connectors-test": "https://connectors-test-abc123-ew.a.run.app"}`,
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, body := get(t, s, http.MethodGet, "/config.json")
	var pc pageConfig
	if err := json.Unmarshal([]byte(body), &pc); err != nil {
		t.Fatal(err)
	}
	if pc.Functions["connectors-list"] != "https://europe-west1-proj.cloudfunctions.net/connectors-list" ||
		pc.Functions["connectors-test"] != "https://connectors-test-abc123-ew.a.run.app" {
		t.Fatalf("functions %v", pc.Functions)
	}
	resp, _ := get(t, s, http.MethodGet, "/")
	csp := cspDirectives(t, resp.Header.Get("Content-Security-Policy"))
	want := []string{"'self'", "https://connectors-test-abc123-ew.a.run.app", "https://europe-west1-proj.cloudfunctions.net"}
	if !slices.Equal(csp["connect-src"], want) {
		t.Errorf("connect-src %v, want %v", csp["connect-src"], want)
	}
	if !slices.Equal(csp["default-src"], []string{"'none'"}) {
		t.Errorf("default-src %v", csp["default-src"])
	}

	// The pair form, and a path on the page's own origin (a load balancer).
	cfg, err = ConfigFromEnv(func(k string) string {
		if k == EnvFunctionURLs {
			return "connectors-list=/admin/connectors-list, connectors-get=http://127.0.0.1:8081/connectors-get"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	pcfg, origins, err := cfg.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if pcfg.Functions["connectors-list"] != "/admin/connectors-list" || pcfg.Functions["connectors-create"] != "/connectors-create" ||
		!slices.Equal(origins, []string{"http://127.0.0.1:8081"}) {
		t.Errorf("functions %v origins %v", pcfg.Functions, origins)
	}
}

func TestBadConfig(t *testing.T) {
	bad := []Config{
		{BaseURL: "http://functions.example.com"},                                                     // http off loopback
		{BaseURL: "http://localhost.example.com"},                                                     // http to a name that only starts like loopback
		{BaseURL: "http://127.0.0.1.example.com"},                                                     // ditto
		{BaseURL: "ftp://functions.example.com"},                                                      // not http(s)
		{BaseURL: "https://functions.example.com?x=1"},                                                // query
		{BaseURL: "//functions.example.com"},                                                          // scheme-relative
		{BaseURL: "functions"},                                                                        // relative without /
		{BaseURL: "https://user:pw@functions.example.com"},                                            // credentials
		{FunctionURLs: map[string]string{"token": "https://token.example.com"}},                       // not a function the page calls
		{FunctionURLs: map[string]string{"connectors-list": "javascript:alert(1)"}},                   // script
		{FunctionURLs: map[string]string{"connectors-list": "https://a.example.com 'unsafe-inline'"}}, // CSP injection
	}
	for _, c := range bad {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	for _, raw := range []string{"{not json", "connectors-list", `{"connectors-list":"https://a.example.com","connectors-list":"https://b.example.com"}`} {
		if _, err := ConfigFromEnv(func(k string) string {
			if k == EnvFunctionURLs {
				return raw
			}
			return ""
		}); err == nil {
			t.Errorf("%s=%q accepted", EnvFunctionURLs, raw)
		}
	}
}

// TestHTTPToLoopback: plain http is allowed to loopback hosts only, by
// name or address, as netguard judges them.
func TestHTTPToLoopback(t *testing.T) {
	for _, base := range []string{"http://localhost:8081", "http://127.0.0.1:8081", "http://[::1]:8081"} {
		if _, err := New(Config{BaseURL: base}); err != nil {
			t.Errorf("New(BaseURL %q): %v, want it accepted", base, err)
		}
	}
}

// TestFunctionNames: the names the page calls are the admin functions'.
func TestFunctionNames(t *testing.T) {
	want := []string{connectors.FnCreate, connectors.FnList, connectors.FnGet, connectors.FnUpdate, connectors.FnDelete, probe.FnTest, connect.FnAuthorize}
	if !slices.Equal(AdminFunctions, want) {
		t.Fatalf("AdminFunctions %v, want %v", AdminFunctions, want)
	}
	if h := (&Server{}).Handlers(); len(h) != 1 || h[FnConsole] == nil {
		t.Fatalf("handlers %v", h)
	}
}
