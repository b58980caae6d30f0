package mcp_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/functions/mcp"
	"connectors.dev/connectors/shared/proxy/apitest"
)

// TestCallAPI: call_api through the Go SDK's client reaches apiBaseUrl +
// path with the query, the caller's headers and the minted bearer token,
// and gives back status, selected headers and the body: JSON as text, a
// binary answer as base64; request bodies as text or base64 arrive byte
// for byte. The proxy writes its audit line, op mcp.call_api; no token
// appears in any MCP message or log (checkNoLeaks).
func TestCallAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.apiConnector("Mail", "/gmail/v1/", true, "agent-1")
	cs := e.session()

	out := mustOK(t, cs, mcp.ToolCallAPI, map[string]any{"connector": "Mail", "path": "/users/me/messages",
		"query": map[string]any{"maxResults": "5", "q": "is:unread from:a&b"}, "headers": map[string]any{"Accept": "application/json", "X-Trace": "t-1"}})
	if out["status"] != float64(200) || out["bodyEncoding"] != "text" || out["truncated"] != false {
		t.Fatalf("call_api GET: %v", out)
	}
	if ct := out["headers"].(map[string]any)["Content-Type"]; ct != "application/json" {
		t.Fatalf("Content-Type %v", ct)
	}
	var echo map[string]any
	if err := json.Unmarshal([]byte(out["body"].(string)), &echo); err != nil || echo["path"] != "/gmail/v1/users/me/messages" || echo["query"] != "maxResults=5&q=is%3Aunread+from%3Aa%26b" {
		t.Fatalf("the API saw %v (%v)", echo, err)
	}
	got := e.api.Last(t)
	if got.Token == "" || got.Header.Get("X-Trace") != "t-1" || got.Method != "GET" {
		t.Fatalf("the API got %+v", got)
	}

	for _, body := range []struct{ text, enc, raw string }{
		{`{"title":"Printer down"}`, "text", `{"title":"Printer down"}`},
		{base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff}), "base64", string([]byte{0, 1, 2, 0xff})},
	} {
		out = mustOK(t, cs, mcp.ToolCallAPI, map[string]any{"connector": "Mail", "method": "POST", "path": "tickets",
			"headers": map[string]any{"Content-Type": "application/json"}, "body": body.text, "bodyEncoding": body.enc})
		if out["status"] != float64(200) {
			t.Fatalf("POST %s: %v", body.enc, out)
		}
		sum := sha256.Sum256([]byte(body.raw))
		if r := e.api.Last(t); r.Method != "POST" || r.BodyLen != int64(len(body.raw)) || r.BodySHA != hex.EncodeToString(sum[:]) {
			t.Fatalf("POST %s body: the API got %+v", body.enc, r)
		}
	}

	out = mustOK(t, cs, mcp.ToolCallAPI, map[string]any{"connector": "Mail", "path": "bytes", "query": map[string]any{"n": "100"}})
	raw, err := base64.StdEncoding.DecodeString(out["body"].(string))
	if err != nil || out["bodyEncoding"] != "base64" || len(raw) != 100 || raw[99] != apitest.Pattern(99) {
		t.Fatalf("binary answer: %v", out)
	}

	// An API's own error is the API's answer, not a tool error: the
	// status and Retry-After say who answered.
	res, out, errObj := call(t, cs, mcp.ToolCallAPI, map[string]any{"connector": "Mail", "path": "status", "query": map[string]any{"code": "429", "retryAfter": "7"}})
	if res.IsError || errObj != nil || out["status"] != float64(429) || out["headers"].(map[string]any)["Retry-After"] != "7" {
		t.Fatalf("429 from the API: %v %v", out, errObj)
	}
	// Cookies the API sets never come back.
	out = mustOK(t, cs, mcp.ToolCallAPI, map[string]any{"connector": "Mail", "path": "cookie"})
	if strings.Contains(e.wire.all(), "api-session-cookie") {
		t.Fatalf("Set-Cookie reached the agent: %v", out)
	}
	if !strings.Contains(e.logs.String(), `"op":"mcp.call_api"`) || !strings.Contains(e.logs.String(), `"principal":"local-dev"`) {
		t.Fatalf("no proxy audit line with op mcp.call_api:\n%s", e.logs.String())
	}
}

// TestCallAPITruncated: an answer over CONNECTORS_MCP_MAX_RESULT_BYTES is
// cut at the limit with truncated set, text on a whole character, binary
// in base64 of the first bytes.
func TestCallAPITruncated(t *testing.T) {
	e := newEnv(t, envOptions{options: mcp.Options{MaxResultBytes: 1000}})
	e.apiConnector("Big", "/", true, "agent-1")
	cs := e.session()
	out := mustOK(t, cs, mcp.ToolCallAPI, map[string]any{"connector": "Big", "path": "bytes", "query": map[string]any{"n": "50000"}})
	raw, _ := base64.StdEncoding.DecodeString(out["body"].(string))
	if out["truncated"] != true || len(raw) != 1000 || raw[999] != apitest.Pattern(999) {
		t.Fatalf("50000 bytes at a 1000-byte cap: truncated %v, %d bytes", out["truncated"], len(raw))
	}
	// A JSON echo well under the cap is whole.
	if out := mustOK(t, cs, mcp.ToolCallAPI, map[string]any{"connector": "Big", "path": "echo"}); out["truncated"] != false {
		t.Fatalf("small answer truncated: %v", out)
	}
}

