package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"connectors.dev/connectors/shared/connector"
)

func testCreateRoundTrip(t *testing.T, s connector.Store) {
	in := sample("alpha", "agent-1", "agent-2")
	created := mustCreate(t, s, in)
	checkSame(t, "Create result", in, created)
	got := mustGet(t, s, "alpha")
	checkSame(t, "Get result", in, got)
	if got.Revision != created.Revision {
		t.Errorf("Get revision %q, Create returned %q", got.Revision, created.Revision)
	}

	// Zero values must survive too, not be replaced by defaults.
	zero := &connector.Connector{Name: "zero", GrantType: connector.GrantClientCredentials}
	mustCreate(t, s, zero)
	checkSame(t, "Get of sparse connector", zero, mustGet(t, s, "zero"))
}

func testCreateSetsRevision(t *testing.T, s connector.Store) {
	a := mustCreate(t, s, sample("a"))
	b := mustCreate(t, s, sample("b"))
	if a.Revision == "" || b.Revision == "" {
		t.Fatalf("Create left Revision empty: %q, %q", a.Revision, b.Revision)
	}
	if a.Revision == sample("a").Revision {
		t.Errorf("Create kept the caller's revision %q", a.Revision)
	}
}

func testCreateExisting(t *testing.T, s connector.Store) {
	before := mustCreate(t, s, sample("dup", "agent-1"))
	other := sample("dup", "agent-2")
	other.URL = "https://other.example.com"
	other.SecretID = "another-secret"
	if _, err := s.Create(t.Context(), other); !errors.Is(err, connector.ErrExists) {
		t.Fatalf("second Create: err = %v, want ErrExists", err)
	}
	checkUnchanged(t, s, before)
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-2"}); len(names) != 0 {
		t.Errorf("failed Create left %v in agent-2's listing", names)
	}
}

func testCreateDoesNotAlias(t *testing.T, s connector.Store) {
	in := sample("alias", "agent-1")
	want := in.Clone()
	created := mustCreate(t, s, in)
	if in.Revision != want.Revision {
		t.Errorf("Create changed the caller's Revision to %q", in.Revision)
	}
	in.Agents[0] = "mutated"
	in.ExtraParams["audience"] = "mutated"
	created.Agents[0] = "mutated"
	created.ExtraParams["audience"] = "mutated"
	checkSame(t, "Get after mutating Create's input and result", want, mustGet(t, s, "alias"))
}

func testGetAbsent(t *testing.T, s connector.Store) {
	checkAbsent(t, s, "nope")
	mustCreate(t, s, sample("yes"))
	checkAbsent(t, s, "nope")
}

func testUpdateChangesRevision(t *testing.T, s connector.Store) {
	created := mustCreate(t, s, sample("u", "agent-1"))
	next := created.Clone()
	next.URL = "https://new.example.com/token"
	next.Agents = []string{"agent-3"}
	next.ExtraParams = map[string]string{"k": "v"}
	next.HasPassword = false
	next.SecretVersion = "8"
	next.UpdatedAt = next.UpdatedAt.Add(time.Hour)
	next.UpdatedBy = "carol@example.com"
	updated, err := s.Update(t.Context(), "u", created.Revision, next)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if updated.Revision == "" || updated.Revision == created.Revision {
		t.Errorf("Update revision = %q, want new non-empty (was %q)", updated.Revision, created.Revision)
	}
	checkSame(t, "Update result", next, updated)
	got := mustGet(t, s, "u")
	checkSame(t, "Get after Update", next, got)
	if got.Revision != updated.Revision {
		t.Errorf("Get revision %q, Update returned %q", got.Revision, updated.Revision)
	}

	// A second update from the new revision works and changes it again.
	again, err := s.Update(t.Context(), "u", updated.Revision, got)
	if err != nil {
		t.Fatalf("second Update: %v", err)
	}
	if again.Revision == updated.Revision || again.Revision == created.Revision {
		t.Errorf("second Update reused a revision: %q", again.Revision)
	}
}

