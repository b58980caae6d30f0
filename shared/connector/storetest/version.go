package storetest

import (
	"context"
	"errors"
	"testing"

	"connectors.dev/connectors/shared/connector"
)

// The catalog version (connector.Versioned): every mutation, and only a
// mutation that took effect, counts itself in Seq and in the slot of each
// name it touched, in the same transaction.

func version(t *testing.T, s connector.Store) *connector.Version {
	t.Helper()
	vs, ok := s.(connector.Versioned)
	if !ok {
		t.Fatalf("%T keeps no catalog version (connector.Versioned): instances would have to re-read every connector they serve", s)
	}
	v, err := vs.Version(context.Background())
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	return v
}

// checkBumped checks that v is before after one mutation touching names.
func checkBumped(t *testing.T, what string, before, v *connector.Version, names ...string) {
	t.Helper()
	want := before.Bump(names...)
	if v.Seq != want.Seq {
		t.Fatalf("%s: version %d after %d, want %d", what, v.Seq, before.Seq, want.Seq)
	}
	changed := v.ChangedSlots(before)
	wantChanged := want.ChangedSlots(before)
	for k := range wantChanged {
		if v.Slots[k] != want.Slots[k] {
			t.Errorf("%s: slot %s counts %d, want %d", what, k, v.Slots[k], want.Slots[k])
		}
	}
	if len(changed) != len(wantChanged) {
		t.Errorf("%s: slots %v changed, want %v", what, changed, wantChanged)
	}
}

func testVersionStartsEmpty(t *testing.T, s connector.Store) {
	if v := version(t, s); v.Seq != 0 || len(v.Slots) != 0 {
		t.Fatalf("an empty store's version is %+v, want zero", v)
	}
}

func testVersionCreate(t *testing.T, s connector.Store) {
	before := version(t, s)
	mustCreate(t, s, sample("a", "x"))
	checkBumped(t, "create", before, version(t, s), "a")
}

func testVersionUpdate(t *testing.T, s connector.Store) {
	c := mustCreate(t, s, sample("a", "x"))
	before := version(t, s)
	next := c.Clone()
	next.Active = false
	if _, err := s.Update(context.Background(), "a", c.Revision, next); err != nil {
		t.Fatal(err)
	}
	checkBumped(t, "update", before, version(t, s), "a")
}

func testVersionRename(t *testing.T, s connector.Store) {
	c := mustCreate(t, s, sample("a", "x"))
	before := version(t, s)
	next := c.Clone()
	next.Name = "b"
	if _, err := s.Update(context.Background(), "a", c.Revision, next); err != nil {
		t.Fatal(err)
	}
	// Both names: readers must drop the old one and read the new one.
	checkBumped(t, "rename", before, version(t, s), "a", "b")
}

func testVersionDelete(t *testing.T, s connector.Store) {
	c := mustCreate(t, s, sample("a", "x"))
	before := version(t, s)
	if err := s.Delete(context.Background(), "a", c.Revision); err != nil {
		t.Fatal(err)
	}
	checkBumped(t, "delete", before, version(t, s), "a")
}

// A refused mutation records nothing.
func testVersionRefusedMutation(t *testing.T, s connector.Store) {
	ctx := context.Background()
	c := mustCreate(t, s, sample("a", "x"))
	mustCreate(t, s, sample("b", "x"))
	before := version(t, s)
	if _, err := s.Create(ctx, sample("a", "x")); !errors.Is(err, connector.ErrExists) {
		t.Fatalf("create over a: %v", err)
	}
	if _, err := s.Update(ctx, "a", "stale", c); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	onto := c.Clone()
	onto.Name = "b"
	if _, err := s.Update(ctx, "a", c.Revision, onto); !errors.Is(err, connector.ErrExists) {
		t.Fatalf("rename onto b: %v", err)
	}
	if err := s.Delete(ctx, "absent", ""); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("delete absent: %v", err)
	}
	v := version(t, s)
	if v.Seq != before.Seq || len(v.ChangedSlots(before)) != 0 {
		t.Fatalf("refused mutations moved the version from %+v to %+v", before, v)
	}
}