// TestCallAPIRefusals: the proxy's rules as tool errors with its codes:
// an unknown connector, another agent's, an inactive one, one without
// apiBaseUrl, paths that leave the base (nothing reaches the API), and
// what call_api itself refuses (credentials in headers, a query in the
// path, bad base64, a method outside the list).
func TestCallAPIRefusals(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.apiConnector("Mail", "/gmail/v1/", true, "agent-1")
	e.apiConnector("Theirs", "/gmail/v1/", true, "agent-2")
	e.apiConnector("Off", "/gmail/v1/", false, "agent-1")
	e.apiConnector("NoBase", "", true, "agent-1")
	cs := e.session()
	for _, tc := range []struct {
		name        string
		args        map[string]any
		code, field string
	}{
		{"unknown connector", map[string]any{"connector": "Nope", "path": "x"}, "not_found", ""},
		{"another agent's connector", map[string]any{"connector": "Theirs", "path": "x"}, "permission_denied", ""},
		{"inactive connector", map[string]any{"connector": "Off", "path": "x"}, "failed_precondition", ""},
		{"no apiBaseUrl", map[string]any{"connector": "NoBase", "path": "x"}, "failed_precondition", "apiBaseUrl"},
		{"dot-dot", map[string]any{"connector": "Mail", "path": "../../admin"}, "invalid_argument", ""},
		{"encoded dot-dot", map[string]any{"connector": "Mail", "path": "%2e%2e/%2e%2e/admin"}, "invalid_argument", ""},
		{"encoded slash", map[string]any{"connector": "Mail", "path": "users%2F..%2F..%2Fadmin"}, "invalid_argument", ""},
		{"absolute URL", map[string]any{"connector": "Mail", "path": "http://169.254.169.254/latest"}, "invalid_argument", ""},
		{"query in path", map[string]any{"connector": "Mail", "path": "x?alt=media"}, "invalid_argument", "path"},
		{"Authorization header", map[string]any{"connector": "Mail", "path": "x", "headers": map[string]any{"Authorization": "Bearer mine"}}, "invalid_argument", "headers"},
		{"Cookie header", map[string]any{"connector": "Mail", "path": "x", "headers": map[string]any{"cookie": "a=b"}}, "invalid_argument", "headers"},
		{"Connectors header", map[string]any{"connector": "Mail", "path": "x", "headers": map[string]any{"Connectors-Agent": "agent-2"}}, "invalid_argument", "headers"},
		{"bad base64", map[string]any{"connector": "Mail", "path": "x", "body": "not base64!", "bodyEncoding": "base64"}, "invalid_argument", "body"},
		{"TRACE", map[string]any{"connector": "Mail", "method": "TRACE", "path": "x"}, "invalid_argument", "method"},
		{"no connector", map[string]any{"path": "x"}, "invalid_argument", "connector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.api.Requests())
			mustRefuse(t, cs, mcp.ToolCallAPI, tc.args, tc.code, tc.field)
			if n := len(e.api.Requests()); n != before {
				t.Fatalf("a refused call reached the API: %+v", e.api.Last(t))
			}
		})
	}
	// The proxy audited the refusals it made.
	if !strings.Contains(e.logs.String(), `"op":"mcp.call_api"`) || !strings.Contains(e.logs.String(), `"outcome":"permission_denied"`) {
		t.Errorf("refusals not audited:\n%s", e.logs.String())
	}
}

// TestCallAPIOutlastsRequestDeadline: an API slower than
// CONNECTORS_REQUEST_TIMEOUT (a model generating a long answer) still
// answers call_api: the deadline bounds the service's own backends, the
// API's side is the proxy's (CONNECTORS_PROXY_TIMEOUT to the first byte).
func TestCallAPIOutlastsRequestDeadline(t *testing.T) {
	e := newEnv(t, envOptions{requestTimeout: time.Second})
	e.apiConnector("Slow", "/", true, "agent-1")
	cs := e.session()
	// Mint first, so that the timed call's own backend reads are cache
	// hits, well inside the deadline even on a loaded machine.
	mustOK(t, cs, mcp.ToolCallAPI, map[string]any{"connector": "Slow", "path": "warm"})
	go func() {
		time.Sleep(2500 * time.Millisecond)
		e.api.Next <- struct{}{}
	}()
	start := time.Now()
	out := mustOK(t, cs, mcp.ToolCallAPI, map[string]any{"connector": "Slow", "path": "sse", "query": map[string]any{"events": "2"}})
	if body, _ := out["body"].(string); out["status"] != float64(200) || !strings.Contains(body, `{"n":1}`) || time.Since(start) < 2500*time.Millisecond {
		t.Fatalf("slow API through call_api: %v after %v", out, time.Since(start))
	}
}
