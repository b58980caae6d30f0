package files

import (
	"context"
	"errors"
	"net/http"

	"connectors.dev/connectors/shared/auth"
)

// Call is one operation for a caller in the same process (the mcp
// function): the fields of the function's JSON body, with a write's data
// already decoded.
type Call struct {
	Op, URI, Agent, Connector string

	PageSize    int
	PageToken   string
	Data        []byte // write's content; nil means missing
	ContentType string
	Method      string
	ExpiresIn   *int64

	// Via names the calling function in the audit line ("mcp"); the
	// principal stays the one who called it.
	Via string
}

// ErrEnough may be returned by a Do caller's ResponseWriter from Write to
// stop a read early, without the read counting as cut short: the caller
// took what it wanted (the mcp function's read cap).
var ErrEnough = errors.New("files: the reader has taken enough")

// Do runs c for the authenticated principal p under the function's rules
// (validation, MayActFor, the connector's agents and activity or the
// default access, the URI's grant type) and writes the answer to w as the
// function would: JSON, or a read's headers and stream. The write buffer
// budget of HTTP requests does not apply: the caller has its own body
// limit. It returns the error the function would have answered with,
// having written nothing to w; httpx.Map gives its status and code.
func (s *Server) Do(ctx context.Context, w http.ResponseWriter, p auth.Principal, c *Call) error {
	req := request{
		Op: c.Op, URI: c.URI, Agent: c.Agent, Connector: c.Connector,
		PageSize: c.PageSize, PageToken: c.PageToken,
		Data:        b64{set: c.Data != nil, data: c.Data},
		ContentType: c.ContentType, Method: c.Method, ExpiresIn: c.ExpiresIn,
	}
	return s.do(ctx, w, p, &req, c.Via)
}
