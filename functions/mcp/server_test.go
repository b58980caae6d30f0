package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"connectors.dev/connectors/functions/mcp"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
)

var allTools = []string{mcp.ToolCallAPI, mcp.ToolListConnectors, mcp.ToolListFiles, mcp.ToolReadFile, mcp.ToolSignURL, mcp.ToolWriteFile}

// TestInitializeAndListTools: the Go SDK's own client initializes over
// Streamable HTTP and lists every tool with a description, an object input
// schema naming its required fields, an output schema and annotations.
func TestInitializeAndListTools(t *testing.T) {
	e := newEnv(t, envOptions{})
	cs := e.session()
	init := cs.InitializeResult()
	if init.ServerInfo.Name != "connectors" || init.Capabilities.Tools == nil || init.ProtocolVersion == "" {
		t.Fatalf("initialize: %+v", init)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	required := map[string][]string{
		mcp.ToolCallAPI: {"connector"}, mcp.ToolListFiles: {"connector", "uri"}, mcp.ToolReadFile: {"connector", "uri"},
		mcp.ToolWriteFile: {"connector", "content", "uri"}, mcp.ToolSignURL: {"connector", "uri"},
	}
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		if len(tool.Description) < 40 || tool.Annotations == nil || tool.Annotations.OpenWorldHint == nil {
			t.Errorf("%s: description %q, annotations %+v", tool.Name, tool.Description, tool.Annotations)
		}
		in, _ := json.Marshal(tool.InputSchema)
		var schema struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		}
		if err := json.Unmarshal(in, &schema); err != nil || schema.Type != "object" {
			t.Errorf("%s: input schema %s", tool.Name, in)
		}
		slices.Sort(schema.Required)
		if want := required[tool.Name]; !slices.Equal(schema.Required, want) && !(want == nil && schema.Required == nil) {
			t.Errorf("%s: required %v, want %v", tool.Name, schema.Required, want)
		}
		for _, f := range required[tool.Name] {
			if !bytes.Contains(schema.Properties[f], []byte(`"description"`)) {
				t.Errorf("%s: %s has no description: %s", tool.Name, f, schema.Properties[f])
			}
		}
		if tool.OutputSchema == nil {
			t.Errorf("%s: no output schema", tool.Name)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, allTools) {
		t.Fatalf("tools %v, want %v", names, allTools)
	}
	// Honest hints: the listing and reading tools are read-only; call_api
	// and write_file may destroy data.
	for _, tool := range res.Tools {
		a := tool.Annotations
		readOnly := tool.Name == mcp.ToolListConnectors || tool.Name == mcp.ToolListFiles || tool.Name == mcp.ToolReadFile
		destructive := tool.Name == mcp.ToolCallAPI || tool.Name == mcp.ToolWriteFile
		if a.ReadOnlyHint != readOnly || (!readOnly && (a.DestructiveHint == nil || *a.DestructiveHint != destructive)) {
			t.Errorf("%s: annotations %+v", tool.Name, a)
		}
	}
}

// rawPost sends one JSON-RPC message as a plain HTTP POST.
func rawPost(t *testing.T, e *env, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header[k] = v
	}
	e.wire.keep([]byte(body))
	return e.admin.Do(req)
}

