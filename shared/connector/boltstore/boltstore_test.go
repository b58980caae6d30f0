package boltstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) catalog.Store { return openTemp(t) })
}

// openTemp opens a store in a new temporary file, closed when t ends.
func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "connectors.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "connectors.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	created, err := s.Create(ctx, &connector.Connector{
		Name:          "kept",
		Agents:        []string{"agent-1"},
		SecretID:      "sid",
		SecretVersion: "3",
		CreatedAt:     time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddOrphan(ctx, "orphan-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.Get(ctx, "kept")
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if got.SecretID != "sid" || got.SecretVersion != "3" || got.Revision != created.Revision ||
		!got.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("after reopen got %+v, want %+v", got, created)
	}
	page, err := s.List(ctx, connector.ListOptions{Agent: "agent-1"})
	if err != nil || len(page.Connectors) != 1 {
		t.Errorf("agent listing after reopen: %v, %v", page, err)
	}
	ids, err := s.Orphans(ctx, time.Time{}, 0)
	if err != nil || len(ids) != 1 || ids[0] != "orphan-1" {
		t.Errorf("Orphans after reopen = %v, %v", ids, err)
	}
}

func TestFileModeAndLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "connectors.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode %o, want 600", mode)
	}

	// bbolt's flock is per open file, so a second Open in this process
	// stands in for a second process.
	start := time.Now()
	_, err = Open(path)
	if !errors.Is(err, berrors.ErrTimeout) {
		t.Fatalf("second Open: err = %v, want a timeout", err)
	}
	if waited := time.Since(start); waited < openTimeout/2 || waited > 10*openTimeout {
		t.Errorf("second Open gave up after %s, want about %s", waited, openTimeout)
	}
}

func TestRejectsNULInAgent(t *testing.T) {
	s := openTemp(t)
	if _, err := s.Create(t.Context(), &connector.Connector{Name: "x", Agents: []string{"a\x00b"}}); err == nil {
		t.Error("Create accepted an agent with a NUL byte")
	}
}

func TestAuthStatesConformance(t *testing.T) {
	storetest.RunAuthStates(t, func(t *testing.T) connector.AuthStates {
		return openTemp(t)
	})
}
