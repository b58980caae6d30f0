package catalog

import (
	"context"
	"fmt"
)

// sweepOne finishes the mutation that left the orphan record id: the
// secret is deleted unless a connector refers to it, then the record goes.
func (c *Catalog) sweepOne(ctx context.Context, id string) error {
	inUse, err := c.Store.SecretInUse(ctx, id)
	if err != nil {
		return err
	}
	if !inUse {
		if err := c.Secrets.Delete(ctx, id); err != nil {
			return err
		}
	}
	_ = c.Store.RemoveOrphan(ctx, id)
	return nil
}

// SweepOrphans is the sweep every mutation runs (a few records), run until
// no record older than OrphanGrace is left or ctx ends: scheduled
// maintenance calls it, so that secrets an interrupted mutation left are
// deleted even when no mutation follows. It returns how many records it
// settled.
func (c *Catalog) SweepOrphans(ctx context.Context) (int, error) {
	settled := 0
	for {
		ids, err := c.Store.Orphans(ctx, c.now().Add(-OrphanGrace), orphanSweepLimit)
		if err != nil {
			return settled, fmt.Errorf("catalog: sweep orphan secrets: %w", err)
		}
		for _, id := range ids {
			if err := c.sweepOne(ctx, id); err != nil {
				return settled, fmt.Errorf("catalog: sweep orphan secrets: %w", err)
			}
			settled++
		}
		if len(ids) < orphanSweepLimit {
			return settled, nil
		}
		if err := ctx.Err(); err != nil {
			return settled, fmt.Errorf("catalog: sweep orphan secrets: %w", err)
		}
	}
}
