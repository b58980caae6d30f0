// Package console is the web console: the "console" function serves one
// self-contained page (HTML with its CSS and JavaScript inlined, embedded in
// the binary) where admins create, list by agent, edit, test and delete
// connectors. The page holds no data and no secret: everything it shows it
// fetches from the admin functions (connectors-create, -list, -get,
// -update, -delete, -test, -authorize) with the admin's own credentials, so the
// functions record the admin as createdBy/updatedBy.
//
// Where those functions are is configuration: in the local run they are on
// the page's own origin (/connectors-list, …); in production each function
// has its own URL, or a load balancer puts them all under one origin (see
// docs/deploy.md, "The console in production"). The URLs are inlined into the page and
// served at <console URL>/config.json, and the Content-Security-Policy
// allows the page to connect to exactly those origins and nothing else.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"connectors.dev/connectors/shared/connector/presets"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/netguard"
)

// FnConsole is the function's name, as registered, deployed and served
// locally (/console).
const FnConsole = "console"

// AdminFunctions are the functions the page calls. They mirror the
// connectors package's names, which this package does not import so that a
// console deployment does not carry (and register) the admin functions.
var AdminFunctions = []string{
	"connectors-create",
	"connectors-list",
	"connectors-get",
	"connectors-update",
	"connectors-delete",
	"connectors-test",
	"connectors-authorize",
}

// Environment variables read by ConfigFromEnv.
const (
	// EnvBaseURL is where the admin functions are: function NAME is at
	// $CONNECTORS_FUNCTION_BASE_URL/NAME, as with
	// https://REGION-PROJECT.cloudfunctions.net or a load balancer's origin.
	EnvBaseURL = "CONNECTORS_FUNCTION_BASE_URL"
	// EnvFunctionURLs names single functions' URLs, overriding the base:
	// a JSON object {"connectors-list": "https://…", …} or
	// comma-separated NAME=URL pairs.
	EnvFunctionURLs = "CONNECTORS_FUNCTION_URLS"
)

// Config says where the page finds the admin functions. The zero Config is
// the local run's: every function on the page's own origin at /NAME.
type Config struct {
	// BaseURL, when set, puts function NAME at BaseURL + "/" + NAME. It is
	// an absolute https URL (http only to loopback hosts) or a path on the
	// page's origin starting with "/".
	BaseURL string
	// FunctionURLs overrides the URL of single functions, by name, in the
	// same forms as BaseURL.
	FunctionURLs map[string]string
}

// ConfigFromEnv reads EnvBaseURL and EnvFunctionURLs.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{BaseURL: strings.TrimSpace(getenv(EnvBaseURL))}
	raw := strings.TrimSpace(getenv(EnvFunctionURLs))
	if raw == "" {
		return cfg, nil
	}
	cfg.FunctionURLs = map[string]string{}
	if strings.HasPrefix(raw, "{") {
		// The requests' decoder: a function named twice is refused, not
		// resolved by whichever comes last.
		if err := httpx.DecodeBytes([]byte(raw), &cfg.FunctionURLs); err != nil {
			return Config{}, fmt.Errorf("%s: not a JSON object of function name to URL: %v", EnvFunctionURLs, err)
		}
		return cfg, nil
	}
	for _, pair := range strings.Split(raw, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, u, ok := strings.Cut(pair, "=")
		if !ok {
			return Config{}, fmt.Errorf("%s: %q is not NAME=URL", EnvFunctionURLs, pair)
		}
		cfg.FunctionURLs[strings.TrimSpace(name)] = strings.TrimSpace(u)
	}
	return cfg, nil
}

// pageConfig is the page's configuration, inlined into the HTML and served
// as config.json. It holds URLs only: nothing secret, nothing per-user.
type pageConfig struct {
	Functions map[string]string `json:"functions"`
	// Presets is the provider catalog the create form offers
	// (shared/connector/presets): data only, embedded in the binary.
	Presets *presets.Catalog `json:"presets,omitempty"`
}

