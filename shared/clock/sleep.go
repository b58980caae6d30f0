package clock

import (
	"context"
	mrand "math/rand/v2"
	"time"
)

// Sleep waits about d, between d/2 and 3d/2, or until ctx ends (its error
// then). The jitter keeps callers that started together (instances polling
// one lease, writers retrying one connector) from moving in step.
func Sleep(ctx context.Context, d time.Duration) error {
	if d > 0 {
		d = d/2 + mrand.N(d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