// TestRefusedBeforeMCP: who may call, and for which agent, is settled
// before the SDK sees the request: 401 without an identity, 403 for an
// admin or for an agent the caller may not act for, 400 without an agent
// when the caller is not bound to exactly one — each with the API's JSON
// error body — and a caller bound to one agent ID needs no header.
func TestRefusedBeforeMCP(t *testing.T) {
	iss := authtest.NewIssuer(t)
	const runtimeA, runtimeAB, admin = "a@p.iam.gserviceaccount.com", "ab@p.iam.gserviceaccount.com", "admin@example.com"
	authn, err := auth.New(auth.Config{
		Audience: "https://mcp.example.run.app",
		Admins:   []string{admin},
		AgentBindings: map[string][]string{
			"agent-1": {runtimeA, runtimeAB},
			"agent-2": {runtimeAB},
		},
	}, iss.Client)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{authn: authn})
	tok := func(email string) string { return iss.Token(t, email, "https://mcp.example.run.app") }
	e.secrets = append(e.secrets, tok(runtimeA))
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	for _, tt := range []struct {
		name   string
		header http.Header
		status int
		code   string
		field  string
	}{
		{"no identity", http.Header{mcp.AgentHeader: {"agent-1"}}, 401, "unauthenticated", ""},
		{"admin", http.Header{"Authorization": {"Bearer " + tok(admin)}, mcp.AgentHeader: {"agent-1"}}, 403, "permission_denied", ""},
		{"unbound agent", http.Header{"Authorization": {"Bearer " + tok(runtimeA)}, mcp.AgentHeader: {"agent-2"}}, 403, "permission_denied", ""},
		{"agent nobody is bound to", http.Header{"Authorization": {"Bearer " + tok(runtimeA)}, mcp.AgentHeader: {"agent-9"}}, 403, "permission_denied", ""},
		{"no agent, bound to two", http.Header{"Authorization": {"Bearer " + tok(runtimeAB)}}, 400, "invalid_argument", mcp.AgentHeader},
		{"malformed agent", http.Header{"Authorization": {"Bearer " + tok(runtimeA)}, mcp.AgentHeader: {"agent 1/.."}}, 400, "invalid_argument", mcp.AgentHeader},
		{"agent twice", http.Header{"Authorization": {"Bearer " + tok(runtimeAB)}, mcp.AgentHeader: {"agent-1", "agent-2"}}, 400, "invalid_argument", mcp.AgentHeader},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := rawPost(t, e, tt.header, initialize)
			var body struct {
				Error struct{ Code, Field, Message string } `json:"error"`
			}
			if err := json.Unmarshal(out, &body); err != nil || resp.StatusCode != tt.status || body.Error.Code != tt.code || body.Error.Field != tt.field || body.Error.Message == "" {
				t.Fatalf("%d %s, want %d %s %s", resp.StatusCode, out, tt.status, tt.code, tt.field)
			}
		})
	}
	// Acting for another agent is audited, naming who tried.
	if want := `"principal":"` + runtimeA + `","agent":"agent-2","op":"mcp","outcome":"permission_denied"`; !strings.Contains(e.logs.String(), want) {
		t.Errorf("no audit line %s in:\n%s", want, e.logs.String())
	}
	// Bound to one agent ID: the header may be left out; the tools act
	// for that agent.
	e.createAs(map[string]any{"name": "Mine", "grantType": "aws_iam", "clientId": awsKeyID, "clientSecret": awsSecret, "agents": []string{"agent-1"}}, tok(admin))
	e.createAs(map[string]any{"name": "Theirs", "grantType": "aws_iam", "clientId": awsKeyID, "clientSecret": awsSecret, "agents": []string{"agent-2"}}, tok(admin))
	cs, err := e.connect(http.Header{"Authorization": {"Bearer " + tok(runtimeA)}})
	if err != nil {
		t.Fatalf("bound to one agent, no header: %v", err)
	}
	defer cs.Close()
	out := mustOK(t, cs, mcp.ToolListConnectors, nil)
	if got := names(out); !slices.Equal(got, []string{"Mine"}) {
		t.Fatalf("list_connectors for the sole agent: %v", got)
	}
}

