// Package storetest is the conformance suite that every connector store
// must pass: the connector.Store contract, and the catalog's orphan records
// kept beside it (catalog.Orphans). A backend's own test calls Run with a
// factory that returns a fresh, empty store; the suite then checks the
// behaviour callers rely on, so that backends cannot drift apart.
package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
)

// Run runs the conformance suite against the stores newStore returns.
//
// newStore is called once per subtest and must return an empty store that no
// other subtest sees. Run closes each store when its subtest ends, so newStore
// must not close it itself (it may register other cleanup, such as removing
// files, with t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) catalog.Store) {
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
		{"ReturnsCopies", testReturnsCopies},
		{"Version/StartsEmpty", testVersionStartsEmpty},
		{"Version/BumpedByCreate", testVersionCreate},
		{"Version/BumpedByUpdate", testVersionUpdate},
		{"Version/BumpedByRename", testVersionRename},
		{"Version/BumpedByDelete", testVersionDelete},
		{"Version/NotBumpedByRefusedMutation", testVersionRefusedMutation},
	}
	orphanTests := []struct {
		name string
		fn   func(t *testing.T, s catalog.Store)
	}{
		{"Orphans", testOrphans},
		{"SecretInUse", testSecretInUse},
		{"Health/RecordsWithoutRevisionOrVersion", testHealthRecords},
		{"Health/ConcurrentWritersOneTransition", testHealthConcurrentTransition},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t, newStore)) })
	}
	for _, tc := range orphanTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t, newStore)) })
	}
}

// open returns a new store from newStore, closed when t ends.
func open(t *testing.T, newStore func(t *testing.T) catalog.Store) catalog.Store {
	s := newStore(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
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
		APIBaseURL:          "https://api.example.com/v1/",
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
