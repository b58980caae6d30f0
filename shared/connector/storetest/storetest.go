// Package storetest is the conformance suite that every connector.Store
// implementation must pass. A backend's own test calls Run with a factory
// that returns a fresh, empty store; the suite then checks the behaviour that
// callers of connector.Store rely on, so that backends cannot drift apart.
package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/connector"
)

// Run runs the conformance suite against the stores newStore returns.
//
// newStore is called once per subtest and must return an empty store that no
// other subtest sees. Run closes each store when its subtest ends, so newStore
// must not close it itself (it may register other cleanup, such as removing
// files, with t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) connector.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s connector.Store)
	}{
		{"Create/RoundTripsEveryField", testCreateRoundTrip},
		{"Create/SetsRevision", testCreateSetsRevision},
		{"Create/ExistingNameIsErrExists", testCreateExisting},
		{"Create/DoesNotKeepCallerValue", testCreateDoesNotAlias},
		{"Get/AbsentIsErrNotFound", testGetAbsent},
		{"Update/ChangesRevisionAndFields", testUpdateChangesRevision},
		{"Update/StaleRevisionIsErrConflict", testUpdateStale},
		{"Update/EmptyRevisionIsUnconditional", testUpdateUnconditional},
		{"Update/AbsentIsErrNotFound", testUpdateAbsent},
		{"Update/Rename", testUpdateRename},
		{"Update/RenameOntoExistingIsErrExists", testUpdateRenameOntoExisting},
		{"Update/RenameWithStaleRevisionIsErrConflict", testUpdateRenameStale},
		{"Delete/Removes", testDelete},
		{"Delete/EmptyRevisionIsUnconditional", testDeleteUnconditional},
		{"Delete/StaleRevisionIsErrConflict", testDeleteStale},
		{"Delete/AbsentIsErrNotFound", testDeleteAbsent},
		{"List/Empty", testListEmpty},
		{"List/SortedByName", testListSorted},
		{"List/PaginatesAll", testListPaginatesAll},
		{"List/ByAgentPaginates", testListByAgentPaginates},
		{"List/LastFullPageHasNoToken", testListExactMultiple},
		{"List/ByAgentAfterAgentRemoved", testListByAgentAfterRemoval},
		{"List/ByAgentAfterRenameAndDelete", testListByAgentAfterRenameDelete},
		{"List/InvalidPageToken", testListInvalidToken},
		{"List/PageSizeDefaultAndCap", testListPageSize},
		{"Concurrent/CreateSameName", testConcurrentCreate},
		{"Concurrent/UpdateSameRevision", testConcurrentUpdate},
		{"Orphans", testOrphans},
		{"SecretInUse", testSecretInUse},
		{"ReturnsCopies", testReturnsCopies},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// sample returns a connector with every field set to a non-zero value, so a
// store that drops or mangles any field fails the round trip. The
// timestamps have sub-second parts and a non-UTC zone to check that the
// instant survives, whatever the store's precision and zone handling.
func sample(name string, agents ...string) *connector.Connector {
	zone := time.FixedZone("UTC+2", 2*60*60)
	return &connector.Connector{
		Name:                name,
		Active:              true,
		HeaderAsPayload:     true,
		Agents:              agents,
		URL:                 "https://auth.example.com/token",
		GrantType:           connector.GrantRefreshToken,
		ContentType:         connector.ContentTypeJSON,
		Scope:               "read write",
		ClientID:            "client-" + name,
		Username:            "user-" + name,
		ServiceAccountEmail: "sa@example.iam.gserviceaccount.com",
		ExtraParams:         map[string]string{"audience": "api://x", "resource": "r.1"},
		HasClientSecret:     true,
		HasRefreshToken:     true,
		HasPassword:         true,
		SecretID:            "secret-" + name,
		SecretVersion:       "7",
		CreatedAt:           time.Date(2026, 3, 4, 5, 6, 7, 123456789, zone),
		UpdatedAt:           time.Date(2026, 3, 5, 6, 7, 8, 987654321, zone),
		CreatedBy:           "alice@example.com",
		UpdatedBy:           "bob@example.com",
		Revision:            "caller-set-revision-is-ignored",
	}
}

// normalize makes a comparable copy: timestamps to whole seconds in UTC (the
// contract is "to the second or better"), nil and empty collections equal
// (Firestore and JSON cannot tell them apart reliably, and no caller
// should), and Revision cleared (compared separately).
func normalize(c *connector.Connector) *connector.Connector {
	n := c.Clone()
	n.CreatedAt = n.CreatedAt.Truncate(time.Second).UTC()
	n.UpdatedAt = n.UpdatedAt.Truncate(time.Second).UTC()
	if len(n.Agents) == 0 {
		n.Agents = nil
	}
	if len(n.ExtraParams) == 0 {
		n.ExtraParams = nil
	}
	n.Revision = ""
	return n
}

// diff lists the fields in which want and got differ, ignoring Revision.
func diff(want, got *connector.Connector) []string {
	w, g := reflect.ValueOf(*normalize(want)), reflect.ValueOf(*normalize(got))
	var out []string
	for i := 0; i < w.NumField(); i++ {
		if !reflect.DeepEqual(w.Field(i).Interface(), g.Field(i).Interface()) {
			out = append(out, fmt.Sprintf("%s: want %#v, got %#v",
				w.Type().Field(i).Name, w.Field(i).Interface(), g.Field(i).Interface()))
		}
	}
	return out
}

func checkSame(t *testing.T, what string, want, got *connector.Connector) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil connector", what)
	}
	for _, d := range diff(want, got) {
		t.Errorf("%s: %s", what, d)
	}
}

