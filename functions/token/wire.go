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
// answers it.
func (s *Server) serveToken(w http.ResponseWriter, p auth.Principal, req *request, layer mint.Layer, c *mint.Credential, now time.Time) {
	rt, _ := s.rendered.Load(req.Connector)
	r, ok := rt.(*renderedToken)
	if !ok || r.cred != c {
		r = renderToken(s.wire(c, now), c)
		s.rendered.Store(req.Connector, r)
	}
	// The line of a local hit is rendered once, for the first caller; any
	// other line (another caller, another layer) is built on the stack, as
	// re-rendering for callers that take turns would allocate every time.
	a := r.audit.Load()
	if a == nil && layer == mint.LayerLocal {
		a = &renderedAudit{principal: p.Name(), agent: req.Agent,
			line: logging.Render(slog.LevelInfo, "token ok", auditAttrs(nil, p, req, "ok", layer, c.Expiry)...)}
		r.audit.Store(a)
	}
	if a != nil && layer == mint.LayerLocal && a.principal == p.Name() && a.agent == req.Agent {
		logging.LogRendered(context.Background(), s.Log, now, a.line)
	} else {
		s.audit(p, req, "ok", layer, c.Expiry)
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
func decodeRequest(w http.ResponseWriter, r *http.Request, req *request) error {
	body, err := httpx.ReadJSON(w, r, httpx.MaxBodyBytes)
	if err != nil {
		return err
	}
	if parseSimple(body, req) {
		return nil
	}
	*req = request{}
	return httpx.DecodeBytes(body, req)
}

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
