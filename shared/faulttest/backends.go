package faulttest

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/firestore"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
	"connectors.dev/connectors/shared/testenv/emulator"
)

// Backends are emulated backends (testenv.Emulated) whose clients reach the
// Firestore emulator and the Secret Manager server through proxies.
type Backends struct {
	// Backends is what the code under test uses: every call goes through
	// the proxies.
	testenv.Backends
	// Direct holds the same data (same collections, same secrets) through
	// clients of their own that bypass the proxies, to inspect the backends
	// while a proxy is down.
	Direct testenv.Backends
	// Firestore and SecretManager are the proxies in front of each server.
	Firestore, SecretManager *Proxy
}

// NewBackends returns proxied backends for t, closed when t ends. The
// Firestore emulator is the one named by FIRESTORE_EMULATOR_HOST (as
// testenv.Main sets it); the Secret Manager server is the one named by
// SECRETMANAGER_EMULATOR_HOST, else an in-process one.
func NewBackends(t testing.TB) Backends {
	t.Helper()
	ctx := context.Background() // the clients outlive the test body
	var b Backends

	// Firestore. Pointing a client at the proxy cannot go through
	// option.WithEndpoint: when FIRESTORE_EMULATOR_HOST is set (it always
	// is here, and it is process-wide), firestore.NewClient dials that
	// address itself and puts the connection first among the options. A
	// connection of our own, given last with option.WithGRPCConn, wins;
	// it carries what the client adds in emulator mode, the owner token.
	// (The client's own connection to the emulator is still dialled, and
	// left idle.)
	direct := testenv.FirestoreStore(t) // fails, or skips, without the emulator
	b.Firestore = Start(t, emulatorAddr(os.Getenv(emulator.FirestoreEnv)))
	conn, err := grpc.NewClient(b.Firestore.Addr(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(emulatorOwner{}))
	if err != nil {
		t.Fatalf("faulttest: dial Firestore proxy: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	store, err := firestore.New(ctx, testenv.Project, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	store.CollectionPrefix = direct.CollectionPrefix
	t.Cleanup(func() { _ = store.Close() })

	// Secret Manager: one store through the proxy, one direct, both under
	// the same prefix.
	addr, srv := testenv.SecretManagerServer(t)
	b.SecretManager = Start(t, addr)
	prefix := testenv.Prefix()
	secrets := testenv.SecretManagerStoreAt(t, b.SecretManager.Addr(), prefix)
	directSecrets := testenv.SecretManagerStoreAt(t, addr, prefix)

	b.Backends = testenv.Backends{Kind: testenv.Emulated, Store: store, Secrets: secrets, Cache: store.TokenCache(), SM: srv}
	b.Direct = testenv.Backends{Kind: testenv.Emulated, Store: direct, Secrets: directSecrets, Cache: direct.TokenCache(), SM: srv}
	warmUp(t, b.Backends)
	return b
}

// warmUp connects the clients and exercises the paths the tests take (a
// read, a transaction, a secret read), so that the first requests of a
// test, under a short deadline, do not meet a cold emulator or an
// unconnected client instead of the fault.
func warmUp(t testing.TB, b testenv.Backends) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := b.Store.Get(ctx, "WarmUp"); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("faulttest: warm up Firestore: %v", err)
	}
	if _, err := b.Store.Update(ctx, "WarmUp", "", &connector.Connector{Name: "WarmUp"}); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("faulttest: warm up Firestore transactions: %v", err)
	}
	if _, err := b.Secrets.Get(ctx, "warm-up", "1"); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("faulttest: warm up Secret Manager: %v", err)
	}
}

// emulatorAddr strips the scheme FIRESTORE_EMULATOR_HOST may carry, as the
// Firestore client does.
func emulatorAddr(s string) string {
	s = strings.TrimPrefix(s, "http://")
	return strings.TrimSuffix(s, "/")
}

// emulatorOwner is the credential the Firestore client sends in emulator
// mode: the emulator treats "Bearer owner" as an admin, bypassing security
// rules.
type emulatorOwner struct{}

func (emulatorOwner) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}

func (emulatorOwner) RequireTransportSecurity() bool { return false }
