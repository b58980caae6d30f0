package faulttest

import (
	"context"
	"sort"
	"testing"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
)

// State is what a reader can see of one connector: its metadata and the
// secret bundle its revision pins.
type State struct {
	Connector *connector.Connector
	Bundle    secret.Bundle
}

// Observe reads every connector and its pinned secrets from b, failing t
// on a connector whose secrets cannot be read: a half-made connector.
func Observe(t testing.TB, b testenv.Backends) map[string]State {
	t.Helper()
	ctx := context.Background()
	out := map[string]State{}
	opts := connector.ListOptions{PageSize: connector.MaxPageSize}
	for {
		page, err := b.Store.List(ctx, opts)
		if err != nil {
			t.Fatalf("list connectors: %v", err)
		}
		for _, c := range page.Connectors {
			s := State{Connector: c}
			if c.SecretID != "" {
				if s.Bundle, err = b.Secrets.Get(ctx, c.SecretID, c.SecretVersion); err != nil {
					t.Errorf("connector %s is visible but its secrets (version %s) are not readable: %v", c.Name, c.SecretVersion, err)
				}
			}
			out[c.Name] = s
		}
		if page.NextPageToken == "" {
			return out
		}
		opts.PageToken = page.NextPageToken
	}
}

// Strays lists the secrets in b that no connector refers to and that have
// no orphan record for a sweep to find: secrets nothing will ever clean
// up. The token-cache key is not a connector's.
func Strays(t testing.TB, b testenv.Backends) []string {
	t.Helper()
	ctx := context.Background()
	known := map[string]bool{mint.CacheKeySecretID: true}
	for _, s := range Observe(t, b) {
		if s.Connector.SecretID != "" {
			known[s.Connector.SecretID] = true
		}
	}
	orphans, err := b.Store.Orphans(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatalf("orphans: %v", err)
	}
	for _, id := range orphans {
		known[id] = true
	}
	ids, err := b.Secrets.IDs(ctx)
	if err != nil {
		t.Fatalf("secret IDs: %v", err)
	}
	var strays []string
	for _, id := range ids {
		if !known[id] {
			strays = append(strays, id)
		}
	}
	sort.Strings(strays)
	return strays
}

// CheckStrays fails t for every stray secret (Strays): the catalog records
// every secret it creates or deletes before it does so, so a stray is a
// secret leaked by a mutation that failed half-way.
func CheckStrays(t testing.TB, b testenv.Backends) (strays []string) {
	t.Helper()
	strays = Strays(t, b)
	for _, id := range strays {
		t.Errorf("secret %s is referenced by no connector and has no orphan record: leaked", id)
	}
	return strays
}

// CheckUnchanged fails t for each of names whose connector is gone or
// differs (revision or secrets) in after from before: connectors no request
// wrote to must come through an outage untouched.
func CheckUnchanged(t testing.TB, before, after map[string]State, names []string) {
	t.Helper()
	for _, name := range names {
		was, is := before[name], after[name]
		if is.Connector == nil || was.Connector == nil || is.Connector.Revision != was.Connector.Revision || is.Bundle != was.Bundle {
			t.Errorf("seeded connector %s changed or vanished", name)
		}
	}
}
