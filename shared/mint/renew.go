package mint

import (
	"context"
	"fmt"
)

// Renew replaces rejected, a credential from the connector called name that
// the API it was sent to refused (HTTP 401: revoked, or expired early), and
// returns a new one for agent. The first caller that reports a given
// credential has one minted (single flight in this process, the shared
// cache's lease across instances); the others, here or on other instances,
// get the one it minted instead of minting again. The same checks as Token
// apply first: the agent must be listed and the connector active.
func (s *Service) Renew(ctx context.Context, name, agent string, rejected *Credential) (*Credential, Layer, error) {
	conn, err := s.connector(ctx, name, cachedMeta)
	if err != nil {
		return nil, 0, s.count(nil, 0, err)
	}
	if !conn.HasAgent(agent) {
		return nil, 0, s.count(conn, 0, fmt.Errorf("mint: %s for agent %s: %w", name, agent, ErrAgentNotAllowed))
	}
	if !conn.Active {
		return nil, 0, s.count(conn, 0, fmt.Errorf("mint: %s: %w", name, ErrInactive))
	}
	if e := s.localEntryAt(conn, s.now()); e != nil && !e.cred.same(rejected) {
		e.hits.Inc()
		return e.cred, LayerLocal, nil // another caller renewed it already
	}
	c, layer, err := s.sharedFill(ctx, conn, replace, rejected)
	return c, layer, s.count(conn, layer, err)
}

// identity is what tells two credentials apart: the access token, or the
// AWS access key ID (each STS answer has its own).
func (c *Credential) identity() string {
	if c == nil {
		return ""
	}
	if c.AWS != nil {
		return c.AWS.AccessKeyID + "\x00" + c.AWS.SessionToken
	}
	return c.AccessToken
}

// same reports whether c and o are the same credential; a nil o is no
// credential, the same as none.
func (c *Credential) same(o *Credential) bool {
	return o != nil && c != nil && c.identity() == o.identity()
}
