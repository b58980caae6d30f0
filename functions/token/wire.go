package token

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/mint"
)

// The cache-hit path renders nothing it rendered before. A token
// response's body is fixed by the credential except expires_in, which
// counts from now; so the body is rendered once per credential (the mint's
// local cache hands out the same *mint.Credential until it changes) and
// split around expires_in, and each request writes head + seconds + tail.

// renderedToken is one credential's response body around expires_in, and
// the attributes of the audit line of its first local hit: a served line's
// attributes depend on the caller, the agent and the cache layer besides
// the credential, and repeat from one request of a caller to the next.
type renderedToken struct {
	cred       *mint.Credential
	head, tail []byte
	audit      atomic.Pointer[renderedAudit]
}

type renderedAudit struct {
	principal, agent string
	line             *logging.Rendered
}

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// serveToken writes the audit line of a served OAuth credential c and
// answers it. What a repeated hit does not need (rendering, another
// caller's line) is in functions of their own, which keeps this one's
// stack frame small.
func (s *Server) serveToken(w http.ResponseWriter, p auth.Principal, req *request, layer mint.Layer, c *mint.Credential, now time.Time) {
	rt, _ := s.rendered.Load(req.Connector)
	r, ok := rt.(*renderedToken)
	if !ok || r.cred != c {
		r = s.render(req.Connector, c, now)
	}
	if a := r.audit.Load(); a != nil && layer == mint.LayerLocal && a.principal == p.Name() && a.agent == req.Agent {
		logging.LogRendered(context.Background(), s.Log, now, a.line)
	} else {
		s.auditServed(r, p, req, layer, c, now)
	}
	bp := bodyPool.Get().(*[]byte)
	b := append((*bp)[:0], r.head...)
	b = strconv.AppendInt(b, expiresIn(c, now), 10)
	b = append(b, r.tail...)
	httpx.WriteJSONBytes(w, http.StatusOK, b)
	if cap(b) <= 64<<10 {
		*bp = b
		bodyPool.Put(bp)
	}
}

// render renders c's response body and keeps it for the connector.
func (s *Server) render(connector string, c *mint.Credential, now time.Time) *renderedToken {
	r := renderToken(s.wire(c, now), c)
	s.rendered.Store(connector, r)
	return r
}

// auditServed writes the audit line of a served credential whose line is
// not rendered for this caller. The line of a local hit is rendered once,
// for the first caller, and written at once; any other line (another
// caller, another layer) is built on the stack, as re-rendering for
// callers that take turns would allocate every time.
func (s *Server) auditServed(r *renderedToken, p auth.Principal, req *request, layer mint.Layer, c *mint.Credential, now time.Time) {
	if layer == mint.LayerLocal && r.audit.Load() == nil {
		a := &renderedAudit{principal: p.Name(), agent: req.Agent,
			line: logging.Render(slog.LevelInfo, "token ok", auditAttrs(nil, p, req, "ok", layer, c.Expiry)...)}
		if r.audit.CompareAndSwap(nil, a) {
			logging.LogRendered(context.Background(), s.Log, now, a.line)
			return
		}
	}
	s.audit(p, req, "ok", layer, c.Expiry)
}

// expiresInKey ends what precedes the number. Inside a JSON string every
// quote is escaped, so `,"expires_in":` can only be the member itself.
const expiresInKey = `,"expires_in":`

// renderToken renders resp as httpx.WriteJSON would, with expires_in 1,
// and splits it around that number.
func renderToken(resp Response, c *mint.Credential) *renderedToken {
	resp.ExpiresIn = 1
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(&resp) // strings and numbers only: it cannot fail
	body := buf.Bytes()
	key := []byte(expiresInKey + "1")
	i := bytes.Index(body, key)
	if resp.AccessToken == "" && resp.TokenType == "" {
		key = []byte(`{"expires_in":1`) // the first member
		i = bytes.Index(body, key)
	}
	head := body[:i+len(key)-1]
	return &renderedToken{cred: c, head: bytes.Clone(head), tail: bytes.Clone(body[i+len(key):])}
}

// expiresIn is the credential's remaining life in whole seconds, at least 1.
func expiresIn(c *mint.Credential, now time.Time) int64 {
	in := int64(c.Expiry.Sub(now) / time.Second)
	if in < 1 {
		in = 1
	}
	return in
}

// decodeRequest reads the request body as httpx.DecodeJSON does. The one
// shape agents send, {"connector":"…","agent":"…"} in either order, without
// whitespace, escapes or bytes outside printable ASCII, is read directly;
// every other body goes through httpx.DecodeBytes with its strict rules,
// which give the same result for the shape read directly.
//
// An agent repeats its request, so the last body read directly is kept
// with its request: the same bytes again are that request, without
// parsing or allocating its strings.
func (s *Server) decodeRequest(w http.ResponseWriter, r *http.Request, req *request) error {
	bp := readPool.Get().(*[]byte)
	defer readPool.Put(bp)
	body, err := httpx.ReadJSONInto(w, r, httpx.MaxBodyBytes, *bp)
	if err != nil {
		return err
	}
	if last := s.lastBody.Load(); last != nil && string(last.body) == string(body) {
		*req = last.req
		return nil
	}
	if parseSimple(body, req) {
		if len(body) <= maxMemoBody {
			s.lastBody.Store(&parsedBody{body: bytes.Clone(body), req: *req})
		}
		return nil
	}
	*req = request{}
	return httpx.DecodeBytes(body, req)
}

// maxMemoBody bounds the body decodeRequest keeps: an agent's request is a
// few dozen bytes, and a caller sending 64 KiB names (refused after
// decoding) should not make each request copy them again.
const maxMemoBody = 256

// parsedBody is a request body read directly and the request it is.
type parsedBody struct {
	body []byte
	req  request
}

// readPool holds the buffers request bodies are read into.
var readPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// parseSimple reads {"k1":"v1","k2":"v2"} where {k1, k2} is {connector,
// agent} and the values are plain printable ASCII; false for anything else.
func parseSimple(b []byte, req *request) bool {
	var seenConnector, seenAgent bool
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	b = b[1:]
	for i := 0; i < 2; i++ {
		var key string
		switch {
		case bytes.HasPrefix(b, []byte(`"connector":"`)):
			key, b = "connector", b[len(`"connector":"`):]
		case bytes.HasPrefix(b, []byte(`"agent":"`)):
			key, b = "agent", b[len(`"agent":"`):]
		default:
			return false
		}
		end := -1
		for j, c := range b {
			if c == '"' {
				end = j
				break
			}
			if c < 0x20 || c > 0x7e || c == '\\' {
				return false
			}
		}
		if end < 0 {
			return false
		}
		v := string(b[:end])
		b = b[end+1:]
		switch {
		case key == "connector" && !seenConnector:
			req.Connector, seenConnector = v, true
		case key == "agent" && !seenAgent:
			req.Agent, seenAgent = v, true
		default:
			return false // a repeated key: the strict decoder refuses it
		}
		sep := byte(',')
		if i == 1 {
			sep = '}'
		}
		if len(b) == 0 || b[0] != sep {
			return false
		}
		b = b[1:]
	}
	return len(b) == 0
}
