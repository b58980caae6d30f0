// Package secrettest is the conformance suite for secret.Store
// implementations. Every backend runs the same Run, so callers can rely on
// the behaviour it checks whichever backend is configured.
package secrettest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"connectors.dev/connectors/shared/secret"
)

// Run checks the secret.Store contract. newStore must return a store that
// holds nothing yet (for a shared backend: a fresh namespace) and arrange
// its own cleanup; each subtest calls it once.
func Run(t *testing.T, newStore func(t *testing.T) secret.Store) {
	t.Run("PutCreatesSecretAndReturnsVersion", func(t *testing.T) {
		s, id := newStore(t), newID(t)
		v, err := s.Put(t.Context(), id, map[string]string{"owner": "test"}, bundle("a"))
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if v == "" {
			t.Fatal("Put returned an empty version")
		}
	})

	t.Run("GetRoundTripsAtVersionAndLatest", func(t *testing.T) {
		s, id := newStore(t), newID(t)
		want := bundle("a")
		v := put(t, s, id, want)
		mustGet(t, s, id, v, want)
		mustGet(t, s, id, "", want)
	})

	t.Run("SecondPutAddsVersionAndKeepsOld", func(t *testing.T) {
		s, id := newStore(t), newID(t)
		v1 := put(t, s, id, bundle("one"))
		v2 := put(t, s, id, bundle("two"))
		if v1 == v2 {
			t.Fatalf("both Puts returned version %q", v1)
		}
		mustGet(t, s, id, v1, bundle("one"))
		mustGet(t, s, id, v2, bundle("two"))
		mustGet(t, s, id, "", bundle("two"))
	})

	t.Run("PruneKeepsOnlyKeep", func(t *testing.T) {
		s, id := newStore(t), newID(t)
		v1 := put(t, s, id, bundle("one"))
		v2 := put(t, s, id, bundle("two"))
		v3 := put(t, s, id, bundle("three"))
		prune(t, s, id, v3)
		mustNotFound(t, s, id, v1)
		mustNotFound(t, s, id, v2)
		mustGet(t, s, id, v3, bundle("three"))
		mustGet(t, s, id, "", bundle("three"))
		prune(t, s, id, v3)
		mustGet(t, s, id, v3, bundle("three"))
	})

	t.Run("PruneKeepsNewerVersions", func(t *testing.T) {
		// Writer A committed v2 and prunes; writer B added v3 meanwhile
		// and may be about to commit it: A's prune must leave v3 alone.
		s, id := newStore(t), newID(t)
		v1 := put(t, s, id, bundle("one"))
		v2 := put(t, s, id, bundle("two"))
		v3 := put(t, s, id, bundle("three"))
		prune(t, s, id, v2)
		mustNotFound(t, s, id, v1)
		mustGet(t, s, id, v2, bundle("two"))
		mustGet(t, s, id, v3, bundle("three"))
		prune(t, s, id, v3)
		mustNotFound(t, s, id, v2)
		mustGet(t, s, id, v3, bundle("three"))
	})

	t.Run("PruneWithAbsentKeepDestroysNothing", func(t *testing.T) {
		s, id := newStore(t), newID(t)
		v1 := put(t, s, id, bundle("one"))
		if err := s.Prune(t.Context(), id, "999999"); !errors.Is(err, secret.ErrNotFound) {
			t.Fatalf("Prune with absent keep: got %v, want ErrNotFound", err)
		}
		mustGet(t, s, id, v1, bundle("one"))
		if err := s.Prune(t.Context(), newID(t), "1"); !errors.Is(err, secret.ErrNotFound) {
			t.Fatalf("Prune of absent secret: got %v, want ErrNotFound", err)
		}
	})

	t.Run("DestroyVersionThenGetIsNotFound", func(t *testing.T) {
		s, id := newStore(t), newID(t)
		v1 := put(t, s, id, bundle("one"))
		v2 := put(t, s, id, bundle("two"))
		if err := s.DestroyVersion(t.Context(), id, v1); err != nil {
			t.Fatalf("DestroyVersion: %v", err)
		}
		mustNotFound(t, s, id, v1)
		mustGet(t, s, id, v2, bundle("two"))
		if err := s.DestroyVersion(t.Context(), id, v1); err != nil {
			t.Errorf("destroying a destroyed version: %v", err)
		}
		if err := s.DestroyVersion(t.Context(), id, "999999"); err != nil {
			t.Errorf("destroying an absent version: %v", err)
		}
		if err := s.DestroyVersion(t.Context(), newID(t), "1"); err != nil {
			t.Errorf("destroying a version of an absent secret: %v", err)
		}
	})

	t.Run("GetAbsentIsNotFound", func(t *testing.T) {
		s, id := newStore(t), newID(t)
		mustNotFound(t, s, id, "")
		mustNotFound(t, s, id, "1")
		put(t, s, id, bundle("one"))
		mustNotFound(t, s, id, "999999")
		mustNotFound(t, s, id, "not-a-version")
	})

	t.Run("DeleteRemovesEverything", func(t *testing.T) {
		s, id := newStore(t), newID(t)
		v1 := put(t, s, id, bundle("one"))
		v2 := put(t, s, id, bundle("two"))
		if err := s.Delete(t.Context(), id); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		mustNotFound(t, s, id, v1)
		mustNotFound(t, s, id, v2)
		mustNotFound(t, s, id, "")
		ids, err := s.IDs(t.Context())
		if err != nil {
			t.Fatalf("IDs: %v", err)
		}
		if slices.Contains(ids, id) {
			t.Errorf("IDs still lists deleted %q", id)
		}
		if err := s.Delete(t.Context(), id); err != nil {
			t.Errorf("second Delete: %v", err)
		}
	})

	t.Run("DeleteAbsentIsNil", func(t *testing.T) {
		s := newStore(t)
		if err := s.Delete(t.Context(), newID(t)); err != nil {
			t.Fatalf("Delete of absent secret: %v", err)
		}
	})

	t.Run("IDsListsCreatedIDs", func(t *testing.T) {
		s := newStore(t)
		want := []string{newID(t), newID(t), newID(t)}
		for _, id := range want {
			put(t, s, id, bundle(id))
		}
		got, err := s.IDs(t.Context())
		if err != nil {
			t.Fatalf("IDs: %v", err)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("IDs = %q, want %q", got, want)
		}
	})

	t.Run("ConcurrentPutsGetDistinctVersions", func(t *testing.T) {
		s, id := newStore(t), newID(t)
		const n = 20
		versions := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				versions[i], errs[i] = s.Put(t.Context(), id, nil, bundle(fmt.Sprint(i)))
			})
		}
		wg.Wait()
		seen := map[string]int{}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Put %d: %v", i, errs[i])
			}
			if j, dup := seen[versions[i]]; dup {
				t.Fatalf("Puts %d and %d both returned version %q", j, i, versions[i])
			}
			seen[versions[i]] = i
		}
		for i := range n {
			mustGet(t, s, id, versions[i], bundle(fmt.Sprint(i)))
		}
	})

	t.Run("UnicodeAndLargeValuesRoundTrip", func(t *testing.T) {
		s, id := newStore(t), newID(t)
		const unit = "é🔑ß\u00a0x"
		large := strings.Repeat(unit, 16*1024/len(unit)+1)[:16*1024]
		// Cut at a rune boundary: the store must round-trip valid UTF-8.
		large = strings.ToValidUTF8(large, "")
		want := secret.Bundle{
			ClientSecret: large,
			RefreshToken: "日本語トークン\x00\t\n\"\\/",
			Password:     "pässwörd 🔐 \u202e<>&",
		}
		if len(want.ClientSecret) < 16*1024-4 {
			t.Fatalf("test bug: large value is only %d bytes", len(want.ClientSecret))
		}
		v := put(t, s, id, want)
		mustGet(t, s, id, v, want)
		mustGet(t, s, id, "", want)
	})

	t.Run("InvalidIDsAreRejected", func(t *testing.T) {
		s := newStore(t)
		for _, id := range []string{"", "a/b", "a b", "../x"} {
			if _, err := s.Put(t.Context(), id, nil, bundle("x")); err == nil {
				t.Errorf("Put(%q) succeeded; want an error", id)
			}
		}
	})
}

