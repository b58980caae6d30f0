package mint

import (
	"context"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/secret"
)

// OAuth mints OAuth grant types at the connector's token endpoint.
type OAuth struct {
	Client *oauth.Client
}

// Mint implements Minter.
func (o OAuth) Mint(ctx context.Context, c *connector.Connector, b secret.Bundle) (*Minted, error) {
	r, err := o.Client.Mint(ctx, c, b)
	if err != nil {
		return nil, err
	}
	return &Minted{
		Credential:   Credential{AccessToken: r.AccessToken, TokenType: r.TokenType, Scope: r.Scope, Expiry: r.Expiry},
		RefreshToken: r.RefreshToken,
	}, nil
}
