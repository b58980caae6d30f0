package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// NodeMCPSDKVersion is the @modelcontextprotocol/sdk release the second
// client test runs; .ci/run installs it under
// $HOME/.cache/connectors/mcp-node-sdk/VERSION.
const NodeMCPSDKVersion = "1.32.2"

var mcpTools = []string{"call_api", "list_connectors", "list_files", "read_file", "sign_url", "write_file"}

// mcpPost sends one JSON-RPC message to the local run's /mcp as a plain
// HTTP POST, and keeps the answer for the leak check.
func (e *proxyEnv) mcpPost(t *testing.T, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Connectors-Agent", proxyAgent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	e.keep(resp, out)
	var m map[string]any
	if len(out) > 0 {
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%d %s: %v", resp.StatusCode, out, err)
		}
	}
	return resp.StatusCode, m
}

// TestMCPRawJSONRPC: the local run's /mcp with no MCP library at all, as
// curl would: initialize, notifications/initialized, tools/list and
// tools/call of call_api, each its own POST with no session, each a JSON
// answer; call_api reaches the loopback API through the connector and
// brings its body back, and no token appears in any answer or log line
// (checkNoLeaks).
func TestMCPRawJSONRPC(t *testing.T) {
	e := newProxyEnv(t)
	e.connector("Mail", "/gmail/v1/", proxyAgent)
	code, m := e.mcpPost(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`)
	if code != 200 || m["result"] == nil {
		t.Fatalf("initialize: %d %v", code, m)
	}
	if code, _ := e.mcpPost(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); code != http.StatusAccepted {
		t.Fatalf("notifications/initialized: %d", code)
	}
	code, m = e.mcpPost(t, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	var names []string
	for _, tool := range m["result"].(map[string]any)["tools"].([]any) {
		names = append(names, tool.(map[string]any)["name"].(string))
	}
	slices.Sort(names)
	if code != 200 || !slices.Equal(names, mcpTools) {
		t.Fatalf("tools/list: %d %v", code, names)
	}
	code, m = e.mcpPost(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"call_api","arguments":{"connector":"Mail","path":"users/me/messages","query":{"maxResults":"3"}}}}`)
	checkCallAPIResult(t, code, m["result"])
	if r := e.api.Last(t); r.Path != "/gmail/v1/users/me/messages" || r.RawQuery != "maxResults=3" || r.Token == "" {
		t.Fatalf("the API got %+v", r)
	}
}

// checkCallAPIResult: a call_api result whose body is the API's echo of
// GET /gmail/v1/users/me/messages?maxResults=3.
func checkCallAPIResult(t *testing.T, code int, result any) {
	t.Helper()
	res, _ := result.(map[string]any)
	sc, _ := res["structuredContent"].(map[string]any)
	if code != 200 || res["isError"] == true || sc["status"] != float64(200) {
		t.Fatalf("tools/call call_api: %d %v", code, result)
	}
	var echo map[string]any
	if err := json.Unmarshal([]byte(sc["body"].(string)), &echo); err != nil || echo["path"] != "/gmail/v1/users/me/messages" || echo["query"] != "maxResults=3" {
		t.Fatalf("call_api body: %v (%v)", sc["body"], err)
	}
}

// TestMCPNodeClient: any MCP client works against the local run, here the
// official TypeScript SDK's Client over StreamableHTTPClientTransport in
// Node: it initializes, lists every tool with its schema and gets the
// loopback API's body back through call_api. Under CI=true a missing node
// or SDK fails the test (.ci/run installs the SDK).
func TestMCPNodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	dir := os.Getenv("MCP_NODE_SDK_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "connectors", "mcp-node-sdk", NodeMCPSDKVersion)
	}
	_, sdkErr := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json"))
	if err != nil || sdkErr != nil {
		msg := "node and @modelcontextprotocol/sdk@" + NodeMCPSDKVersion + " in " + dir + " are needed (npm install --prefix " + dir + " @modelcontextprotocol/sdk@" + NodeMCPSDKVersion + ")"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	e := newProxyEnv(t)
	e.connector("Mail", "/gmail/v1/", proxyAgent)
	cmd := exec.Command(node, filepath.Join("testdata", "mcpclient.cjs"), e.url+"/mcp", proxyAgent, "Mail")
	cmd.Env = append(os.Environ(), "MCP_NODE_SDK_DIR="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	e.keep(&http.Response{}, append(out, stderr.String()...))
	if err != nil {
		t.Fatalf("node client: %v\n%s", err, stderr.String())
	}
	var got struct {
		Server          map[string]any `json:"server"`
		ProtocolVersion string         `json:"protocolVersion"`
		Tools           []struct {
			Name        string         `json:"name"`
			InputSchema map[string]any `json:"inputSchema"`
		} `json:"tools"`
		Result any `json:"result"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	var names []string
	for _, tool := range got.Tools {
		names = append(names, tool.Name)
		if tool.InputSchema["type"] != "object" {
			t.Errorf("%s: input schema %v", tool.Name, tool.InputSchema)
		}
	}
	slices.Sort(names)
	if got.Server["name"] != "connectors" || got.ProtocolVersion == "" || !slices.Equal(names, mcpTools) {
		t.Fatalf("node client saw server %v, protocol %q, tools %v", got.Server, got.ProtocolVersion, names)
	}
	checkCallAPIResult(t, 200, got.Result)
	if r := e.api.Last(t); r.Token == "" || r.Header.Get("Connectors-Agent") != "" {
		t.Fatalf("the API got %+v", r)
	}
}