// newID returns an id no other test uses, so suites can share one backend.
func newID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("t%x", b)
}

// bundle makes a distinct bundle per tag.
func bundle(tag string) secret.Bundle {
	return secret.Bundle{
		ClientSecret: "cs-" + tag,
		RefreshToken: "rt-" + tag,
		Password:     "pw-" + tag,
	}
}

// prune prunes id down to keep and what is newer; any error fails t.
func prune(t *testing.T, s secret.Store, id, keep string) {
	t.Helper()
	if err := s.Prune(t.Context(), id, keep); err != nil {
		t.Fatalf("Prune(%s, %s): %v", id, keep, err)
	}
}

func put(t *testing.T, s secret.Store, id string, b secret.Bundle) string {
	t.Helper()
	v, err := s.Put(t.Context(), id, nil, b)
	if err != nil {
		t.Fatalf("Put(%s): %v", id, err)
	}
	return v
}

func mustGet(t *testing.T, s secret.Store, id, version string, want secret.Bundle) {
	t.Helper()
	got, err := s.Get(t.Context(), id, version)
	if err != nil {
		t.Fatalf("Get(%s, %q): %v", id, version, err)
	}
	// Compare fields, not %v: Bundle's String is redacted.
	if got != want {
		t.Fatalf("Get(%s, %q) returned a different bundle (field lengths %d/%d/%d, want %d/%d/%d)",
			id, version,
			len(got.ClientSecret), len(got.RefreshToken), len(got.Password),
			len(want.ClientSecret), len(want.RefreshToken), len(want.Password))
	}
}

func mustNotFound(t *testing.T, s secret.Store, id, version string) {
	t.Helper()
	if _, err := s.Get(t.Context(), id, version); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("Get(%s, %q): got %v, want ErrNotFound", id, version, err)
	}
}
