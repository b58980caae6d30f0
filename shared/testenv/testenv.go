// Package testenv gives tests the real servers behind the product: the
// Firestore emulator (started on a free loopback port when
// FIRESTORE_EMULATOR_HOST is unset) and a Secret Manager gRPC server (the
// one named by SECRETMANAGER_EMULATOR_HOST, else an in-process one), plus the
// embedded backends of the local run. Each test gets stores isolated by a
// random collection or secret prefix. Only tests import it.
package testenv

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector/boltstore"
	"connectors.dev/connectors/shared/connector/firestore"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/secret/localfile"
	"connectors.dev/connectors/shared/secret/secretmanager"
	"connectors.dev/connectors/shared/secret/smserver"
	"connectors.dev/connectors/shared/testenv/emulator"
	"connectors.dev/connectors/shared/tokencache"
)

// SecretManagerEnv names a running Secret Manager server.
const SecretManagerEnv = "SECRETMANAGER_EMULATOR_HOST"

// Main runs a package's tests with the Firestore emulator available; call
// it from TestMain: func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }.
func Main(m *testing.M) int { return emulator.Main(m) }

// Project is the project ID used against the emulators (they accept any).
const Project = "connectors-test"

// Backend kinds.
const (
	Embedded = "embedded" // bbolt file + encrypted local file, as in the local run
	Emulated = "emulated" // Firestore emulator + Secret Manager gRPC server
)

// Kinds lists every backend kind, for tests that run on each.
var Kinds = []string{Embedded, Emulated}

// OnEach runs f as a subtest named after each backend kind, on new
// backends of that kind.
func OnEach(t *testing.T, f func(t *testing.T, b Backends)) {
	t.Helper()
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) { f(t, New(t, kind)) })
	}
}

// Backends is a connector store and a secret store for one test.
type Backends struct {
	Kind    string
	Store   catalog.Store
	Secrets secret.Store
	// Cache is the shared token cache kept by Store's backend.
	Cache tokencache.Cache
	// SM is the in-process Secret Manager server when this test owns one
	// (nil for Embedded, or when SECRETMANAGER_EMULATOR_HOST is used).
	SM *smserver.Server
}

// New returns backends of kind for t, closed when t ends.
func New(t testing.TB, kind string) Backends {
	t.Helper()
	switch kind {
	case Embedded:
		dir := t.TempDir()
		store, err := boltstore.Open(filepath.Join(dir, "connectors.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		secrets, err := localfile.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { secrets.Close() })
		return Backends{Kind: kind, Store: store, Secrets: secrets, Cache: store.TokenCache()}
	case Emulated:
		fs := FirestoreStore(t)
		b := Backends{Kind: kind, Store: fs, Cache: fs.TokenCache()}
		b.Secrets, b.SM = SecretManagerStore(t)
		return b
	}
	t.Fatalf("testenv: unknown backend kind %q", kind)
	return Backends{}
}

// Prefix returns a random prefix isolating one test's data.
func Prefix() string {
	return "t" + strings.ToLower(rand.Text()[:10]) + "-"
}

// FirestoreStore returns a store on the emulator with its own collections.
func FirestoreStore(t testing.TB) *firestore.Store {
	t.Helper()
	emulator.NeedFirestore(t)
	// Not t.Context(): the client must outlive the test body until cleanup.
	s, err := firestore.New(context.Background(), Project)
	if err != nil {
		t.Fatal(err)
	}
	s.CollectionPrefix = Prefix()
	t.Cleanup(func() { s.Close() })
	return s
}

// Instance returns backends that share b's data through a client of their
// own, as another function instance would: a second Firestore client on the
// same collections, or the same embedded database (one process can hold a
// bbolt file only once).
func Instance(t testing.TB, b Backends) Backends {
	t.Helper()
	fs, ok := b.Store.(*firestore.Store)
	if !ok {
		return b
	}
	other, err := firestore.New(context.Background(), Project)
	if err != nil {
		t.Fatal(err)
	}
	other.CollectionPrefix = fs.CollectionPrefix
	t.Cleanup(func() { other.Close() })
	return Backends{Kind: b.Kind, Store: other, Secrets: b.Secrets, Cache: other.TokenCache(), SM: b.SM}
}

// SecretManagerStore returns a Secret Manager store with its own secret
// prefix, on the server named by SECRETMANAGER_EMULATOR_HOST or on a new
// in-process server (returned, for its fault switches).
func SecretManagerStore(t testing.TB) (*secretmanager.Store, *smserver.Server) {
	t.Helper()
	addr, srv := SecretManagerServer(t)
	return SecretManagerStoreAt(t, addr, Prefix()), srv
}

// SecretManagerServer returns the address of the server named by
// SECRETMANAGER_EMULATOR_HOST, or starts one in process (returned; stopped
// when t ends).
func SecretManagerServer(t testing.TB) (string, *smserver.Server) {
	t.Helper()
	if addr := os.Getenv(SecretManagerEnv); addr != "" {
		return addr, nil
	}
	return StartSecretManager(t)
}

// StartSecretManager starts a Secret Manager server in process on a free
// loopback port, stopped when t ends: for tests that need its fault
// switches even when SECRETMANAGER_EMULATOR_HOST is set.
func StartSecretManager(t testing.TB) (string, *smserver.Server) {
	t.Helper()
	srv := smserver.New()
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return addr, srv
}

// SecretManagerStoreAt returns a store on the server at addr whose secret
// names start with prefix, closed when t ends.
func SecretManagerStoreAt(t testing.TB, addr, prefix string) *secretmanager.Store {
	t.Helper()
	s, err := secretmanager.New(context.Background(), Project, smserver.ClientOptions(addr)...)
	if err != nil {
		t.Fatal(err)
	}
	s.Prefix = prefix
	t.Cleanup(func() { s.Close() })
	return s
}