// TestRawJSONRPC is a second client, plain HTTP with no SDK: initialize,
// notifications/initialized, tools/list, tools/call, each its own POST
// with no session header (the server is stateless), each answered as JSON.
func TestRawJSONRPC(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.storageConnectors()
	h := http.Header{mcp.AgentHeader: {"agent-1"}}
	post := func(body string) (int, map[string]any) {
		resp, out := rawPost(t, e, h, body)
		if resp.Header.Get("Mcp-Session-Id") != "" {
			t.Errorf("a stateless server set a session: %s", resp.Header.Get("Mcp-Session-Id"))
		}
		var m map[string]any
		if len(out) > 0 {
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("answer is %s, want application/json", ct)
			}
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
		}
		return resp.StatusCode, m
	}
	code, m := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if code != 200 || m["result"].(map[string]any)["protocolVersion"] != "2025-03-26" {
		t.Fatalf("initialize: %d %v", code, m)
	}
	if code, _ := post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); code != http.StatusAccepted {
		t.Fatalf("notifications/initialized: %d", code)
	}
	code, m = post(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if code != 200 || len(m["result"].(map[string]any)["tools"].([]any)) != len(allTools) {
		t.Fatalf("tools/list: %d %v", code, m)
	}
	code, m = post(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_connectors","arguments":{}}}`)
	if code != 200 {
		t.Fatalf("tools/call: %d %v", code, m)
	}
	got := names(m["result"].(map[string]any)["structuredContent"].(map[string]any))
	if !slices.Equal(got, []string{"GCS", "S3"}) {
		t.Fatalf("tools/call list_connectors: %v", m)
	}
	// GET (a standalone stream) has no place in a stateless server.
	req, _ := http.NewRequest(http.MethodGet, e.url, nil)
	req.Header.Set(mcp.AgentHeader, "agent-1")
	req.Header.Set("Accept", "text/event-stream")
	if resp, _ := e.admin.Do(req); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}

func names(out map[string]any) []string {
	var got []string
	list, _ := out["connectors"].([]any)
	for _, c := range list {
		got = append(got, c.(map[string]any)["name"].(string))
	}
	return got
}

// TestListConnectors: the agent's active connectors, with kind, apiBaseUrl
// and scope, and nothing secret or internal; other agents' connectors and
// inactive ones are not shown.
func TestListConnectors(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.storageConnectors()
	e.create(map[string]any{"name": "Mail", "grantType": "client_credentials", "url": "http://127.0.0.1:9/token", "clientId": "c", "clientSecret": "oauth-secret-7788",
		"scope": "mail.send", "apiBaseUrl": "http://127.0.0.1:9/api/", "agents": []string{"agent-1", "agent-2"}})
	e.create(map[string]any{"name": "Other", "grantType": "aws_iam", "clientId": awsKeyID, "clientSecret": awsSecret, "agents": []string{"agent-2"}})
	e.secrets = append(e.secrets, "oauth-secret-7788")
	cs := e.session()
	res, out, _ := call(t, cs, mcp.ToolListConnectors, map[string]any{})
	want := []any{
		map[string]any{"name": "GCS", "kind": "gcs"},
		map[string]any{"name": "Mail", "kind": "oauth", "apiBaseUrl": "http://127.0.0.1:9/api/", "scope": "mail.send"},
		map[string]any{"name": "S3", "kind": "aws"},
	}
	got, _ := json.Marshal(out["connectors"])
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Fatalf("list_connectors: %s, want %s", got, wantJSON)
	}
	text := res.Content[0].(*sdk.TextContent).Text
	for _, leak := range []string{"clientId", "secret", "conn-project", awsKeyID, "agents"} {
		if strings.Contains(strings.ToLower(text), strings.ToLower(leak)) {
			t.Errorf("list_connectors shows %s: %s", leak, text)
		}
	}
	if !strings.Contains(e.logs.String(), `"principal":"local-dev","agent":"agent-1","op":"mcp.list_connectors","outcome":"ok"`) {
		t.Errorf("no audit line for list_connectors:\n%s", e.logs.String())
	}
}

// TestBodyLimit: an MCP request over CONNECTORS_MCP_MAX_REQUEST_BYTES is
// refused with 413 before it is parsed.
func TestBodyLimit(t *testing.T) {
	e := newEnv(t, envOptions{options: mcp.Options{MaxRequestBytes: 1024}})
	big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"write_file","arguments":{"content":"` + strings.Repeat("x", 2048) + `"}}}`
	resp, out := rawPost(t, e, http.Header{mcp.AgentHeader: {"agent-1"}}, big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
}
