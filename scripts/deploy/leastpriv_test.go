package deploy

import (
	"slices"
	"strings"
	"testing"
)

// rotating are the minting functions that store rotated refresh tokens,
// which pin a new secret version in the connector's metadata (proxy and
// mcp's call_api mint what token mints; maintenance refreshes idle ones
// and deletes orphan records).
var rotating = []string{"connectors-test", "maintenance", "mcp", "proxy", "token"}

// TestTokenCacheHasItsOwnDatabase: the shared token cache lives in a
// Firestore database of its own, which the minting functions are told to
// use and may write through a grant conditioned on that database alone.
// Outside it, Firestore write access is held only by the admin write
// functions and the functions that store rotated refresh tokens: files
// (which mints only credentials that never rotate) reads connectors and
// cannot rewrite one.
func TestTokenCacheHasItsOwnDatabase(t *testing.T) {
	p := loadPlan(t)
	fns, _, _, grants, _, _ := p.scan()
	var cacheDB string
	for _, rc := range p.ResourceChanges {
		if rc.Type == "google_firestore_database" && rc.Change.After != nil && str(rc.Change.After, "name") != "(default)" {
			cacheDB = str(rc.Change.After, "name")
		}
	}
	if cacheDB == "" {
		t.Fatal("no Firestore database for the token cache is planned")
	}
	v, err := p.vars()
	if err != nil {
		t.Fatal(err)
	}
	onCache := `resource.name == "projects/` + v.Project + `/databases/` + cacheDB + `"`
	for name, f := range fns {
		mints := slices.Contains(minting, name)
		if got := f.env["CONNECTORS_TOKEN_CACHE_DATABASE"]; mints != (got == cacheDB) {
			t.Errorf("%s: CONNECTORS_TOKEN_CACHE_DATABASE %q; want %q on exactly the minting functions", name, got, cacheDB)
		}
		var writes, cacheWrites int
		for _, g := range grants {
			if g.scope != "project" || !slices.Contains(g.members, "serviceAccount:"+f.serviceAccount) || !strings.HasPrefix(g.role, "roles/datastore.") {
				continue
			}
			switch {
			case g.role == "roles/datastore.viewer" && g.condition == "":
			case g.role == "roles/datastore.user" && g.condition == onCache:
				cacheWrites++
			case g.role == "roles/datastore.user" && g.condition == "":
				writes++
			default:
				t.Errorf("%s: unexpected Firestore grant %s (condition %q)", name, g.role, g.condition)
			}
		}
		if mints && cacheWrites != 1 {
			t.Errorf("%s: %d conditioned grant(s) on the token cache's database, want 1", name, cacheWrites)
		}
		mayWrite := slices.Contains(rotating, name) || (!mints && !slices.Contains(readOnly, name) && name != console)
		if (writes > 0) != mayWrite {
			t.Errorf("%s: unconditioned Firestore write access %v, want %v", name, writes > 0, mayWrite)
		}
	}
}
