package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func ptr[T any](v T) *T { return &v }

// faults counts calls across both backends and fails the Nth one, either
// before it runs (the backend refused) or after (it ran, but the caller saw
// an error, as when a reply is lost).
type faults struct {
	mu     sync.Mutex
	calls  int
	failAt int
	after  bool
	log    []string
	// down fails every call of these names, like a backend that is out.
	down map[string]bool
}

var errInjected = status.Error(codes.Unavailable, "injected fault")

// intercept is step as a wrappedStore/wrappedSecrets run function.
func (f *faults) intercept(_ context.Context, name string, call func() error) error {
	return f.step(name, call)
}

// step runs one backend call under the fault plan.
func (f *faults) step(name string, call func() error) error {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.log = append(f.log, name)
	fail := f.failAt == n
	if f.down[name] {
		f.mu.Unlock()
		return errInjected
	}
	f.mu.Unlock()
	if fail && !f.after {
		return errInjected
	}
	err := call()
	if fail {
		return errInjected
	}
	return err
}

func (f *faults) set(failAt int, after bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.failAt, f.after, f.log = 0, failAt, after, nil
}

// wrappedStore and wrappedSecrets send every backend call the catalog
// makes through run, by name ("store.Create", "secrets.Put", ...): the
// fault plans of these tests (faults, hang) decide what each call does.
type wrappedStore struct {
	catalog.Store
	run func(ctx context.Context, name string, call func() error) error
}

func (s wrappedStore) Create(ctx context.Context, c *connector.Connector) (out *connector.Connector, err error) {
	err = s.run(ctx, "store.Create", func() (e error) { out, e = s.Store.Create(ctx, c); return })
	return out, err
}

func (s wrappedStore) Get(ctx context.Context, name string) (out *connector.Connector, err error) {
	err = s.run(ctx, "store.Get", func() (e error) { out, e = s.Store.Get(ctx, name); return })
	return out, err
}

func (s wrappedStore) Update(ctx context.Context, name, rev string, c *connector.Connector) (out *connector.Connector, err error) {
	err = s.run(ctx, "store.Update", func() (e error) { out, e = s.Store.Update(ctx, name, rev, c); return })
	return out, err
}

func (s wrappedStore) Delete(ctx context.Context, name, rev string) error {
	return s.run(ctx, "store.Delete", func() error { return s.Store.Delete(ctx, name, rev) })
}

func (s wrappedStore) AddOrphan(ctx context.Context, id string, at time.Time) error {
	return s.run(ctx, "store.AddOrphan", func() error { return s.Store.AddOrphan(ctx, id, at) })
}

func (s wrappedStore) Orphans(ctx context.Context, before time.Time, limit int) (out []string, err error) {
	err = s.run(ctx, "store.Orphans", func() (e error) { out, e = s.Store.Orphans(ctx, before, limit); return })
	return out, err
}

func (s wrappedStore) RemoveOrphan(ctx context.Context, id string) error {
	return s.run(ctx, "store.RemoveOrphan", func() error { return s.Store.RemoveOrphan(ctx, id) })
}

func (s wrappedStore) SecretInUse(ctx context.Context, id string) (used bool, err error) {
	err = s.run(ctx, "store.SecretInUse", func() (e error) { used, e = s.Store.SecretInUse(ctx, id); return })
	return used, err
}

type wrappedSecrets struct {
	secret.Store
	run func(ctx context.Context, name string, call func() error) error
}

func (s wrappedSecrets) Put(ctx context.Context, id string, labels map[string]string, b secret.Bundle) (v string, err error) {
	err = s.run(ctx, "secrets.Put", func() (e error) { v, e = s.Store.Put(ctx, id, labels, b); return })
	return v, err
}

func (s wrappedSecrets) Get(ctx context.Context, id, version string) (b secret.Bundle, err error) {
	err = s.run(ctx, "secrets.Get", func() (e error) { b, e = s.Store.Get(ctx, id, version); return })
	return b, err
}

func (s wrappedSecrets) DestroyVersion(ctx context.Context, id, version string) error {
	return s.run(ctx, "secrets.DestroyVersion", func() error { return s.Store.DestroyVersion(ctx, id, version) })
}

func (s wrappedSecrets) Prune(ctx context.Context, id, keep string) error {
	return s.run(ctx, "secrets.Prune", func() error { return s.Store.Prune(ctx, id, keep) })
}

func (s wrappedSecrets) Delete(ctx context.Context, id string) error {
	return s.run(ctx, "secrets.Delete", func() error { return s.Store.Delete(ctx, id) })
}

