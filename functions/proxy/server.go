// Package proxy is the agents' API function: ANY /{connector}/{path}?{query}
// with the header Connectors-Agent goes to the connector's apiBaseUrl plus
// path, with the credential minted from the connector added on the way,
// so the agent never holds it. The call itself is shared/proxy's; this
// package is the HTTP edge: who is calling, for which agent, the answer
// streamed back, and the proxy's own errors marked Connectors-Error.
package proxy

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/proxy"
)

// FnProxy is the function's name; the local run serves it at /proxy/.
const FnProxy = "proxy"

// Headers of the proxy's own.
const (
	// HeaderAgent names the agent a call is for.
	HeaderAgent = "Connectors-Agent"
	// HeaderError marks an answer of the proxy's own (its error code), so
	// that an agent can tell it from the API's.
	HeaderError = "Connectors-Error"
)

// Authenticator tells who is calling and for which agents they may act.
type Authenticator interface {
	Authenticate(r *http.Request, need auth.Role) (auth.Principal, error)
	MayActFor(p auth.Principal, agent string) bool
}

// Server serves the proxy function.
type Server struct {
	Proxy *proxy.Service
	Auth  Authenticator
	Log   *slog.Logger
}

// Handlers maps the function name to its handler.
func (s *Server) Handlers() map[string]http.Handler {
	return map[string]http.Handler{FnProxy: http.HandlerFunc(s.Serve)}
}

// Serve is the proxy function. The request's path is /{connector}/{path}:
// the function's URL is its root when deployed; the local run strips its
// /proxy prefix first.
func (s *Server) Serve(w http.ResponseWriter, r *http.Request) {
	p, err := s.Auth.Authenticate(r, auth.RoleAgent)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	agent := strings.TrimSpace(r.Header.Get(HeaderAgent))
	if agent == "" {
		s.fail(w, r, httpx.FieldError(HeaderAgent, "header is required: the agent ID the call is for"))
		return
	}
	if err := connector.ValidateAgent(HeaderAgent, agent); err != nil {
		s.fail(w, r, err)
		return
	}
	name, rest := splitPath(r.URL.EscapedPath())
	if name == "" {
		s.fail(w, r, httpx.FieldError("connector", "is required: call /{connector}/{path}"))
		return
	}
	if err := connector.ValidateName(name); err != nil {
		s.fail(w, r, httpx.FieldError("connector", "is not a connector name: call /{connector}/{path}"))
		return
	}
	call := &proxy.Call{
		Principal: p.Name(), Agent: agent, Connector: name,
		Method: r.Method, Path: rest, RawQuery: r.URL.RawQuery,
		Header: r.Header, Body: r.Body, ContentLength: r.ContentLength, Op: "proxy",
	}
	if !s.Auth.MayActFor(p, agent) {
		err := httpx.Errorf(http.StatusForbidden, httpx.CodePermissionDenied, "%s may not act for agent %s", p.Name(), agent)
		s.Proxy.Refused(call, err)
		s.fail(w, r, err)
		return
	}
	resp, err := s.Proxy.Do(r.Context(), call)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer resp.Body.Close()
	proxy.CopyResponseHeader(w.Header(), resp.Header)
	if resp.ContentLength > maxFramedAnswer {
		// Cloud Run refuses an HTTP/1 answer over 32 MiB that declares its
		// length; sent chunked (streamed), it passes whole.
		w.Header().Del("Content-Length")
	}
	w.WriteHeader(resp.StatusCode)
	if err := stream(w, resp); err != nil {
		// The status is gone: cut the connection, so the caller sees a
		// broken answer rather than a short one that looks whole.
		resp.Body.Close()
		panic(http.ErrAbortHandler)
	}
}

// maxFramedAnswer is the largest answer passed on with its Content-Length:
// Cloud Run's limit for a non-streamed HTTP/1 response.
const maxFramedAnswer = 32 << 20

// splitPath splits /{connector}/{rest} (escaped).
func splitPath(p string) (name, rest string) {
	p = strings.TrimPrefix(p, "/")
	name, rest, _ = strings.Cut(p, "/")
	return name, rest
}

// copyBuffers hold stream's 32 KiB buffers: one made per call was, for a
// small answer, a sixth of a proxied call's CPU (the allocation and its
// zeroing).
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// stream copies the answer's body to the caller; an event stream or a
// body of unknown length (chunked) is flushed as it arrives, so that the
// caller sees each event when the API sends it.
func stream(w http.ResponseWriter, resp *http.Response) error {
	flush := resp.ContentLength < 0 || strings.HasPrefix(strings.ToLower(resp.Header.Get("Content-Type")), "text/event-stream")
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	rc := http.NewResponseController(w)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush {
				if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
					return ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// fail answers an error of the proxy's own, marked with Connectors-Error;
// server-side failures are logged with their cause, which holds no secret.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := httpx.Map(err)
	if e.Status >= 500 && e.Status != http.StatusBadGateway && e.Status != http.StatusGatewayTimeout {
		s.Log.Error("proxy request failed", "status", e.Status, "code", e.Code, "error", err.Error())
	}
	w.Header().Set(HeaderError, e.Code)
	httpx.WriteError(w, e)
}
