package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"connectors.dev/connectors/shared/connector"
)

func testConcurrentCreate(t *testing.T, s connector.Store) {
	errs := make([]error, racers)
	race(func(i int) func() {
		c := sample("contended", fmt.Sprintf("agent-%d", i))
		c.SecretID = fmt.Sprintf("secret-%d", i)
		return func() { _, errs[i] = s.Create(t.Context(), c) }
	})
	winner := countOutcomes(t, errs, connector.ErrExists)
	if winner < 0 {
		return
	}
	got := mustGet(t, s, "contended")
	if want := fmt.Sprintf("secret-%d", winner); got.SecretID != want {
		t.Errorf("stored SecretID = %q, want the winner's %q", got.SecretID, want)
	}
	// Only the winner's agent is indexed.
	for i := range racers {
		names := listNames(t, s, connector.ListOptions{Agent: fmt.Sprintf("agent-%d", i)})
		if i == winner && len(names) != 1 || i != winner && len(names) != 0 {
			t.Errorf("agent-%d listing = %v (winner %d)", i, names, winner)
		}
	}
}

func testConcurrentUpdate(t *testing.T, s connector.Store) {
	base := mustCreate(t, s, sample("contended", "agent-0"))
	errs := make([]error, racers)
	results := make([]*connector.Connector, racers)
	race(func(i int) func() {
		c := base.Clone()
		c.Agents = []string{fmt.Sprintf("agent-%d", i+1)}
		c.SecretVersion = fmt.Sprint(i)
		return func() { results[i], errs[i] = s.Update(t.Context(), "contended", base.Revision, c) }
	})
	winner := countOutcomes(t, errs, connector.ErrConflict)
	if winner < 0 {
		return
	}
	got := mustGet(t, s, "contended")
	if got.SecretVersion != fmt.Sprint(winner) || got.Revision != results[winner].Revision {
		t.Errorf("stored SecretVersion %q revision %q, want the winner's %d, %q",
			got.SecretVersion, got.Revision, winner, results[winner].Revision)
	}
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-0"}); len(names) != 0 {
		t.Errorf("old agent still lists %v", names)
	}
}

// countOutcomes checks that exactly one of errs is nil and every other is
// loser, and returns the winner's index (-1 after reporting a failure).
func countOutcomes(t *testing.T, errs []error, loser error) int {
	t.Helper()
	winner, wins, losses := -1, 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
			wins++
		case errors.Is(err, loser):
			losses++
		default:
			t.Errorf("racer %d: unexpected error: %v", i, err)
		}
	}
	if wins != 1 || losses != len(errs)-1 {
		t.Errorf("%d successes and %d %q errors, want 1 and %d", wins, losses, loser, len(errs)-1)
		return -1
	}
	return winner
}

// race prepares one call per racer, releases them all at once, each in its
// own goroutine, and returns when every call has.
func race(prepare func(i int) (call func())) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		call := prepare(i)
		wg.Go(func() {
			<-start
			call()
		})
	}
	close(start)
	wg.Wait()
}