func testUpdateStale(t *testing.T, s connector.Store) {
	created := mustCreate(t, s, sample("s", "agent-1"))
	current, err := s.Update(t.Context(), "s", created.Revision, created)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	next := current.Clone()
	next.URL = "https://stale.example.com"
	next.Agents = []string{"agent-2"}
	if _, err := s.Update(t.Context(), "s", created.Revision, next); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("Update with stale revision: err = %v, want ErrConflict", err)
	}
	if _, err := s.Update(t.Context(), "s", "made-up-revision", next); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("Update with unknown revision: err = %v, want ErrConflict", err)
	}
	checkUnchanged(t, s, current)
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-2"}); len(names) != 0 {
		t.Errorf("rejected Update changed the agent index: %v for agent-2", names)
	}
}

func testUpdateUnconditional(t *testing.T, s connector.Store) {
	created := mustCreate(t, s, sample("x"))
	if _, err := s.Update(t.Context(), "x", created.Revision, created); err != nil {
		t.Fatalf("Update: %v", err)
	}
	next := created.Clone() // carries the now stale revision, which must not matter
	next.Scope = "unconditional"
	updated, err := s.Update(t.Context(), "x", "", next)
	if err != nil {
		t.Fatalf("Update with empty revision: %v", err)
	}
	checkSame(t, "Get after unconditional Update", next, mustGet(t, s, "x"))
	if updated.Revision == "" || updated.Revision == created.Revision {
		t.Errorf("unconditional Update revision = %q", updated.Revision)
	}
}

func testUpdateAbsent(t *testing.T, s connector.Store) {
	if _, err := s.Update(t.Context(), "ghost", "", sample("ghost")); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("Update absent, empty revision: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Update(t.Context(), "ghost", "some-revision", sample("ghost")); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("Update absent, with revision: err = %v, want ErrNotFound", err)
	}
	// A rename of an absent connector must not create the new name.
	if _, err := s.Update(t.Context(), "ghost", "", sample("ghost2")); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("rename absent: err = %v, want ErrNotFound", err)
	}
	checkAbsent(t, s, "ghost")
	checkAbsent(t, s, "ghost2")
}

func testUpdateRename(t *testing.T, s connector.Store) {
	created := mustCreate(t, s, sample("old", "agent-1"))
	next := created.Clone()
	next.Name = "new"
	renamed, err := s.Update(t.Context(), "old", created.Revision, next)
	if err != nil {
		t.Fatalf("rename: %v", err)
	}
	if renamed.Name != "new" {
		t.Errorf("rename result Name = %q, want new", renamed.Name)
	}
	if renamed.Revision == "" || renamed.Revision == created.Revision {
		t.Errorf("rename revision = %q, want new non-empty", renamed.Revision)
	}
	checkAbsent(t, s, "old")
	got := mustGet(t, s, "new")
	checkSame(t, "Get after rename", next, got)
	if got.SecretID != created.SecretID {
		t.Errorf("rename changed SecretID from %q to %q", created.SecretID, got.SecretID)
	}
	names := listNames(t, s, connector.ListOptions{})
	if !slices.Equal(names, []string{"new"}) {
		t.Errorf("List after rename = %v, want [new]", names)
	}
	// The old name is free again.
	mustCreate(t, s, sample("old"))
}

func testUpdateRenameOntoExisting(t *testing.T, s connector.Store) {
	a := mustCreate(t, s, sample("a", "agent-1"))
	b := mustCreate(t, s, sample("b", "agent-2"))
	next := a.Clone()
	next.Name = "b"
	if _, err := s.Update(t.Context(), "a", a.Revision, next); !errors.Is(err, connector.ErrExists) {
		t.Fatalf("rename onto existing: err = %v, want ErrExists", err)
	}
	if _, err := s.Update(t.Context(), "a", "", next); !errors.Is(err, connector.ErrExists) {
		t.Fatalf("unconditional rename onto existing: err = %v, want ErrExists", err)
	}
	checkUnchanged(t, s, a)
	checkUnchanged(t, s, b)
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-1"}); !slices.Equal(names, []string{"a"}) {
		t.Errorf("agent-1 listing after failed rename = %v, want [a]", names)
	}
}

