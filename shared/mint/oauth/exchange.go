package oauth

import (
	"context"
	"errors"
	"fmt"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
)

// Exchange redeems an authorization code (RFC 6749 §4.1.3) with its PKCE
// verifier (RFC 7636 §4.5) at conn's token endpoint, authenticating as
// conn's client does for every grant. The connector's extraParams go
// along (a resource or audience the provider wants on every request);
// scope does not: the code carries what was granted.
func (c *Client) Exchange(ctx context.Context, conn *connector.Connector, b secret.Bundle, code, verifier, redirectURI string) (*Result, error) {
	if conn == nil {
		return nil, errors.New("oauth: nil connector")
	}
	endpoint, err := tokenEndpoint(conn)
	if err != nil {
		return nil, err
	}
	params := map[string]string{
		"grant_type":    "authorization_code",
		"code":          code,
		"redirect_uri":  redirectURI,
		"code_verifier": verifier,
	}
	for k, v := range conn.ExtraParams {
		if isReserved(k) {
			return nil, fmt.Errorf("oauth: connector %s: extraParams.%s would override a standard parameter", conn.Name, k)
		}
		params[k] = v
	}
	req, _, err := buildTokenRequest(ctx, conn, b, params, endpoint, c.now())
	if err != nil {
		return nil, err
	}
	// The code and verifier are redacted from any error text like the
	// connector's own secrets.
	return c.send(ctx, req, endpoint, newRedactor(conn, b).With(code, verifier), c.lifetimeFor(conn))
}
