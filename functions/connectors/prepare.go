package connectors

import (
	"context"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/presets"
	"connectors.dev/connectors/shared/httpx"
)

// prepareCreate fills a create request from its preset, then from its
// issuer's discovery document.
func (s *Server) prepareCreate(ctx context.Context, in *connector.Input) error {
	if in.Preset == nil {
		if in.PresetParams != nil {
			return httpx.FieldError("presetParams", "is used only with preset")
		}
	} else if err := presets.Apply(*in.Preset, in.PresetParams, in); err != nil {
		return err
	}
	if s.Discover == nil {
		return nil
	}
	refresh := in.GrantType != nil && *in.GrantType == connector.GrantRefreshToken
	return s.Discover.FillFromIssuer(ctx, in, refresh)
}

// prepareUpdate fills changes that set an issuer from its discovery
// document; moving url this way needs the secrets again (CheckRebind), as
// any other move does.
func (s *Server) prepareUpdate(ctx context.Context, name string, changes *connector.Input) error {
	if changes.Preset != nil || changes.PresetParams != nil {
		return httpx.FieldError("changes.preset", "is for connectors-create only; give the fields to change")
	}
	if s.Discover == nil || changes.Issuer == nil || *changes.Issuer == "" {
		return nil
	}
	grant := ""
	if changes.GrantType != nil {
		grant = *changes.GrantType
	} else if cur, err := s.Catalog.Get(ctx, name); err == nil {
		grant = cur.GrantType
	} else {
		return err
	}
	return s.Discover.FillFromIssuer(ctx, changes, grant == connector.GrantRefreshToken)
}
