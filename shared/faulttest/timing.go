package faulttest

import (
	"testing"
	"time"
)

// Timing of the fault tests.
const (
	// Deadline is the request deadline (httpx.WithDeadline) the tests
	// serve under.
	Deadline = 2 * time.Second
	// Slack bounds how much longer than Deadline a request may take: a
	// check that nothing hangs, not a performance goal. A request may
	// legitimately outlive its deadline by a failed Firestore
	// transaction's rollback, which the client library runs under a
	// detached 5 s timeout of its own (Transaction.rollback), and by the
	// catalog's compensating steps (catalog.cleanupTimeout, 2 s), plus
	// scheduling on a loaded machine under -race.
	Slack = 9 * time.Second
	// Outage is how long a backend stays away: longer than Deadline and
	// Slack together, so a request that waits for the backend to come back
	// instead of giving up at its deadline fails the latency check.
	Outage = 12 * time.Second
	// RecoveryBound is how soon after a restore the service must work
	// again, gRPC's reconnect backoff (up to about 10 s after a 12 s
	// outage) included.
	RecoveryBound = 30 * time.Second
)

// Faults are the ways a backend goes away.
var Faults = []struct {
	Name  string
	Start func(*Proxy)
}{
	{"cut", (*Proxy).Cut},     // connections reset, new ones refused
	{"stall", (*Proxy).Stall}, // silence until the client's deadline
}

// Until calls f every 100 ms until it reports success, failing t after
// RecoveryBound, and returns how long that took.
func Until(t testing.TB, what string, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !f() {
		if time.Since(start) > RecoveryBound {
			t.Fatalf("%s: no success within %v", what, RecoveryBound)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}
