package firestore

import (
	"context"
	"testing"
	"time"

	gfs "cloud.google.com/go/firestore"

	"connectors.dev/connectors/shared/testenv/emulator"
)

// TestTokenCacheInItsOwnDatabase: a store opened with NewInDatabase keeps
// the token cache in that database, and nothing of it in the default one
// that holds the connectors. This is what lets Terraform give the minting
// functions write access to the cache's database alone
// (CONNECTORS_TOKEN_CACHE_DATABASE).
func TestTokenCacheInItsOwnDatabase(t *testing.T) {
	emulator.NeedFirestore(t)
	ctx := context.Background()
	connectors := newTestStore(t)
	defer connectors.Close()
	cache, err := NewInDatabase(ctx, testProject, "token-cache")
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	cache.CollectionPrefix = connectors.CollectionPrefix
	now := time.Now()
	if _, ok, err := cache.TokenCache().Acquire(ctx, "Cached", "holder", now, now.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	count := func(database string) int {
		c, err := gfs.NewClientWithDatabase(ctx, testProject, database)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		docs, err := c.Collection(connectors.CollectionPrefix + tokensCollection).Documents(ctx).GetAll()
		if err != nil {
			t.Fatal(err)
		}
		return len(docs)
	}
	if n := count("token-cache"); n != 1 {
		t.Fatalf("cache documents in the cache's database: %d, want 1", n)
	}
	if n := count(gfs.DefaultDatabaseID); n != 0 {
		t.Fatalf("cache documents in the connectors' database: %d, want 0", n)
	}
}
