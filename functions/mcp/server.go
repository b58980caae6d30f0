// Package mcp is the agents' Model Context Protocol function: one URL that
// any MCP client (Google ADK's McpToolset, Gemini CLI, Claude, the SDKs)
// points at to get the agent's connectors as tools — list_connectors,
// call_api, list_files, read_file, write_file, sign_url — without ever
// holding a credential.
//
// It is the official Go SDK's Streamable HTTP transport in stateless mode
// with JSON responses: every POST is served on its own, so instances share
// nothing and no session affinity is assumed. Before the SDK sees a
// request, the caller is authenticated exactly as for the token function
// and the agent is settled (the Connectors-Agent header, or the one agent
// ID the caller is bound to); refusals there are HTTP errors with the
// API's JSON body. Every tool then acts for that agent only, through the
// same services as the proxy and files functions, in process: call_api is
// shared/proxy's Do, the file tools are files.Server.Do, so their rules and
// audit lines are those functions' own. A tool's refusal is a tool error
// (isError) carrying the API's code and message.
package mcp

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint"
)

// FnMCP is the function's name.
const FnMCP = "mcp"

// AgentHeader names the agent a request acts for.
const AgentHeader = "Connectors-Agent"

// Version is what the server tells clients in initialize.
const Version = "1.0.0"

// Authenticator tells who is calling and for which agents they may act.
type Authenticator interface {
	Authenticate(r *http.Request, need auth.Role) (auth.Principal, error)
	MayActFor(p auth.Principal, agent string) bool
	SoleAgent(p auth.Principal) (string, bool)
}

// Server serves the mcp function. Fields are set before the first
// request; the MCP handler is built on it.
type Server struct {
	// Mint lists the agent's connectors (its catalog) and checks them.
	Mint *mint.Service
	Auth Authenticator
	Log  *slog.Logger
	// Proxy sends call_api's requests: shared/proxy's Service.
	Proxy APIProxy
	// Files runs the file tools under the files function's rules.
	Files   *files.Server
	Options Options

	once    sync.Once
	handler http.Handler
}

// Handlers maps the function name to its handler.
func (s *Server) Handlers() map[string]http.Handler {
	return map[string]http.Handler{FnMCP: http.HandlerFunc(s.MCP)}
}

// caller is who a request acts as, settled before the SDK sees it, and
// the request's deadline (zero: none), which bounds each tool's calls to
// the service's own backends.
type caller struct {
	principal auth.Principal
	agent     string
	deadline  time.Time
}

// bound puts the request deadline back on ctx for a tool's work: the
// catalog, minting and storage answer within it, while an API called
// through the proxy (whose StreamContext escapes it) has the proxy's own
// limits.
func (c *caller) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.deadline.IsZero() {
		return context.WithCancel(ctx)
	}
	return httpx.Bound(ctx, time.Until(c.deadline))
}

type callerKey struct{}

// callerOf returns the caller MCP put in ctx. The SDK serves a stateless
// request's tool calls in a context derived from the HTTP request's; a
// context without one (never expected) acts for nobody.
func callerOf(ctx context.Context) (*caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*caller)
	return c, ok
}

// MCP is the mcp function.
func (s *Server) MCP(w http.ResponseWriter, r *http.Request) {
	p, err := s.Auth.Authenticate(r, auth.RoleAgent)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	agent, err := s.agent(r, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The SDK ends a request with its context, and an API answering
	// call_api may outlast the request deadline (a model generating a long
	// answer): the SDK gets the request's context without that deadline,
	// bounded by MaxCallDuration, and each tool puts the deadline back on
	// its own backend calls (caller.bound).
	deadline, _ := r.Context().Deadline()
	ctx, cancel := httpx.StreamContext(r.Context(), s.Options.maxCall())
	defer cancel()
	ctx = context.WithValue(ctx, callerKey{}, &caller{principal: p, agent: agent, deadline: deadline})
	s.mcpHandler().ServeHTTP(w, r.WithContext(ctx))
}

// agent settles the agent a request acts for: the header, or the caller's
// only bound agent ID; the caller must be allowed to act for it.
func (s *Server) agent(r *http.Request, p auth.Principal) (string, error) {
	vals := r.Header.Values(AgentHeader)
	if len(vals) > 1 {
		return "", httpx.FieldError(AgentHeader, "must be sent once")
	}
	agent := ""
	if len(vals) == 1 {
		agent = vals[0]
	}
	if agent == "" {
		sole, ok := s.Auth.SoleAgent(p)
		if !ok {
			return "", httpx.FieldError(AgentHeader, "header is required: the agent ID the tools act for (only a caller bound to exactly one agent ID may leave it out)")
		}
		agent = sole
	}
	if err := connector.ValidateAgent(AgentHeader, agent); err != nil {
		return "", err
	}
	if !s.Auth.MayActFor(p, agent) {
		s.Log.Warn("mcp request refused", "audit", true, "principal", p.Name(), "agent", agent, "op", "mcp", "outcome", httpx.CodePermissionDenied)
		return "", httpx.Errorf(http.StatusForbidden, httpx.CodePermissionDenied, "%s may not act for agent %s", p.Name(), agent)
	}
	return agent, nil
}

// mcpHandler is the SDK's Streamable HTTP handler over one server with
// every tool, built on first use.
func (s *Server) mcpHandler() http.Handler {
	s.once.Do(func() {
		srv := mcp.NewServer(&mcp.Implementation{Name: "connectors", Title: "Connectors", Version: Version}, &mcp.ServerOptions{
			Instructions: instructions,
			// Tools only, and a fixed list: no list_changed to wait for.
			Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
		})
		s.addTools(srv)
		s.handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
			// No session outlives its POST: any instance serves any request.
			Stateless:    true,
			JSONResponse: true,
			// The SDK's own log is left off: its messages may quote what a
			// client sent, and tool arguments may hold an API's data.
			Logger:              nil,
			MaxRequestBodyBytes: s.Options.maxRequest(),
		})
	})
	return s.handler
}

const instructions = "Tools of the Connectors service, acting for one agent. " +
	"list_connectors shows the connectors this agent may use; call_api sends an HTTP request to a connector's API " +
	"(the service adds the credential: never send Authorization); list_files, read_file, write_file and sign_url " +
	"work on gs:// and s3:// objects with a gcs or aws connector."

// fail answers an HTTP-level refusal with the API's JSON error body;
// server-side failures are logged with their cause, which holds no secret.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := httpx.Map(err)
	if e.Status >= 500 {
		s.Log.Error("mcp request failed", "path", r.URL.Path, "status", e.Status, "code", e.Code, "error", err.Error())
	}
	httpx.WriteError(w, e)
}
