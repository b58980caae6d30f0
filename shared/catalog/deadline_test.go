package catalog_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
)

// hang names the one backend call that, like a call to a backend gone
// silent, runs (or not) and then waits for its context to end; every call
// refuses an ended context, as a network client does.
type hang struct {
	call   atomic.Value // string: "store.Create", "store.Delete", "secrets.Put"
	commit atomic.Bool  // the hanging call takes effect before it waits
	// stay: after the hanging call the metadata store stays silent.
	stay, down atomic.Bool
}

func (h *hang) run(ctx context.Context, name string, call func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if h.down.Load() && strings.HasPrefix(name, "store.") {
		<-ctx.Done()
		return ctx.Err()
	}
	if h.call.Load() != name {
		return call()
	}
	h.down.Store(h.stay.Load())
	if h.commit.Load() {
		if err := call(); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestCleanupOutlivesTheDeadline: when a request's deadline cuts a write
// short, the steps that undo or resolve it still run, so no secret is left
// behind that nothing refers to and nothing will clean up.
func TestCleanupOutlivesTheDeadline(t *testing.T) {
	cases := []struct {
		name   string
		hang   string
		commit bool
		setup  bool // the connector exists first
		run    func(ctx context.Context, cat *catalog.Catalog) error
		exists bool
		// resolved: the catalog finds out the write happened and reports
		// success instead of the deadline.
		resolved bool
	}{
		{name: "create: secret written, reply lost", hang: "secrets.Put", commit: true, run: createSvc},
		{name: "create: metadata never written", hang: "store.Create", run: createSvc},
		{name: "create: metadata written, reply lost", hang: "store.Create", commit: true, exists: true, run: createSvc},
		{name: "delete: metadata deleted, reply lost", hang: "store.Delete", commit: true, setup: true, resolved: true, run: deleteSvc},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := testenv.New(t, testenv.Embedded)
			h := &hang{}
			h.call.Store("")
			wrapped := testenv.Backends{Kind: b.Kind, Store: wrappedStore{b.Store, h.run}, Secrets: wrappedSecrets{b.Secrets, h.run}}
			cat := &catalog.Catalog{Store: wrapped.Store, Secrets: wrapped.Secrets}
			if tc.setup {
				if _, err := cat.Create(context.Background(), baseInput("Svc"), "tester"); err != nil {
					t.Fatal(err)
				}
				tc.exists = false
			}
			h.call.Store(tc.hang)
			h.commit.Store(tc.commit)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if err := tc.run(ctx, cat); tc.resolved && err != nil {
				t.Fatalf("got %v, want the write resolved as done", err)
			} else if !tc.resolved && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want the deadline", err)
			}
			h.call.Store("")
			got := observe(t, b)
			if _, ok := got["Svc"]; ok != tc.exists {
				t.Fatalf("connector exists: %v, want %v", ok, tc.exists)
			}
			checkNoOrphans(t, b, cat, true)
		})
	}
}

// TestSweepDoesNotStarveTheMutation: the orphan sweep piggybacked on a
// mutation gives up on a secret store that does not answer in time, and a
// mutation that needs no secret (a metadata-only update) still succeeds.
func TestSweepDoesNotStarveTheMutation(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	h := &hang{}
	h.call.Store("")
	cat := &catalog.Catalog{Store: wrappedStore{b.Store, h.run}, Secrets: wrappedSecrets{b.Secrets, h.run}}
	ctx := context.Background()
	if _, err := cat.Create(ctx, baseInput("Svc"), "tester"); err != nil {
		t.Fatal(err)
	}
	if err := b.Store.AddOrphan(ctx, "left-over", time.Now().Add(-2*catalog.OrphanGrace)); err != nil {
		t.Fatal(err)
	}
	h.call.Store("secrets.Delete") // the secret store has gone silent
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	c, err := cat.Update(ctx, "Svc", "", &connector.Input{Scope: ptr("write")}, "tester")
	if err != nil || c.Scope != "write" {
		t.Fatalf("metadata-only update with a silent secret store: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the sweep held the update for %v", took)
	}
	if orphans := mustOrphans(t, b.Store); len(orphans) != 1 {
		t.Fatalf("the orphan record must stay for a later sweep: %v", orphans)
	}
}

