package mint_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/testenv"
)

// TestTokenCacheKeyRotationKeepsTheSharedCache rotates the token-cache key
// the way Terraform does (terraform/secrets.tf): the new version is added
// while the old one stays enabled, instances started after the rotation are
// told both (CONNECTORS_TOKEN_CACHE_KEY_VERSIONS="2,1") and instances still
// running from before keep the old key. A token the old instance cached is
// then served by a new instance without minting again, the new instance
// seals with the new key, and once the grace period ends (the old version
// destroyed) the new instance still starts and serves.
func TestTokenCacheKeyRotationKeepsTheSharedCache(t *testing.T) {
	ctx := context.Background()
	b := testenv.New(t, testenv.Emulated)
	p := newProvider(t, "")
	clk := clock.NewFake()
	createConnector(t, b, clientCredentials("Svc", p.URL)) // key version 1
	// serve starts an instance over its own clients, configured as
	// Terraform configures the function.
	serve := func(versions ...string) *mint.Service {
		ib := testenv.Instance(t, b)
		cat := &catalog.Catalog{Store: ib.Store, Secrets: ib.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Now: clk.Now}
		s := mint.NewService(cat, ib.Cache, mint.KeyProvisioned, config.Config{
			AllowInsecureURLs: true, TokenConnectTimeout: time.Second, TokenTimeout: 5 * time.Second,
			TokenCacheKeyVersions: versions,
		})
		s.Now = clk.Now
		return s
	}

	before := serve("1")
	if c, err := before.Token(ctx, "Svc", "agent-1"); err != nil || c.AccessToken != "access-1" {
		t.Fatalf("before the rotation: %v %v", c, err)
	}

	// Rotate: a second version, the first still enabled.
	if err := mint.ProvisionKey(ctx, b.Secrets); err != nil {
		t.Fatal(err)
	}
	after := serve("2", "1")
	if c, err := after.Token(ctx, "Svc", "agent-1"); err != nil || c.AccessToken != "access-1" || p.Calls.Load() != 1 {
		t.Fatalf("a new instance during the grace period: %v %v, provider calls %d (the entry sealed with the previous key must be read, not minted again)", c, err, p.Calls.Load())
	}

	// The new instance seals with the new key: what it caches is readable
	// by an instance that knows only version 2, and not by one that knows
	// only version 1.
	createConnector(t, b, clientCredentials("Svc2", p.URL))
	if c, err := after.Token(ctx, "Svc2", "agent-1"); err != nil || c.AccessToken != "access-2" {
		t.Fatalf("a new connector: %v %v", c, err)
	}
	if c, err := serve("2").Token(ctx, "Svc2", "agent-1"); err != nil || c.AccessToken != "access-2" || p.Calls.Load() != 2 {
		t.Fatalf("an instance with the new key only: %v %v, provider calls %d", c, err, p.Calls.Load())
	}
	if c, err := serve("1").Token(ctx, "Svc2", "agent-1"); err != nil || c.AccessToken != "access-3" {
		t.Fatalf("an instance with the old key only mints again: %v %v", c, err)
	}

	// The grace period ends: the old version is destroyed. An instance
	// whose configuration still lists it starts and serves with the new key.
	if err := b.Secrets.DestroyVersion(ctx, mint.CacheKeySecretID, "1"); err != nil {
		t.Fatal(err)
	}
	if c, err := serve("2", "1").Token(ctx, "Svc", "agent-1"); err != nil || c.AccessToken == "" {
		t.Fatalf("after the old version is destroyed: %v %v", c, err)
	}
	// But the sealing key itself must exist.
	if _, err := serve("7").Token(ctx, "Svc", "agent-1"); err == nil || !strings.Contains(err.Error(), "token-cache key (version 7)") {
		t.Fatalf("a missing sealing key: %v", err)
	}
}

func TestSealerWithKeysOpensEitherAndSealsWithTheFirst(t *testing.T) {
	ctx := context.Background()
	k1, k2 := make([]byte, 32), make([]byte, 32)
	k2[0] = 1
	old, err := mint.NewSealerWithKey(k1)
	if err != nil {
		t.Fatal(err)
	}
	both, err := mint.NewSealerWithKey(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	onlyNew, err := mint.NewSealerWithKey(k2)
	if err != nil {
		t.Fatal(err)
	}
	in := &mint.Credential{AccessToken: "at"}
	sealedOld, err := old.Seal(ctx, "n", "r", in)
	if err != nil {
		t.Fatal(err)
	}
	var out mint.Credential
	if err := both.Open(ctx, "n", "r", sealedOld, &out); err != nil || out.AccessToken != "at" {
		t.Fatalf("open with the previous key: %v %+v", err, out)
	}
	if err := onlyNew.Open(ctx, "n", "r", sealedOld, &out); err == nil {
		t.Fatal("a key that did not seal the entry opened it")
	}
	sealedNew, err := both.Seal(ctx, "n", "r", in)
	if err != nil {
		t.Fatal(err)
	}
	if err := onlyNew.Open(ctx, "n", "r", sealedNew, &out); err != nil {
		t.Fatalf("sealed with the first key: %v", err)
	}
	if err := both.Open(ctx, "other", "r", sealedNew, &out); err == nil {
		t.Fatal("an entry opened for another connector")
	}
}