// state is what a reader can observe of one connector: its readable
// fields and the secrets its revision pins.
type state struct {
	Name, Scope, ClientID string
	Bundle                secret.Bundle
}

// observe reads every connector and its secrets straight from the
// backends, failing the test on a connector whose secrets are unreadable
// (a half-made connector).
func observe(t *testing.T, b testenv.Backends) map[string]state {
	t.Helper()
	ctx := context.Background()
	page, err := b.Store.List(ctx, connector.ListOptions{PageSize: connector.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]state{}
	for _, c := range page.Connectors {
		var bundle secret.Bundle
		if c.SecretID != "" {
			if bundle, err = b.Secrets.Get(ctx, c.SecretID, c.SecretVersion); err != nil {
				t.Fatalf("connector %s is visible but its secrets are not readable: %v", c.Name, err)
			}
		}
		out[c.Name] = state{Name: c.Name, Scope: c.Scope, ClientID: c.ClientID, Bundle: bundle}
	}
	return out
}

// checkNoOrphans: every secret is referenced by a connector or has an
// orphan record; with sweep, once the grace period has passed, one more
// mutation leaves neither unreferenced secrets nor records.
func checkNoOrphans(t *testing.T, b testenv.Backends, cat *catalog.Catalog, sweep bool) {
	t.Helper()
	ctx := context.Background()
	referenced := map[string]bool{}
	page, err := b.Store.List(ctx, connector.ListOptions{PageSize: connector.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range page.Connectors {
		if c.SecretID != "" {
			referenced[c.SecretID] = true
		}
	}
	orphans, err := b.Store.Orphans(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, id := range orphans {
		recorded[id] = true
	}
	ids, err := b.Secrets.IDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !referenced[id] && !recorded[id] {
			t.Fatalf("secret %s is referenced by no connector and not recorded for cleanup", id)
		}
	}
	if !sweep {
		return
	}
	// Any later mutation sweeps the orphan records older than the grace
	// period: let the catalog's clock run past it.
	cat.Now = func() time.Time { return time.Now().Add(catalog.OrphanGrace + time.Minute) }
	if err := cat.Delete(ctx, "NoSuchConnector", ""); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("sweep trigger: %v", err)
	}
	ids, err = b.Secrets.IDs(ctx)
	if err != nil {
		t.Fatalf("list secrets after the sweep: %v", err)
	}
	for _, id := range ids {
		if !referenced[id] {
			t.Fatalf("orphan secret %s survived the sweep", id)
		}
	}
	if orphans, _ := b.Store.Orphans(ctx, time.Time{}, 0); len(orphans) != 0 {
		t.Fatalf("orphan records left: %v", orphans)
	}
}

func baseInput(name string) *connector.Input {
	return &connector.Input{
		Name: ptr(name), URL: ptr("https://auth.example.com/token"), GrantType: ptr("client_credentials"),
		ClientID: ptr("cid"), ClientSecret: ptr("secret-one"), Scope: ptr("read"), Agents: ptr([]string{"a"}),
	}
}

// operation is one mutation with the states a reader may see after it
// fails part-way: the state before, or the state after.
type operation struct {
	name   string
	setup  func(ctx context.Context, cat *catalog.Catalog) error
	run    func(ctx context.Context, cat *catalog.Catalog) error
	before map[string]state
	after  map[string]state
}

// createSvc, updateSvc and deleteSvc are the operations the tables run on
// connector Svc (created from baseInput).
func createSvc(ctx context.Context, cat *catalog.Catalog) error {
	_, err := cat.Create(ctx, baseInput("Svc"), "tester")
	return err
}

func updateSvc(in *connector.Input) func(context.Context, *catalog.Catalog) error {
	return func(ctx context.Context, cat *catalog.Catalog) error {
		_, err := cat.Update(ctx, "Svc", "", in, "tester")
		return err
	}
}

func deleteSvc(ctx context.Context, cat *catalog.Catalog) error { return cat.Delete(ctx, "Svc", "") }

func operations() []operation {
	one := state{Name: "Svc", Scope: "read", ClientID: "cid", Bundle: secret.Bundle{ClientSecret: "secret-one"}}
	return []operation{
		{
			name:   "create",
			setup:  func(context.Context, *catalog.Catalog) error { return nil },
			run:    createSvc,
			before: map[string]state{},
			after:  map[string]state{"Svc": one},
		},
		{
			name:   "update secrets and metadata",
			setup:  createSvc,
			run:    updateSvc(&connector.Input{Scope: ptr("write"), ClientSecret: ptr("secret-two")}),
			before: map[string]state{"Svc": one},
			after:  map[string]state{"Svc": {Name: "Svc", Scope: "write", ClientID: "cid", Bundle: secret.Bundle{ClientSecret: "secret-two"}}},
		},
		{
			name:   "rename with new secret",
			setup:  createSvc,
			run:    updateSvc(&connector.Input{Name: ptr("Svc2"), ClientSecret: ptr("secret-two")}),
			before: map[string]state{"Svc": one},
			after:  map[string]state{"Svc2": {Name: "Svc2", Scope: "read", ClientID: "cid", Bundle: secret.Bundle{ClientSecret: "secret-two"}}},
		},
		{
			name: "first secret on a connector without one",
			setup: func(ctx context.Context, cat *catalog.Catalog) error {
				_, err := cat.Create(ctx, &connector.Input{Name: ptr("Svc"), URL: ptr("https://auth.example.com/token"), GrantType: ptr("urn:example:grant"), Scope: ptr("read"), ClientID: ptr("cid")}, "tester")
				return err
			},
			run:    updateSvc(&connector.Input{ClientSecret: ptr("secret-one")}),
			before: map[string]state{"Svc": {Name: "Svc", Scope: "read", ClientID: "cid"}},
			after:  map[string]state{"Svc": one},
		},
		{
			name:   "delete",
			setup:  createSvc,
			run:    deleteSvc,
			before: map[string]state{"Svc": one},
			after:  map[string]state{},
		},
	}
}

// TestFailureAtEveryStep fails each backend call of each mutation in turn,
// before and after it takes effect, and checks that a reader sees the old
// state or the new one, never a mix, and that no secret is left that
// nothing refers to.
func TestFailureAtEveryStep(t *testing.T) {
	for _, kind := range testenv.Kinds {
		for _, op := range operations() {
			t.Run(kind+"/"+op.name, func(t *testing.T) {
				ctx := context.Background()
				fresh := func() (testenv.Backends, *catalog.Catalog, *faults) {
					b := testenv.New(t, kind)
					f := &faults{}
					cat := &catalog.Catalog{Store: wrappedStore{b.Store, f.intercept}, Secrets: wrappedSecrets{b.Secrets, f.intercept}}
					if err := op.setup(ctx, cat); err != nil {
						t.Fatalf("setup: %v", err)
					}
					return b, cat, f
				}
				// A clean run tells how many backend calls the operation makes.
				b, cat, f := fresh()
				f.set(0, false)
				if err := op.run(ctx, cat); err != nil {
					t.Fatalf("clean run: %v", err)
				}
				steps := append([]string(nil), f.log...)
				if got := observe(t, b); !reflect.DeepEqual(got, op.after) {
					t.Fatalf("clean run state %+v, want %+v", got, op.after)
				}
				checkNoOrphans(t, b, cat, false)

				for i := 1; i <= len(steps); i++ {
					for _, after := range []bool{false, true} {
						name := fmt.Sprintf("fail %s #%d %s", map[bool]string{false: "before", true: "after"}[after], i, steps[i-1])
						t.Run(name, func(t *testing.T) {
							b, cat, f := fresh()
							f.set(i, after)
							err := op.run(ctx, cat)
							f.set(0, false)
							got := observe(t, b)
							switch {
							case reflect.DeepEqual(got, op.after):
							case reflect.DeepEqual(got, op.before):
								if err == nil {
									t.Fatalf("reported success but nothing changed")
								}
							default:
								t.Fatalf("half-made state %+v\nbefore %+v\nafter  %+v", got, op.before, op.after)
							}
							checkNoOrphans(t, b, cat, true)
						})
					}
				}
			})
		}
	}
}

// TestOrphanRecordedWhenCleanupFails: a create whose metadata write fails
// while Secret Manager deletes fail too records the new secret as an orphan,
// and the next mutation removes it.
func TestOrphanRecordedWhenCleanupFails(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		f := &faults{}
		cat := &catalog.Catalog{Store: wrappedStore{b.Store, f.intercept}, Secrets: wrappedSecrets{b.Secrets, f.intercept}}
		f.down = map[string]bool{"store.Create": true, "secrets.Delete": true}
		if _, err := cat.Create(ctx, baseInput("Svc"), "tester"); err == nil {
			t.Fatal("create succeeded with the store down")
		}
		f.down = nil
		if got := observe(t, b); len(got) != 0 {
			t.Fatalf("visible: %v", got)
		}
		ids, _ := b.Secrets.IDs(ctx)
		orphans, _ := b.Store.Orphans(ctx, time.Time{}, 0)
		if len(ids) != 1 || !reflect.DeepEqual(ids, orphans) {
			t.Fatalf("secrets %v, recorded orphans %v: want the one secret recorded", ids, orphans)
		}
		checkNoOrphans(t, b, cat, true)
	})
}
