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
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/boltstore"
	"connectors.dev/connectors/shared/connector/firestore"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/secret/localfile"
	"connectors.dev/connectors/shared/secret/secretmanager"
	"connectors.dev/connectors/shared/secret/smserver"
	"connectors.dev/connectors/shared/tokencache"
)

// Environment variables naming running servers.
const (
	FirestoreEnv     = "FIRESTORE_EMULATOR_HOST"
	SecretManagerEnv = "SECRETMANAGER_EMULATOR_HOST"
)

// Project is the project ID used against the emulators (they accept any).
const Project = "connectors-test"

// Backend kinds.
const (
	Embedded = "embedded" // bbolt file + encrypted local file, as in the local run
	Emulated = "emulated" // Firestore emulator + Secret Manager gRPC server
)

// Kinds lists every backend kind, for tests that run on each.
var Kinds = []string{Embedded, Emulated}

// emulatorStartTimeout allows for a JVM starting on a loaded machine.
const emulatorStartTimeout = 90 * time.Second

// Backends is a connector store and a secret store for one test.
type Backends struct {
	Kind    string
	Store   connector.Store
	Secrets secret.Store
	// Cache is the shared token cache kept by Store's backend.
	Cache tokencache.Cache
	// SM is the in-process Secret Manager server when this test owns one
	// (nil for Embedded, or when SECRETMANAGER_EMULATOR_HOST is used).
	SM *smserver.Server
}

// Main runs a package's tests with the Firestore emulator available:
// FIRESTORE_EMULATOR_HOST when set, else one it starts and stops. Call it
// from TestMain: func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }.
func Main(m *testing.M) int {
	if os.Getenv(FirestoreEnv) != "" {
		return m.Run()
	}
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		// NeedFirestore reports it per test (fatal under CI).
		return m.Run()
	}
	stop, err := startFirestore(gcloud)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start Firestore emulator: %v\n", err)
		return 1
	}
	defer stop()
	return m.Run()
}

// NeedFirestore skips the test when no emulator is available, except under
// CI=true, where a missing server must fail rather than pass silently.
func NeedFirestore(t testing.TB) {
	t.Helper()
	if os.Getenv(FirestoreEnv) != "" {
		return
	}
	const msg = "no Firestore emulator: FIRESTORE_EMULATOR_HOST is unset and gcloud is not on PATH " +
		"(install the Google Cloud SDK's cloud-firestore-emulator component and Java)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
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
	NeedFirestore(t)
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
	var srv *smserver.Server
	addr := os.Getenv(SecretManagerEnv)
	if addr == "" {
		srv = smserver.New()
		var err error
		if addr, err = srv.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)
	}
	s, err := secretmanager.New(context.Background(), Project, SecretManagerClientOptions(addr)...)
	if err != nil {
		t.Fatal(err)
	}
	s.Prefix = Prefix()
	t.Cleanup(func() { s.Close() })
	return s, srv
}

// SecretManagerClientOptions connect the real client to a server on
// loopback without TLS or credentials.
func SecretManagerClientOptions(addr string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// startFirestore runs the emulator on a free loopback port in its own
// process group (gcloud starts a JVM child; killing the group stops both),
// waits until it answers and sets FIRESTORE_EMULATOR_HOST.
func startFirestore(gcloud string) (stop func(), err error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	hostPort := fmt.Sprintf("127.0.0.1:%d", port)
	logFile, err := os.CreateTemp("", "firestore-emulator-*.log")
	if err != nil {
		return nil, fmt.Errorf("emulator log: %w", err)
	}
	cmd := exec.Command(gcloud, "emulators", "firestore", "start", "--host-port="+hostPort)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		_ = os.Remove(logFile.Name())
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	kill := func() {
		// TERM the whole group so the JVM exits cleanly; KILL if it does not.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = logFile.Close()
		_ = os.Remove(logFile.Name())
	}
	if err := waitHTTP(hostPort, exited); err != nil {
		out, _ := os.ReadFile(logFile.Name())
		kill()
		return nil, fmt.Errorf("emulator on %s: %w\nemulator output:\n%s", hostPort, err, out)
	}
	// An interrupted test run must not leave a JVM behind.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			kill()
			fmt.Fprintf(os.Stderr, "testenv: stopped Firestore emulator on %v\n", sig)
			os.Exit(1)
		case <-done:
		}
	}()
	if err := os.Setenv(FirestoreEnv, hostPort); err != nil {
		kill()
		return nil, err
	}
	return func() {
		signal.Stop(sigs)
		close(done)
		kill()
		_ = os.Unsetenv(FirestoreEnv)
	}, nil
}

// FreePort asks the kernel for an unused loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	return port, nil
}

// waitHTTP polls the emulator until it answers 200, exits, or times out.
func waitHTTP(hostPort string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(emulatorStartTimeout)
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + hostPort + "/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("emulator exited before it was ready")
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready after %s", emulatorStartTimeout)
}
