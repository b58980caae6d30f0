package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/connector"
)

// RunAuthStates is the conformance suite of connector.AuthStates: what
// the connect flow's single-use state relies on.
func RunAuthStates(t *testing.T, newStore func(t *testing.T) connector.AuthStates) {
	t.Helper()
	ctx := context.Background()
	state := func(id string) *connector.AuthState {
		return &connector.AuthState{ID: id, Connector: "Gmail", Revision: "rev1", Principal: "admin@example.com",
			Verifier: "verifier-" + id, RedirectURI: "https://fn.example/oauth-callback", ReturnTo: "/console",
			ExpiresAt: time.Now().Add(10 * time.Minute).UTC().Truncate(time.Millisecond)}
	}
	t.Run("TakeReturnsWhatWasPut", func(t *testing.T) {
		s := newStore(t)
		want := state("a1")
		if err := s.PutAuthState(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.TakeAuthState(ctx, "a1")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || got.Connector != want.Connector || got.Revision != want.Revision || got.Principal != want.Principal ||
			got.Verifier != want.Verifier || got.RedirectURI != want.RedirectURI || got.ReturnTo != want.ReturnTo || !got.ExpiresAt.Equal(want.ExpiresAt) {
			t.Fatalf("took %+v, put %+v", *got, *want)
		}
	})
	t.Run("SecondTakeIsNotFound", func(t *testing.T) {
		s := newStore(t)
		if err := s.PutAuthState(ctx, state("b1")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TakeAuthState(ctx, "b1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TakeAuthState(ctx, "b1"); !errors.Is(err, connector.ErrStateNotFound) {
			t.Fatalf("second take: %v, want ErrStateNotFound", err)
		}
	})
	t.Run("UnknownIsNotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.TakeAuthState(ctx, "never"); !errors.Is(err, connector.ErrStateNotFound) {
			t.Fatalf("take: %v, want ErrStateNotFound", err)
		}
	})
	t.Run("ConcurrentTakeHasOneWinner", func(t *testing.T) {
		s := newStore(t)
		if err := s.PutAuthState(ctx, state("c1")); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.TakeAuthState(ctx, "c1")
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, connector.ErrStateNotFound) {
					t.Errorf("take: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d takers got the state, want exactly 1", wins)
		}
	})
	t.Run("StatesAreSeparate", func(t *testing.T) {
		s := newStore(t)
		for _, id := range []string{"d1", "d2"} {
			if err := s.PutAuthState(ctx, state(id)); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.TakeAuthState(ctx, "d2"); err != nil || got.Verifier != "verifier-d2" {
			t.Fatalf("take d2: %v %v", got, err)
		}
		if got, err := s.TakeAuthState(ctx, "d1"); err != nil || got.Verifier != "verifier-d1" {
			t.Fatalf("take d1: %v %v", got, err)
		}
	})
}
