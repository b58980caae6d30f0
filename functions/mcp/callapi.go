package mcp

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/net/http/httpguts"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
)

// Body encodings.
const (
	encText   = "text"
	encBase64 = "base64"
)

var apiMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

type callAPIIn struct {
	Connector    string            `json:"connector" jsonschema:"the connector's name, from list_connectors"`
	Method       string            `json:"method,omitempty" jsonschema:"HTTP method (default GET)"`
	Path         string            `json:"path,omitempty" jsonschema:"path below the connector's apiBaseUrl, without a query; a leading / is ignored"`
	Query        map[string]string `json:"query,omitempty" jsonschema:"query parameters, unescaped"`
	Headers      map[string]string `json:"headers,omitempty" jsonschema:"request headers; never Authorization or Cookie: the service adds the connector's credential"`
	Body         string            `json:"body,omitempty" jsonschema:"request body"`
	BodyEncoding string            `json:"bodyEncoding,omitempty" jsonschema:"how body is written: text (default) or base64 for binary data"`
}

type callAPIOut struct {
	Status       int               `json:"status" jsonschema:"the API's HTTP status"`
	Headers      map[string]string `json:"headers" jsonschema:"selected response headers (Content-Type, Location, Retry-After, ETag, Link, rate limits)"`
	Body         string            `json:"body" jsonschema:"the response body, cut when truncated"`
	BodyEncoding string            `json:"bodyEncoding" jsonschema:"text, or base64 when the body is not text"`
	Truncated    bool              `json:"truncated" jsonschema:"true when body was cut at the service's size limit"`
}

// answerHeaders are the response headers call_api returns: what a model
// needs to read an answer or page on; nothing of a session.
var answerHeaders = []string{
	"Content-Type", "Content-Length", "Content-Range", "Content-Disposition", "Location", "Retry-After",
	"ETag", "Last-Modified", "Link", "X-Request-Id", "RateLimit", "RateLimit-Policy",
	"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
}

func (s *Server) addCallAPI(srv *mcp.Server) {
	addTool(s, srv, &mcp.Tool{
		Name:  ToolCallAPI,
		Title: "Call an API through a connector",
		Description: "Sends an HTTP request to a connector's API (apiBaseUrl + path) with the connector's credential added by the service; " +
			"returns status, selected headers and the body (text, or base64 when binary; cut with truncated=true past the size limit). " +
			`Example: {"connector":"GmailAPI","method":"GET","path":"users/me/messages","query":{"maxResults":"5"}}; ` +
			`{"connector":"Tickets","method":"POST","path":"v2/tickets","headers":{"Content-Type":"application/json"},"body":"{\"title\":\"Printer down\"}"}.`,
		InputSchema: schemaFor[callAPIIn](func(p map[string]*jsonschema.Schema) {
			p["connector"].Examples = []any{"GmailAPI"}
			p["method"].Enum = stringsToAny(apiMethods)
			p["method"].Default = []byte(`"GET"`)
			p["path"].Examples = []any{"users/me/messages", "v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"}
			p["query"].Examples = []any{map[string]any{"maxResults": "5", "q": "is:unread"}}
			p["headers"].Examples = []any{map[string]any{"Content-Type": "application/json", "Accept": "application/json"}}
			p["bodyEncoding"].Enum = []any{encText, encBase64}
			p["bodyEncoding"].Default = []byte(`"text"`)
		}),
		// Any method on any API: it may change or delete data elsewhere.
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(true), OpenWorldHint: ptr(true)},
	}, s.callAPI)
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// callAPI checks what the proxy cannot know of a tool call (the encodings,
// the header names a model might reach for), then hands it to the proxy,
// which owns every rule of where a credential may go.
func (s *Server) callAPI(ctx context.Context, c *caller, in *callAPIIn) (*callAPIOut, error) {
	call, err := s.apiCall(c, in)
	if err != nil {
		return nil, err
	}
	if s.Proxy == nil {
		return nil, httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable, "call_api is not set up in this deployment")
	}
	resp, err := s.Proxy.Do(ctx, call)
	if err != nil {
		return nil, audited{err}
	}
	defer resp.Body.Close() // writes the proxy's audit line
	body, truncated, err := readCapped(resp.Body, s.Options.maxResult())
	if err != nil {
		return nil, audited{httpx.Errorf(http.StatusBadGateway, httpx.CodeUpstreamError, "the API's answer broke off after %d bytes", len(body))}
	}
	out := &callAPIOut{Status: resp.StatusCode, Headers: map[string]string{}, Truncated: truncated}
	for _, h := range answerHeaders {
		if v := resp.Header.Get(h); v != "" {
			out.Headers[h] = v
		}
	}
	out.Body, out.BodyEncoding = renderBody(body, resp.Header.Get("Content-Type"), truncated)
	return out, nil
}

