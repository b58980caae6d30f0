//go:build !race

package main

import (
	"net/http"
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
}
