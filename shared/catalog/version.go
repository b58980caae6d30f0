package catalog

import (
	"context"

	"connectors.dev/connectors/shared/connector"
)

// Version returns the catalog version (one document read), and false when
// the store keeps none (connector.Versioned): readers then re-read each
// connector they cache once per TTL.
func (c *Catalog) Version(ctx context.Context) (*connector.Version, bool, error) {
	vs, ok := c.Store.(connector.Versioned)
	if !ok {
		return nil, false, nil
	}
	v, err := vs.Version(ctx)
	return v, true, err
}