// apiCall validates a call_api request into the proxy's call.
func (s *Server) apiCall(c *caller, in *callAPIIn) (*proxyCall, error) {
	if in.Connector == "" {
		return nil, httpx.FieldError("connector", "is required: a connector's name from list_connectors")
	}
	if connector.ValidateName(in.Connector) != nil {
		return nil, httpx.FieldError("connector", "is not a connector name")
	}
	method := strings.ToUpper(in.Method)
	if method == "" {
		method = http.MethodGet
	}
	if !contains(apiMethods, method) {
		return nil, httpx.FieldError("method", "must be one of %s", strings.Join(apiMethods, ", "))
	}
	if strings.ContainsAny(in.Path, "?#") {
		return nil, httpx.FieldError("path", "must not hold a query or fragment: put parameters in query")
	}
	header := http.Header{}
	for k, v := range in.Headers {
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
			return nil, httpx.FieldError("headers", "%q is not a valid header", k)
		}
		switch lk := strings.ToLower(k); {
		case lk == "authorization" || lk == "proxy-authorization" || lk == "cookie":
			return nil, httpx.FieldError("headers", "%s is never sent: the service adds the connector's credential", k)
		case lk == "host" || lk == "content-length" || strings.HasPrefix(lk, "connectors-"):
			return nil, httpx.FieldError("headers", "%s is set by the service", k)
		}
		header.Set(k, v)
	}
	var body []byte
	switch in.BodyEncoding {
	case "", encText:
		body = []byte(in.Body)
	case encBase64:
		b, err := base64.StdEncoding.DecodeString(in.Body)
		if err != nil {
			return nil, httpx.FieldError("body", "is not standard base64 (RFC 4648 §4, padded)")
		}
		body = b
	default:
		return nil, httpx.FieldError("bodyEncoding", "must be text or base64")
	}
	q := url.Values{}
	keys := make([]string, 0, len(in.Query))
	for k := range in.Query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.Add(k, in.Query[k])
	}
	call := &proxyCall{
		Principal: c.principal.Name(), Agent: c.agent, Connector: in.Connector,
		Method: method, Path: strings.TrimPrefix(in.Path, "/"), RawQuery: q.Encode(),
		Header: header, ContentLength: int64(len(body)), Op: "mcp." + ToolCallAPI,
	}
	if len(body) > 0 {
		call.Body = bytes.NewReader(body)
	}
	return call, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// readCapped reads at most limit bytes of r and says whether more were
// there; the rest is never read.
func readCapped(r io.Reader, limit int64) ([]byte, bool, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return body, false, fmt.Errorf("read: %w", err)
	}
	if int64(len(body)) > limit {
		return body[:limit], true, nil
	}
	return body, false, nil
}

// renderBody is body as text when its media type is textual (or absent)
// and it is valid UTF-8 — a cut text ends on a whole character — else as
// base64.
func renderBody(body []byte, contentType string, truncated bool) (string, string) {
	if textual(contentType) {
		text := body
		if truncated {
			// Drop a character the cut split, at most 3 bytes.
			for i := 0; i < utf8.UTFMax && len(text) > 0 && !utf8.Valid(text); i++ {
				text = text[:len(text)-1]
			}
		}
		if utf8.Valid(text) {
			return string(text), encText
		}
	}
	return base64.StdEncoding.EncodeToString(body), encBase64
}

// textual reports media types whose bodies are text.
func textual(contentType string) bool {
	if contentType == "" {
		return true // decided by the bytes: valid UTF-8 or not
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded",
		"application/yaml", "application/x-yaml", "application/x-ndjson", "application/graphql", "application/sql":
		return true
	}
	return false
}