// TestUncertainWritesAreResolved: when the metadata store goes silent
// during a write and stays so, the catalog cannot tell whether the write
// happened; it keeps the secret (removing it could break a live connector)
// and names it in a warning. The secret's orphan record, written before
// the write, survives the outage, and once the store is back and the grace
// period over, a sweep deletes the secret (here no connector refers to it).
func TestUncertainWritesAreResolved(t *testing.T) {
	cases := []struct {
		name   string
		hang   string
		commit bool
		setup  bool
		run    func(ctx context.Context, cat *catalog.Catalog) error
	}{
		{name: "create that did not happen", hang: "store.Create", run: createSvc},
		{name: "delete that happened", hang: "store.Delete", commit: true, setup: true, run: deleteSvc},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := testenv.New(t, testenv.Embedded)
			h := &hang{}
			h.call.Store("")
			var logs bytes.Buffer
			cat := &catalog.Catalog{Store: wrappedStore{b.Store, h.run}, Secrets: wrappedSecrets{b.Secrets, h.run}, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
			if tc.setup {
				if _, err := cat.Create(context.Background(), baseInput("Svc"), "tester"); err != nil {
					t.Fatal(err)
				}
			}
			h.call.Store(tc.hang)
			h.commit.Store(tc.commit)
			h.stay.Store(true)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if err := tc.run(ctx, cat); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want the deadline", err)
			}
			ids, err := b.Secrets.IDs(context.Background())
			if err != nil || len(ids) != 1 {
				t.Fatalf("secrets %v (%v), want the one kept", ids, err)
			}
			if !strings.Contains(logs.String(), "cannot tell whether") || !strings.Contains(logs.String(), ids[0]) {
				t.Fatalf("the kept secret %s is named in no warning:\n%s", ids[0], logs.String())
			}
			if recs, err := b.Store.Orphans(context.Background(), time.Time{}, 0); err != nil || !slices.Contains(recs, ids[0]) {
				t.Fatalf("the kept secret %s has no orphan record (%v, %v): a stray", ids[0], recs, err)
			}

			// The store comes back; a mutation after the grace period sweeps.
			h.call.Store("")
			h.down.Store(false)
			cat.Now = func() time.Time { return time.Now().Add(catalog.OrphanGrace + time.Minute) }
			if err := cat.Delete(context.Background(), "NoSuchConnector", ""); !errors.Is(err, connector.ErrNotFound) {
				t.Fatalf("sweep trigger: %v", err)
			}
			if ids := mustIDs(t, b.Secrets); len(ids) != 0 {
				t.Fatalf("secrets %v survived the sweep", ids)
			}
			if recs := mustOrphans(t, b.Store); len(recs) != 0 {
				t.Fatalf("orphan records %v survived the sweep", recs)
			}
		})
	}
}

// TestSweepKeepsSecretsInUse: an orphan record of a secret a connector
// still refers to (a delete refused, a record whose removal failed) goes,
// and the secret stays; records younger than the grace period are left
// alone, as their mutation may still be running.
func TestSweepKeepsSecretsInUse(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets}
	ctx := context.Background()
	c, err := cat.Create(ctx, baseInput("Svc"), "tester")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Secrets.Delete(ctx, "young"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Secrets.Put(ctx, "young", nil, secret.Bundle{ClientSecret: "in-flight"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Store.AddOrphan(ctx, "young", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.Store.AddOrphan(ctx, c.SecretID, time.Now().Add(-2*catalog.OrphanGrace)); err != nil {
		t.Fatal(err)
	}
	if err := cat.Delete(ctx, "NoSuchConnector", ""); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("sweep trigger: %v", err)
	}
	if _, err := cat.Bundle(ctx, c); err != nil {
		t.Fatalf("the sweep took a live connector's secret: %v", err)
	}
	if recs := mustOrphans(t, b.Store); !slices.Equal(recs, []string{"young"}) {
		t.Fatalf("orphan records %v, want only the young one left", recs)
	}
	if _, err := b.Secrets.Get(ctx, "young", ""); err != nil {
		t.Fatalf("the sweep took a young record's secret: %v", err)
	}
}

// TestStaleDeleteRecordsNothing: a delete whose revision is stale is
// refused before the connector's secret is recorded for removal.
func TestStaleDeleteRecordsNothing(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets}
	ctx := context.Background()
	if _, err := cat.Create(ctx, baseInput("Svc"), "tester"); err != nil {
		t.Fatal(err)
	}
	if err := cat.Delete(ctx, "Svc", "stale"); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	if recs := mustOrphans(t, b.Store); len(recs) != 0 {
		t.Fatalf("orphan records %v after a refused delete", recs)
	}
}

// mustOrphans lists every orphan record; a failed list fails the test
// rather than passing for an empty one.
func mustOrphans(t *testing.T, s catalog.Store) []string {
	t.Helper()
	recs, err := s.Orphans(context.Background(), time.Time{}, 0)
	if err != nil {
		t.Fatalf("list orphan records: %v", err)
	}
	return recs
}

// mustIDs lists every secret, like mustOrphans.
func mustIDs(t *testing.T, s secret.Store) []string {
	t.Helper()
	ids, err := s.IDs(context.Background())
	if err != nil {
		t.Fatalf("list secrets: %v", err)
	}
	return ids
}
