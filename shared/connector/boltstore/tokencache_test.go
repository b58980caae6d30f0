package boltstore

import (
	"path/filepath"
	"testing"

	"connectors.dev/connectors/shared/tokencache"
	"connectors.dev/connectors/shared/tokencache/cachetest"
)

func TestTokenCacheConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) tokencache.Cache {
		s, err := Open(filepath.Join(t.TempDir(), "c.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s.TokenCache()
	})
}
