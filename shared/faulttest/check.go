package faulttest

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"

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

// Strays lists the secrets in b that no connector refers to and that are
// not recorded as orphans for the next mutation to remove: secrets nothing
// will ever clean up. The token-cache key is not a connector's.
func Strays(t testing.TB, b testenv.Backends) []string {
	t.Helper()
	ctx := context.Background()
	known := map[string]bool{mint.CacheKeySecretID: true}
	for _, s := range Observe(t, b) {
		if s.Connector.SecretID != "" {
			known[s.Connector.SecretID] = true
		}
	}
	orphans, err := b.Store.Orphans(ctx, 1000)
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

// uncertainPrefix starts what the catalog logs when a metadata write (or
// delete) failed in a way that may hide a success and a re-read could not
// tell (the backend is still away): it keeps the secret rather than risk
// breaking a live connector, and names it.
const uncertainPrefix = "catalog: cannot tell whether "

// Uncertain returns, by secret ID, the connectors named in the catalog's
// "cannot tell whether a write/delete committed" warnings in logs (JSON
// lines): writes whose new secret, and deletes whose secret, the catalog
// kept, not knowing whether the write happened, with no orphan record
// because the metadata store was away. When the write did not happen (or
// the delete did), that secret is a stray the warning accounts for.
func Uncertain(logs string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(logs, "\n") {
		var rec struct{ Message, Connector, SecretID string }
		if json.Unmarshal([]byte(line), &rec) != nil || !strings.HasPrefix(rec.Message, uncertainPrefix) {
			continue
		}
		out[rec.SecretID] = rec.Connector
	}
	return out
}

// CheckStrays fails t for every stray secret (Strays) that the catalog did
// not name in an uncertainty warning in logs (Uncertain): a stray nobody was
// told about is a secret leaked by a write that failed half-way. It
// returns the strays and the connectors whose writes they were kept for.
func CheckStrays(t testing.TB, b testenv.Backends, logs string) (strays, keptFor []string) {
	t.Helper()
	strays = Strays(t, b)
	uncertain := Uncertain(logs)
	for _, id := range strays {
		if _, ok := uncertain[id]; !ok {
			t.Errorf("secret %s is referenced by no connector, recorded as no orphan, and named in no warning: leaked", id)
			continue
		}
		keptFor = append(keptFor, uncertain[id])
	}
	return strays, keptFor
}