func mustCreate(t *testing.T, s connector.Store, c *connector.Connector) *connector.Connector {
	t.Helper()
	got, err := s.Create(t.Context(), c)
	if err != nil {
		t.Fatalf("Create(%q): %v", c.Name, err)
	}
	return got
}

func mustGet(t *testing.T, s connector.Store, name string) *connector.Connector {
	t.Helper()
	got, err := s.Get(t.Context(), name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return got
}

// checkUnchanged fails unless the stored connector is exactly before,
// revision included: a failed write must leave no trace.
func checkUnchanged(t *testing.T, s connector.Store, before *connector.Connector) {
	t.Helper()
	now := mustGet(t, s, before.Name)
	checkSame(t, "after failed write", before, now)
	if now.Revision != before.Revision {
		t.Errorf("after failed write: revision changed from %q to %q", before.Revision, now.Revision)
	}
}

func checkAbsent(t *testing.T, s connector.Store, name string) {
	t.Helper()
	if _, err := s.Get(t.Context(), name); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("Get(%q): err = %v, want ErrNotFound", name, err)
	}
}

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
	page, err := s.List(t.Context(), connector.ListOptions{Agent: "agent-2"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Connectors) != 0 {
		t.Errorf("failed Create left %d connectors in agent-2's listing", len(page.Connectors))
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
	page, err := s.List(t.Context(), connector.ListOptions{Agent: "agent-2"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Connectors) != 0 {
		t.Errorf("rejected Update changed the agent index: %d connectors for agent-2", len(page.Connectors))
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

func testListEmpty(t *testing.T, s connector.Store) {
	for _, opts := range []connector.ListOptions{{}, {Agent: "agent-1"}, {PageSize: 3}} {
		page, err := s.List(t.Context(), opts)
		if err != nil {
			t.Fatalf("List(%+v): %v", opts, err)
		}
		if len(page.Connectors) != 0 || page.NextPageToken != "" {
			t.Errorf("List(%+v) on empty store = %d connectors, token %q", opts, len(page.Connectors), page.NextPageToken)
		}
	}
}

func testListSorted(t *testing.T, s connector.Store) {
	names := []string{"m", "b", "z", "a-2", "a-10", "a", "B", "y.y", "a_1"}
	for _, n := range names {
		mustCreate(t, s, sample(n, "agent-1"))
	}
	want := slices.Clone(names)
	sort.Strings(want)
	page, err := s.List(t.Context(), connector.ListOptions{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if page.NextPageToken != "" {
		t.Errorf("single page has NextPageToken %q", page.NextPageToken)
	}
	var got []string
	for _, c := range page.Connectors {
		got = append(got, c.Name)
		checkSame(t, "listed "+c.Name, sample(c.Name, "agent-1"), c)
		if c.Revision == "" {
			t.Errorf("listed %q has empty revision", c.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
}

// listAll pages through a listing, checking each page's size and that the
// token is empty exactly on the last page.
func listAll(t *testing.T, s connector.Store, opts connector.ListOptions) [][]*connector.Connector {
	t.Helper()
	var pages [][]*connector.Connector
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatalf("List(%+v): more than 1000 pages, token loop?", opts)
		}
		page, err := s.List(t.Context(), opts)
		if err != nil {
			t.Fatalf("List(%+v) page %d: %v", opts, i, err)
		}
		pages = append(pages, page.Connectors)
		if page.NextPageToken == "" {
			return pages
		}
		if page.NextPageToken == opts.PageToken {
			t.Fatalf("List(%+v) page %d returned the same token again", opts, i)
		}
		opts.PageToken = page.NextPageToken
	}
}

func listNames(t *testing.T, s connector.Store, opts connector.ListOptions) []string {
	t.Helper()
	var names []string
	for _, p := range listAll(t, s, opts) {
		for _, c := range p {
			names = append(names, c.Name)
		}
	}
	return names
}

func pageSizes(pages [][]*connector.Connector) []int {
	var sizes []int
	for _, p := range pages {
		sizes = append(sizes, len(p))
	}
	return sizes
}

// createMany creates connectors concurrently (a few at a time) to keep
// remote backends fast; it fails the test on the first error.
func createMany(t *testing.T, s connector.Store, cs []*connector.Connector) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(cs))
	sem := make(chan struct{}, 8)
	for _, c := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := s.Create(t.Context(), c); err != nil {
				errs <- fmt.Errorf("Create(%q): %w", c.Name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testListPaginatesAll(t *testing.T, s connector.Store) {
	var cs []*connector.Connector
	var want []string
	for i := range 25 {
		n := fmt.Sprintf("c-%02d", i)
		cs = append(cs, sample(n))
		want = append(want, n)
	}
	createMany(t, s, cs)
	pages := listAll(t, s, connector.ListOptions{PageSize: 7})
	if got := pageSizes(pages); !slices.Equal(got, []int{7, 7, 7, 4}) {
		t.Errorf("page sizes = %v, want [7 7 7 4]", got)
	}
	var got []string
	for _, p := range pages {
		for _, c := range p {
			got = append(got, c.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged listing = %v, want %v", got, want)
	}
}

func testListByAgentPaginates(t *testing.T, s connector.Store) {
	var cs []*connector.Connector
	var want []string
	for i := range 25 {
		n := fmt.Sprintf("mine-%02d", i)
		agents := []string{"agent-a"}
		if i%3 == 0 {
			agents = []string{"agent-b", "agent-a", "agent-c"}
		}
		cs = append(cs, sample(n, agents...))
		want = append(want, n)
	}
	// Others' connectors, interleaved by name, that must not show up; one has
	// an agent whose name has agent-a as a prefix to catch prefix matching.
	for i := range 10 {
		cs = append(cs, sample(fmt.Sprintf("mine-%02d-x", i), "agent-b"))
	}
	cs = append(cs, sample("mine-prefix", "agent-ab"), sample("mine-none"))
	createMany(t, s, cs)

	pages := listAll(t, s, connector.ListOptions{Agent: "agent-a", PageSize: 7})
	if got := pageSizes(pages); !slices.Equal(got, []int{7, 7, 7, 4}) {
		t.Errorf("page sizes = %v, want [7 7 7 4]", got)
	}
	var got []string
	for _, p := range pages {
		for _, c := range p {
			got = append(got, c.Name)
			if !c.HasAgent("agent-a") {
				t.Errorf("agent-a listing has %q with agents %v", c.Name, c.Agents)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("agent-a listing = %v, want %v", got, want)
	}
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-c"}); len(names) != 9 {
		t.Errorf("agent-c listing has %d connectors, want 9: %v", len(names), names)
	}
	if names := listNames(t, s, connector.ListOptions{Agent: "nobody"}); len(names) != 0 {
		t.Errorf("unknown agent listing = %v, want none", names)
	}
}

func testListExactMultiple(t *testing.T, s connector.Store) {
	var cs []*connector.Connector
	for i := range 14 {
		cs = append(cs, sample(fmt.Sprintf("c-%02d", i), "agent-a"))
	}
	createMany(t, s, cs)
	for _, agent := range []string{"", "agent-a"} {
		pages := listAll(t, s, connector.ListOptions{Agent: agent, PageSize: 7})
		if got := pageSizes(pages); !slices.Equal(got, []int{7, 7}) {
			t.Errorf("agent %q: page sizes = %v, want [7 7] (no token on the last full page)", agent, got)
		}
	}
}

func testListByAgentAfterRemoval(t *testing.T, s connector.Store) {
	a := mustCreate(t, s, sample("a", "agent-1", "agent-2"))
	mustCreate(t, s, sample("b", "agent-1"))
	next := a.Clone()
	next.Agents = []string{"agent-2"}
	if _, err := s.Update(t.Context(), "a", a.Revision, next); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-1"}); !slices.Equal(names, []string{"b"}) {
		t.Errorf("agent-1 listing after removal = %v, want [b]", names)
	}
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-2"}); !slices.Equal(names, []string{"a"}) {
		t.Errorf("agent-2 listing = %v, want [a]", names)
	}
	// Removing every agent leaves it only in the full listing.
	cur := mustGet(t, s, "a")
	cur.Agents = nil
	if _, err := s.Update(t.Context(), "a", cur.Revision, cur); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-2"}); len(names) != 0 {
		t.Errorf("agent-2 listing after removal = %v, want none", names)
	}
	if names := listNames(t, s, connector.ListOptions{}); !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("full listing = %v, want [a b]", names)
	}
}

func testListByAgentAfterRenameDelete(t *testing.T, s connector.Store) {
	a := mustCreate(t, s, sample("a", "agent-1"))
	mustCreate(t, s, sample("b", "agent-1"))
	next := a.Clone()
	next.Name = "c"
	next.Agents = []string{"agent-1", "agent-2"}
	if _, err := s.Update(t.Context(), "a", a.Revision, next); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-1"}); !slices.Equal(names, []string{"b", "c"}) {
		t.Errorf("agent-1 listing after rename = %v, want [b c]", names)
	}
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-2"}); !slices.Equal(names, []string{"c"}) {
		t.Errorf("agent-2 listing after rename = %v, want [c]", names)
	}
	if err := s.Delete(t.Context(), "c", ""); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-1"}); !slices.Equal(names, []string{"b"}) {
		t.Errorf("agent-1 listing after Delete = %v, want [b]", names)
	}
	if names := listNames(t, s, connector.ListOptions{Agent: "agent-2"}); len(names) != 0 {
		t.Errorf("agent-2 listing after Delete = %v, want none", names)
	}
}

func testListInvalidToken(t *testing.T, s connector.Store) {
	mustCreate(t, s, sample("a", "agent-1"))
	for _, tok := range []string{"not a token!", "%%%", "\x00"} {
		for _, agent := range []string{"", "agent-1"} {
			_, err := s.List(t.Context(), connector.ListOptions{Agent: agent, PageToken: tok})
			if !errors.Is(err, connector.ErrInvalidPageToken) {
				t.Errorf("List(agent %q, token %q): err = %v, want ErrInvalidPageToken", agent, tok, err)
			}
		}
	}
}

func testListPageSize(t *testing.T, s connector.Store) {
	n := connector.MaxPageSize + 1
	cs := make([]*connector.Connector, 0, n)
	for i := range n {
		c := sample(fmt.Sprintf("c-%04d", i), "agent-a")
		c.ExtraParams = nil // keep the documents small
		cs = append(cs, c)
	}
	createMany(t, s, cs)
	for _, agent := range []string{"", "agent-a"} {
		page, err := s.List(t.Context(), connector.ListOptions{Agent: agent})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(page.Connectors) != connector.DefaultPageSize || page.NextPageToken == "" {
			t.Errorf("agent %q, PageSize 0: %d connectors (token %q), want %d and a token",
				agent, len(page.Connectors), page.NextPageToken, connector.DefaultPageSize)
		}
		page, err = s.List(t.Context(), connector.ListOptions{Agent: agent, PageSize: 10 * connector.MaxPageSize})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(page.Connectors) != connector.MaxPageSize || page.NextPageToken == "" {
			t.Fatalf("agent %q, huge PageSize: %d connectors (token %q), want %d and a token",
				agent, len(page.Connectors), page.NextPageToken, connector.MaxPageSize)
		}
		last, err := s.List(t.Context(), connector.ListOptions{Agent: agent, PageSize: 10 * connector.MaxPageSize, PageToken: page.NextPageToken})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(last.Connectors) != 1 || last.NextPageToken != "" {
			t.Errorf("agent %q, last page: %d connectors (token %q), want 1 and no token",
				agent, len(last.Connectors), last.NextPageToken)
		} else if want := cs[n-1].Name; last.Connectors[0].Name != want {
			t.Errorf("agent %q, last page has %q, want %q", agent, last.Connectors[0].Name, want)
		}
	}
}

const racers = 50

func testConcurrentCreate(t *testing.T, s connector.Store) {
	var wg sync.WaitGroup
	errs := make([]error, racers)
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := sample("contended", fmt.Sprintf("agent-%d", i))
			c.SecretID = fmt.Sprintf("secret-%d", i)
			<-start
			_, errs[i] = s.Create(t.Context(), c)
		}()
	}
	close(start)
	wg.Wait()
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
	var wg sync.WaitGroup
	errs := make([]error, racers)
	results := make([]*connector.Connector, racers)
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := base.Clone()
			c.Agents = []string{fmt.Sprintf("agent-%d", i+1)}
			c.SecretVersion = fmt.Sprint(i)
			<-start
			results[i], errs[i] = s.Update(t.Context(), "contended", base.Revision, c)
		}()
	}
	close(start)
	wg.Wait()
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

func orphans(t *testing.T, s connector.Store, before time.Time, limit int) []string {
	t.Helper()
	ids, err := s.Orphans(t.Context(), before, limit)
	if err != nil {
		t.Fatalf("Orphans(%v, %d): %v", before, limit, err)
	}
	return slices.Clone(ids)
}

func testOrphans(t *testing.T, s connector.Store) {
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

func testSecretInUse(t *testing.T, s connector.Store) {
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