// resolve returns the URL of every admin function and the origins the
// page may connect to besides its own.
func (c Config) resolve() (pageConfig, []string, error) {
	known := map[string]bool{}
	for _, n := range AdminFunctions {
		known[n] = true
	}
	for n := range c.FunctionURLs {
		if !known[n] {
			return pageConfig{}, nil, fmt.Errorf("console: function URL given for %q, which the console does not call (it calls %s)", n, strings.Join(AdminFunctions, ", "))
		}
	}
	base := strings.TrimRight(c.BaseURL, "/")
	if c.BaseURL != "" {
		if _, err := checkURL(base); err != nil {
			return pageConfig{}, nil, fmt.Errorf("console: base URL: %w", err)
		}
	}
	cat, err := presets.All()
	if err != nil {
		return pageConfig{}, nil, err
	}
	pc := pageConfig{Functions: map[string]string{}, Presets: cat}
	origins := map[string]bool{}
	for _, n := range AdminFunctions {
		u := base + "/" + n
		if o, ok := c.FunctionURLs[n]; ok {
			u = strings.TrimSpace(o)
		}
		origin, err := checkURL(u)
		if err != nil {
			return pageConfig{}, nil, fmt.Errorf("console: URL of %s: %w", n, err)
		}
		if origin != "" {
			origins[origin] = true
		}
		pc.Functions[n] = u
	}
	list := make([]string, 0, len(origins))
	for o := range origins {
		list = append(list, o)
	}
	sort.Strings(list)
	return pc, list, nil
}

// checkURL accepts a path on the page's origin ("/…", origin "") or an
// absolute https URL (http to loopback only) and returns its origin.
func checkURL(raw string) (origin string, err error) {
	if raw == "" {
		return "", errors.New("is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, "?#") {
		return "", fmt.Errorf("%q must not have a query or fragment", raw)
	}
	if strings.ContainsAny(raw, " \t\r\n'\";,") {
		return "", fmt.Errorf("%q contains characters not allowed in a function URL", raw)
	}
	if !u.IsAbs() {
		if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
			return "", fmt.Errorf("%q must be an absolute https URL or a path starting with /", raw)
		}
		return "", nil
	}
	if u.User != nil || u.Host == "" {
		return "", fmt.Errorf("%q must be an https URL with a host and no credentials", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !netguard.IsLoopbackHost(u.Hostname()) {
			return "", fmt.Errorf("%q must use https (http only to loopback hosts)", raw)
		}
	default:
		return "", fmt.Errorf("%q must use https", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

//go:embed static
var static embed.FS

// Server serves the console page.
type Server struct {
	page   []byte // the HTML with its CSS, JavaScript and configuration inlined
	csp    string
	config []byte // config.json
}

// New builds the page for cfg. It fails when cfg names a function the page
// does not call or a URL it must not connect to.
func New(cfg Config) (*Server, error) {
	pc, origins, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	read := func(name string) (string, error) {
		b, err := static.ReadFile("static/" + name)
		return string(b), err
	}
	html, err := read("index.html")
	if err != nil {
		return nil, err
	}
	css, err := read("app.css")
	if err != nil {
		return nil, err
	}
	js, err := read("app.js")
	if err != nil {
		return nil, err
	}
	if strings.Contains(strings.ToLower(css), "</style") || strings.Contains(strings.ToLower(js), "</script") {
		return nil, errors.New("console: the inlined CSS or JavaScript contains a closing tag")
	}
	cfgJSON, err := json.Marshal(pc) // escapes <, > and &, so it cannot end its <script>
	if err != nil {
		return nil, err
	}
	for _, ph := range []string{"{{STYLE}}", "{{SCRIPT}}", "{{CONFIG}}"} {
		if strings.Count(html, ph) != 1 {
			return nil, fmt.Errorf("console: index.html must hold %s exactly once", ph)
		}
	}
	page := strings.NewReplacer("{{STYLE}}", css, "{{SCRIPT}}", js, "{{CONFIG}}", string(cfgJSON)).Replace(html)

	connect := append([]string{"'self'"}, origins...)
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src " + hashSource(js),
		"style-src " + hashSource(css),
		"img-src data:",
		"connect-src " + strings.Join(connect, " "),
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(pc); err != nil {
		return nil, err
	}
	return &Server{page: []byte(page), csp: csp, config: buf.Bytes()}, nil
}

func hashSource(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// Handlers maps the function name to its handler.
func (s *Server) Handlers() map[string]http.Handler {
	return map[string]http.Handler{FnConsole: http.HandlerFunc(s.ServeHTTP)}
}

// ServeHTTP serves the page at the function's root (/, /console,
// /console/, …/index.html) and its configuration at …/config.json. Paths
// are matched by their last element because the function is reached at
// different prefixes: /console locally, / at its own URL, or a load
// balancer's path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpx.WriteError(w, httpx.Errorf(http.StatusMethodNotAllowed, httpx.CodeInvalidArgument, "method %s is not allowed; the console is read with GET", r.Method))
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	switch path.Base(r.URL.Path) {
	case "/", ".", FnConsole, "index.html":
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", s.csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(s.page)
		}
	case "config.json":
		h.Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(s.config)
		}
	default:
		httpx.WriteError(w, httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound, "the console has no %s; open the console's own URL", r.URL.Path))
	}
}
