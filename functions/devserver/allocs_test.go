//go:build !race

package main

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

// The race detector adds allocations of its own (sync.Pool drops items at
// random under it, for one), so an allocation count under -race says
// nothing about the code: this file is built without -race only, and
// .ci/run runs it once without -race after the race-enabled tests, so the
// budget is checked on every CI run and never skipped.

// tokenHitAllocBudget is the most heap allocations a cache-hit token
// request may make through the local run's whole handler chain, audit line
// included (BenchmarkTokenCacheHit measures the same; issue 16 set 15).
const tokenHitAllocBudget = 15

func TestTokenCacheHitAllocations(t *testing.T) {
	app, _ := benchHandlers(t)
	call := newHitCaller(app)
	for range 100 { // warm the pools and caches
		if code := call(); code != http.StatusOK {
			t.Fatalf("token: %d", code)
		}
	}
	n := testing.AllocsPerRun(2000, func() {
		if code := call(); code != http.StatusOK {
			t.Fatalf("token: %d", code)
		}
	})
	t.Logf("%.1f allocations per cache-hit token request (budget %d)", n, tokenHitAllocBudget)
	if n > tokenHitAllocBudget {
		t.Fatalf("a cache-hit token request makes %.1f heap allocations, over the budget of %d: profile it (go test -bench BenchmarkTokenCacheHit -memprofile) before raising the budget", n, tokenHitAllocBudget)
	}
	// The hits measured were counted (the local run's metrics are on by
	// default): counting one costs no allocation.
	m := localHits.FindStringSubmatch(serve(app, "/metrics", "").Body.String())
	if m == nil {
		t.Fatal("/metrics has no series of local hits")
	}
	if hits, _ := strconv.Atoi(m[1]); hits < 2100 {
		t.Fatalf("/metrics counts %d local hits, want at least the 2,100 made", hits)
	}
}

var localHits = regexp.MustCompile(`(?m)^connectors_mints_total\{connector="Bench",grant_type="client_credentials",layer="local",outcome="ok"\} (\d+)$`)
