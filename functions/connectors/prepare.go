package connectors

import (
	"context"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/presets"
	"connectors.dev/connectors/shared/httpx"
)

// prepareCreate fills a create request from its preset.
func (s *Server) prepareCreate(_ context.Context, req *connector.Input) error {
	if req.Preset == nil {
		if req.PresetParams != nil {
			return httpx.FieldError("presetParams", "is used only with preset")
		}
		return nil
	}
	return presets.Apply(*req.Preset, req.PresetParams, req)
}
