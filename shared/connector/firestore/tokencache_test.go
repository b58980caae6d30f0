package firestore

import (
	"testing"

	"connectors.dev/connectors/shared/tokencache"
	"connectors.dev/connectors/shared/tokencache/cachetest"
)

func TestTokenCacheConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) tokencache.Cache {
		s := newTestStore(t)
		t.Cleanup(func() { s.Close() })
		return s.TokenCache()
	})
}
