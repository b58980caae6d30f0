package mcp_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/functions/mcp"
	"connectors.dev/connectors/shared/objects/objectservers"
)

// TestFileTools: each file tool's happy path on gs:// and s3:// through
// the Go SDK's client: write (text and base64), list, read (text and
// binary), sign (a GET URL that fetches the object); the storage servers
// see only the minted credentials, and the files audit line names the
// mcp function.
func TestFileTools(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.storageConnectors()
	cs := e.session()
	for _, tc := range []struct{ conn, base string }{{"GCS", "gs://gcs-bucket/"}, {"S3", "s3://s3-bucket/"}} {
		t.Run(tc.conn, func(t *testing.T) {
			w := mustOK(t, cs, mcp.ToolWriteFile, map[string]any{"connector": tc.conn, "uri": tc.base + "notes/a.md", "content": "# Notes ✓", "contentType": "text/markdown"})
			if w["uri"] != tc.base+"notes/a.md" || w["size"] != float64(len("# Notes ✓")) {
				t.Fatalf("write_file: %v", w)
			}
			bin := []byte{0xff, 0x00, 0xfe, 0x01}
			mustOK(t, cs, mcp.ToolWriteFile, map[string]any{"connector": tc.conn, "uri": tc.base + "notes/b.bin", "content": base64.StdEncoding.EncodeToString(bin), "encoding": "base64"})
			l := mustOK(t, cs, mcp.ToolListFiles, map[string]any{"connector": tc.conn, "uri": tc.base + "notes/"})
			objs, _ := l["objects"].([]any)
			if len(objs) != 2 || objs[0].(map[string]any)["uri"] != tc.base+"notes/a.md" {
				t.Fatalf("list_files: %v", l)
			}
			r := mustOK(t, cs, mcp.ToolReadFile, map[string]any{"connector": tc.conn, "uri": tc.base + "notes/a.md"})
			if r["content"] != "# Notes ✓" || r["encoding"] != "text" || r["truncated"] != false || !strings.HasPrefix(r["contentType"].(string), "text/markdown") {
				t.Fatalf("read_file text: %v", r)
			}
			r = mustOK(t, cs, mcp.ToolReadFile, map[string]any{"connector": tc.conn, "uri": tc.base + "notes/b.bin"})
			if r["content"] != base64.StdEncoding.EncodeToString(bin) || r["encoding"] != "base64" {
				t.Fatalf("read_file binary: %v", r)
			}
			s := mustOK(t, cs, mcp.ToolSignURL, map[string]any{"connector": tc.conn, "uri": tc.base + "notes/a.md", "expiresIn": 600})
			signed, _ := s["url"].(string)
			if s["method"] != "GET" || s["expiresAt"] == "" || signed == "" {
				t.Fatalf("sign_url: %v", s)
			}
			if tc.conn == "GCS" {
				if err := objectservers.VerifyGCSSignedURL(signed, "GET", "", e.saKey); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := http.Get(signed)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "# Notes ✓" {
				t.Fatalf("GET the signed URL: %d %q", resp.StatusCode, body)
			}
		})
	}
	for _, a := range e.gcs.Authorizations() {
		if a != "" && a != "Bearer "+gcsAccessToken { // "": the signed URL's GET
			t.Errorf("GCS saw %q, want the minted token", a)
		}
	}
	for _, k := range e.s3.AccessKeys() {
		if k != stsKeyID {
			t.Errorf("S3 saw key %q, want the STS one", k)
		}
	}
	if !strings.Contains(e.logs.String(), `"principal":"local-dev","agent":"agent-1","connector":"GCS","op":"write","uri":"gs://gcs-bucket/notes/a.md","outcome":"ok","via":"mcp"`) {
		t.Errorf("no files audit line via mcp:\n%s", e.logs.String())
	}
}

// TestReadFileTruncated: an object over CONNECTORS_MCP_MAX_RESULT_BYTES is
// cut at the limit with truncated set, on a whole character.
func TestReadFileTruncated(t *testing.T) {
	e := newEnv(t, envOptions{options: mcp.Options{MaxResultBytes: 1000}})
	e.storageConnectors()
	text := strings.Repeat("é", 2000) // 2 bytes each: the cut at 1000 is whole
	e.gcs.Put(t, "gcs-bucket", "big.txt", "text/plain; charset=utf-8", []byte("x"+text))
	cs := e.session()
	r := mustOK(t, cs, mcp.ToolReadFile, map[string]any{"connector": "GCS", "uri": "gs://gcs-bucket/big.txt"})
	content, _ := r["content"].(string)
	if r["truncated"] != true || r["encoding"] != "text" || content != "x"+strings.Repeat("é", 499) {
		t.Fatalf("read_file of 4001 bytes at a 1000-byte cap: truncated %v, encoding %v, %d bytes", r["truncated"], r["encoding"], len(content))
	}
	// Under the cap: whole, not truncated.
	e.gcs.Put(t, "gcs-bucket", "small.txt", "text/plain", []byte("small"))
	if r := mustOK(t, cs, mcp.ToolReadFile, map[string]any{"connector": "GCS", "uri": "gs://gcs-bucket/small.txt"}); r["truncated"] != false || r["content"] != "small" {
		t.Fatalf("small read: %v", r)
	}
	if strings.Contains(e.logs.String(), "cut short") {
		t.Errorf("a capped read is logged as cut short:\n%s", e.logs.String())
	}
}

// TestFileToolRefusals: the files function's rules, as tool errors with
// its codes and fields: unknown connector, a connector of another agent,
// an inactive one, a grant type that does not fit the URI, traversal in
// the key, no connector, bad encodings.
func TestFileToolRefusals(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.storageConnectors()
	e.create(map[string]any{"name": "NotMine", "grantType": "aws_iam", "clientId": awsKeyID, "clientSecret": awsSecret, "agents": []string{"agent-2"}})
	cs := e.session()
	for _, tc := range []struct {
		name, tool  string
		args        map[string]any
		code, field string
	}{
		{"unknown connector", mcp.ToolReadFile, map[string]any{"connector": "Nope", "uri": "gs://gcs-bucket/k"}, "not_found", ""},
		{"another agent's connector", mcp.ToolListFiles, map[string]any{"connector": "NotMine", "uri": "s3://s3-bucket/"}, "permission_denied", "agent"},
		{"inactive connector", mcp.ToolReadFile, map[string]any{"connector": "Off", "uri": "s3://s3-bucket/k"}, "failed_precondition", ""},
		{"gs with an aws connector", mcp.ToolReadFile, map[string]any{"connector": "S3", "uri": "gs://gcs-bucket/k"}, "invalid_argument", "connector"},
		{"dot-dot key", mcp.ToolReadFile, map[string]any{"connector": "GCS", "uri": "gs://gcs-bucket/a/../b"}, "invalid_argument", "uri"},
		{"dot-dot write", mcp.ToolWriteFile, map[string]any{"connector": "GCS", "uri": "gs://gcs-bucket/../other/k", "content": "x"}, "invalid_argument", "uri"},
		{"http uri", mcp.ToolSignURL, map[string]any{"connector": "GCS", "uri": "https://storage.googleapis.com/b/k"}, "invalid_argument", "uri"},
		{"no connector", mcp.ToolListFiles, map[string]any{"connector": "", "uri": "gs://gcs-bucket/"}, "invalid_argument", "connector"},
		{"content not base64", mcp.ToolWriteFile, map[string]any{"connector": "GCS", "uri": "gs://gcs-bucket/k", "content": "not base64!", "encoding": "base64"}, "invalid_argument", "content"},
		{"missing argument", mcp.ToolReadFile, map[string]any{"uri": "gs://gcs-bucket/k"}, "invalid_argument", "connector"},
		{"unknown argument", mcp.ToolReadFile, map[string]any{"connector": "GCS", "uri": "gs://gcs-bucket/k", "colour": "red"}, "invalid_argument", "colour"},
		{"argument of the wrong type", mcp.ToolListFiles, map[string]any{"connector": "GCS", "uri": "gs://gcs-bucket/", "pageSize": "ten"}, "invalid_argument", "pageSize"},
		{"sign DELETE", mcp.ToolSignURL, map[string]any{"connector": "GCS", "uri": "gs://gcs-bucket/k", "method": "DELETE"}, "invalid_argument", "method"},
		{"missing object", mcp.ToolReadFile, map[string]any{"connector": "GCS", "uri": "gs://gcs-bucket/nothing/here"}, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) { mustRefuse(t, cs, tc.tool, tc.args, tc.code, tc.field) })
	}
	// A refusal leaves an audit line naming the tool.
	if !strings.Contains(e.logs.String(), `"principal":"local-dev","agent":"agent-1","op":"mcp.list_files","outcome":"permission_denied"`) {
		t.Errorf("no audit line for a refused tool call:\n%s", e.logs.String())
	}
}

// TestFileToolsKeepTheRequestDeadline: the SDK's request outlives
// CONNECTORS_REQUEST_TIMEOUT (for call_api's APIs), but a tool's calls to
// storage do not: a silent GCS ends read_file with unavailable near the
// deadline, not at the SDK's bound.
func TestFileToolsKeepTheRequestDeadline(t *testing.T) {
	e := newEnv(t, envOptions{requestTimeout: 500 * time.Millisecond, stallable: true})
	e.storageConnectors()
	e.gcs.Put(t, "gcs-bucket", "k.txt", "text/plain", []byte("x"))
	cs := e.session()
	e.gcsProxy.Stall()
	defer e.gcsProxy.Restore()
	start := time.Now()
	mustRefuse(t, cs, mcp.ToolReadFile, map[string]any{"connector": "GCS", "uri": "gs://gcs-bucket/k.txt"}, "unavailable", "")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a stalled GCS answered after %v; the deadline is 500ms", d)
	}
}
