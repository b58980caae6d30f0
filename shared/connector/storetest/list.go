package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"

	"connectors.dev/connectors/shared/connector"
)

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
	return pageNames(listAll(t, s, opts))
}

// pageNames is the names of the connectors on pages, in order.
func pageNames(pages [][]*connector.Connector) []string {
	var names []string
	for _, p := range pages {
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
	if got := pageNames(pages); !slices.Equal(got, want) {
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
	for _, p := range pages {
		for _, c := range p {
			if !c.HasAgent("agent-a") {
				t.Errorf("agent-a listing has %q with agents %v", c.Name, c.Agents)
			}
		}
	}
	if got := pageNames(pages); !slices.Equal(got, want) {
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
