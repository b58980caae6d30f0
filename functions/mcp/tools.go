package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"connectors.dev/connectors/shared/httpx"
)

// Tool names.
const (
	ToolListConnectors = "list_connectors"
	ToolCallAPI        = "call_api"
	ToolListFiles      = "list_files"
	ToolReadFile       = "read_file"
	ToolWriteFile      = "write_file"
	ToolSignURL        = "sign_url"
)

// addTools registers every tool on srv.
func (s *Server) addTools(srv *mcp.Server) {
	s.addConnectorTools(srv)
	s.addCallAPI(srv)
	s.addFileTools(srv)
}

// addTool registers a tool whose handler acts for the request's caller.
// Its arguments are checked against the tool's input schema here rather
// than by the SDK, so that a bad argument is a tool error like any other:
// the API's JSON error body, code invalid_argument, naming the field. A
// handler's error becomes such a tool error too (isError); its result is
// the structured content, also given as JSON text for older clients.
func addTool[In, Out any](s *Server, srv *mcp.Server, t *mcp.Tool, h func(ctx context.Context, c *caller, in *In) (*Out, error)) {
	in, ok := t.InputSchema.(*jsonschema.Schema)
	if !ok {
		panic("mcp: tool " + t.Name + ": InputSchema must be a *jsonschema.Schema")
	}
	resolved, err := in.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
	if err != nil {
		panic("mcp: tool " + t.Name + ": " + err.Error()) // a programming error, caught by every test
	}
	tool := *t
	tool.OutputSchema = schemaFor[Out](nil)
	srv.AddTool(&tool, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		c, ok := callerOf(ctx)
		if !ok {
			// MCP always sets it; a tool never runs for nobody.
			return errorResult(s.toolError(ctx, t.Name, nil, httpx.Errorf(http.StatusUnauthorized, httpx.CodeUnauthenticated, "no caller"))), nil
		}
		args, err := decodeArgs[In](req.Params.Arguments, resolved)
		if err != nil {
			return errorResult(s.toolError(ctx, t.Name, c, err)), nil
		}
		ctx, cancel := c.bound(ctx)
		defer cancel()
		out, err := h(ctx, c, args)
		if err != nil {
			return errorResult(s.toolError(ctx, t.Name, c, err)), nil
		}
		raw, err := json.Marshal(out)
		if err != nil {
			return errorResult(s.toolError(ctx, t.Name, c, fmt.Errorf("mcp: %s: encode result: %w", t.Name, err))), nil
		}
		return &mcp.CallToolResult{StructuredContent: json.RawMessage(raw), Content: []mcp.Content{&mcp.TextContent{Text: string(raw)}}}, nil
	})
}

func errorResult(err error) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}
}

// schemaField finds the argument a schema violation is about.
var (
	schemaField   = regexp.MustCompile(`/properties/([^/:\s]+)`)
	namedProperty = regexp.MustCompile(`properties:? \["([^"]+)"`)
)

// decodeArgs checks raw against the tool's schema and decodes it.
func decodeArgs[In any](raw json.RawMessage, schema *jsonschema.Resolved) (*In, error) {
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage("{}")
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, httpx.FieldError("arguments", "must be a JSON object")
	}
	if err := schema.Validate(generic); err != nil {
		msg := err.Error()
		field := "arguments"
		if m := schemaField.FindStringSubmatch(msg); m != nil {
			field = m[1]
		} else if m := namedProperty.FindStringSubmatch(msg); m != nil {
			field = m[1] // a missing or unexpected property, listed first
		}
		// "validating root: validating /properties/method: enum: …" → "enum: …"
		if i := strings.LastIndex(msg, ": validating "); i >= 0 {
			msg = msg[i+len(": validating "):]
		}
		msg = strings.TrimPrefix(msg, "validating root: ")
		if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "/") {
			msg = rest
		}
		return nil, httpx.FieldError(field, "%s", msg)
	}
	var in In
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, httpx.FieldError("arguments", "do not match the tool's schema")
	}
	return &in, nil
}

// toolErr is a tool's refusal or failure, as the tool error's text: the
// API's JSON error body, so that a model reads the same code and message
// an HTTP caller would.
type toolErr struct{ e *httpx.Error }

func (t *toolErr) Error() string {
	var body struct {
		Error struct {
			Code     string          `json:"code"`
			Message  string          `json:"message"`
			Field    string          `json:"field,omitempty"`
			Upstream *httpx.Upstream `json:"upstream,omitempty"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message, body.Error.Field, body.Error.Upstream = t.e.Code, t.e.Message, t.e.Field, t.e.Upstream
	b, _ := json.Marshal(body)
	return string(b)
}

// audited marks an error whose audit line its service already wrote (the
// proxy writes one for every call, refused or not).
type audited struct{ error }

func (a audited) Unwrap() error { return a.error }

// toolError maps err to the API's wire form and writes the line a refused
// or failed tool call leaves: the audit line (unless the service wrote
// it), and for server-side failures the cause, which never holds a secret.
func (s *Server) toolError(ctx context.Context, tool string, c *caller, err error) error {
	e := httpx.Map(err)
	principal, agent := "", ""
	if c != nil {
		principal, agent = c.principal.Name(), c.agent
	}
	if _, done := err.(audited); !done {
		s.Log.LogAttrs(ctx, slog.LevelInfo, "mcp "+tool+" "+e.Code, slog.Bool("audit", true), slog.String("principal", principal),
			slog.String("agent", agent), slog.String("op", "mcp."+tool), slog.String("outcome", e.Code))
	}
	if e.Status >= 500 {
		s.Log.LogAttrs(ctx, slog.LevelError, "mcp tool failed", slog.String("tool", tool), slog.Int("status", e.Status),
			slog.String("code", e.Code), slog.String("error", err.Error()))
	}
	return &toolErr{e: e}
}

// schemaFor is T's inferred JSON schema, then edited: descriptions come
// from the struct tags, enums and examples from edit.
func schemaFor[T any](edit func(props map[string]*jsonschema.Schema)) *jsonschema.Schema {
	sc, err := jsonschema.For[T](nil)
	if err != nil {
		panic("mcp: schema: " + err.Error()) // a programming error, caught by every test
	}
	if edit != nil {
		edit(sc.Properties)
	}
	return sc
}

func ptr[T any](v T) *T { return &v }
