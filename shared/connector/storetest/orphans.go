package storetest

import (
	"slices"
	"sort"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
)

func orphans(t *testing.T, s catalog.Store, before time.Time, limit int) []string {
	t.Helper()
	ids, err := s.Orphans(t.Context(), before, limit)
	if err != nil {
		t.Fatalf("Orphans(%v, %d): %v", before, limit, err)
	}
	return slices.Clone(ids)
}

func testOrphans(t *testing.T, s catalog.Store) {
	ctx := t.Context()
	if ids := orphans(t, s, time.Time{}, 10); len(ids) != 0 {
		t.Errorf("Orphans on empty store = %v", ids)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := map[string]time.Time{"s3": t0, "s1": t0.Add(time.Minute), "s2": t0.Add(2 * time.Minute)}
	for _, id := range []string{"s3", "s1", "s2"} {
		if err := s.AddOrphan(ctx, id, at[id]); err != nil {
			t.Fatalf("AddOrphan(%q): %v", id, err)
		}
	}
	sorted := func(ids []string) []string { ids = slices.Clone(ids); sort.Strings(ids); return ids }
	if ids := sorted(orphans(t, s, time.Time{}, 10)); !slices.Equal(ids, []string{"s1", "s2", "s3"}) {
		t.Errorf("Orphans = %v, want [s1 s2 s3]", ids)
	}
	// Before a time: only older records, oldest first.
	if ids := orphans(t, s, t0.Add(90*time.Second), 10); !slices.Equal(ids, []string{"s3", "s1"}) {
		t.Errorf("Orphans(before s2) = %v, want [s3 s1], oldest first", ids)
	}
	if ids := orphans(t, s, t0.Add(time.Hour), 2); !slices.Equal(ids, []string{"s3", "s1"}) {
		t.Errorf("Orphans(any, 2) = %v, want the 2 oldest [s3 s1]", ids)
	}
	if ids := orphans(t, s, t0, 10); len(ids) != 0 {
		t.Errorf("Orphans(before the oldest) = %v, want none", ids)
	}
	// Recording again moves the time, and keeps one record.
	if err := s.AddOrphan(ctx, "s3", t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ids := orphans(t, s, t0.Add(time.Hour), 10); !slices.Equal(ids, []string{"s1", "s2", "s3"}) {
		t.Errorf("Orphans after s3 recorded again = %v, want [s1 s2 s3]", ids)
	}
	some := orphans(t, s, time.Time{}, 2)
	if len(some) != 2 {
		t.Errorf("Orphans(2) = %v, want 2 IDs", some)
	}
	if err := s.RemoveOrphan(ctx, "s2"); err != nil {
		t.Fatalf("RemoveOrphan: %v", err)
	}
	if err := s.RemoveOrphan(ctx, "s2"); err != nil {
		t.Errorf("RemoveOrphan of removed ID: %v", err)
	}
	if err := s.RemoveOrphan(ctx, "never-added"); err != nil {
		t.Errorf("RemoveOrphan of absent ID: %v", err)
	}
	if ids := sorted(orphans(t, s, time.Time{}, 10)); !slices.Equal(ids, []string{"s1", "s3"}) {
		t.Errorf("Orphans after remove = %v, want [s1 s3]", ids)
	}
	// Orphan records are independent of connectors.
	mustCreate(t, s, sample("s1"))
	if names := listNames(t, s, connector.ListOptions{}); !slices.Equal(names, []string{"s1"}) {
		t.Errorf("List = %v, want [s1]", names)
	}
}

func testSecretInUse(t *testing.T, s catalog.Store) {
	ctx := t.Context()
	inUse := func(id string) bool {
		t.Helper()
		used, err := s.SecretInUse(ctx, id)
		if err != nil {
			t.Fatalf("SecretInUse(%q): %v", id, err)
		}
		return used
	}
	if inUse("sec-1") {
		t.Error("SecretInUse on an empty store")
	}
	c := sample("holder")
	c.SecretID, c.SecretVersion = "sec-1", "1"
	stored := mustCreate(t, s, c)
	if !inUse("sec-1") || inUse("sec-2") {
		t.Errorf("after create: sec-1 %v, sec-2 %v; want true, false", inUse("sec-1"), inUse("sec-2"))
	}
	// A rename keeps the secret.
	next := stored.Clone()
	next.Name = "renamed"
	if _, err := s.Update(ctx, "holder", stored.Revision, next); err != nil {
		t.Fatal(err)
	}
	if !inUse("sec-1") {
		t.Error("a rename lost the secret's use")
	}
	if err := s.Delete(ctx, "renamed", ""); err != nil {
		t.Fatal(err)
	}
	if inUse("sec-1") {
		t.Error("SecretInUse after the connector's delete")
	}
}
