package boltstore

import (
	"testing"

	"connectors.dev/connectors/shared/tokencache"
	"connectors.dev/connectors/shared/tokencache/cachetest"
)

func TestTokenCacheConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) tokencache.Cache {
		return openTemp(t).TokenCache()
	})
}