func testUpdateRenameStale(t *testing.T, s connector.Store) {
	a := mustCreate(t, s, sample("a"))
	current, err := s.Update(t.Context(), "a", a.Revision, a)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	next := a.Clone()
	next.Name = "b"
	if _, err := s.Update(t.Context(), "a", a.Revision, next); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("rename with stale revision: err = %v, want ErrConflict", err)
	}
	checkUnchanged(t, s, current)
	checkAbsent(t, s, "b")
}

func testDelete(t *testing.T, s connector.Store) {
	c := mustCreate(t, s, sample("d", "agent-1"))
	mustCreate(t, s, sample("e", "agent-1"))
	if err := s.Delete(t.Context(), "d", c.Revision); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkAbsent(t, s, "d")
	if names := listNames(t, s, connector.ListOptions{}); !slices.Equal(names, []string{"e"}) {
		t.Errorf("List after Delete = %v, want [e]", names)
	}
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-1"}); !slices.Equal(names, []string{"e"}) {
		t.Errorf("agent listing after Delete = %v, want [e]", names)
	}
	// The name can be used again.
	mustCreate(t, s, sample("d"))
}

func testDeleteUnconditional(t *testing.T, s connector.Store) {
	c := mustCreate(t, s, sample("d"))
	if _, err := s.Update(t.Context(), "d", c.Revision, c); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := s.Delete(t.Context(), "d", ""); err != nil {
		t.Fatalf("Delete with empty revision: %v", err)
	}
	checkAbsent(t, s, "d")
}

func testDeleteStale(t *testing.T, s connector.Store) {
	c := mustCreate(t, s, sample("d", "agent-1"))
	current, err := s.Update(t.Context(), "d", c.Revision, c)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := s.Delete(t.Context(), "d", c.Revision); !errors.Is(err, connector.ErrConflict) {
		t.Fatalf("Delete with stale revision: err = %v, want ErrConflict", err)
	}
	checkUnchanged(t, s, current)
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-1"}); !slices.Equal(names, []string{"d"}) {
		t.Errorf("agent listing after rejected Delete = %v, want [d]", names)
	}
}

func testDeleteAbsent(t *testing.T, s connector.Store) {
	if err := s.Delete(t.Context(), "ghost", ""); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("Delete absent: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(t.Context(), "ghost", "rev"); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("Delete absent with revision: err = %v, want ErrNotFound", err)
	}
}

func testReturnsCopies(t *testing.T, s connector.Store) {
	in := sample("copy", "agent-1", "agent-2")
	want := in.Clone()
	mutate := func(c *connector.Connector) {
		c.Agents[0] = "mutated"
		c.Agents = append(c.Agents, "appended")
		c.ExtraParams["audience"] = "mutated"
		c.ExtraParams["new"] = "x"
		c.URL = "mutated"
	}
	check := func(what string) {
		t.Helper()
		checkSame(t, "Get after mutating "+what, want, mustGet(t, s, "copy"))
		if names := listNames(t, s, connector.ListOptions{Agent: "agent-1"}); !slices.Equal(names, []string{"copy"}) {
			t.Errorf("agent-1 listing after mutating %s = %v", what, names)
		}
	}

	created := mustCreate(t, s, in)
	mutate(created)
	check("Create's result")

	mutate(mustGet(t, s, "copy"))
	check("Get's result")

	page, err := s.List(t.Context(), connector.ListOptions{Agent: "agent-1"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, c := range page.Connectors {
		mutate(c)
	}
	check("List's result")

	next := mustGet(t, s, "copy")
	updated, err := s.Update(t.Context(), "copy", next.Revision, next)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	mutate(updated)
	mutate(next)
	check("Update's input and result")
}
