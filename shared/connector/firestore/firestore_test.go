package firestore

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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/storetest"
)

const (
	emulatorEnv = "FIRESTORE_EMULATOR_HOST"
	// The emulator accepts any project ID.
	testProject = "connectors-storetest"
	// Starting the emulator (a JVM) can be slow on a loaded machine.
	emulatorStartTimeout = 60 * time.Second
)

// TestMain points the tests at the emulator named by FIRESTORE_EMULATOR_HOST,
// or starts one with gcloud and stops it afterwards. Without either, the
// tests that need it skip (or fail under CI, see needEmulator).
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Getenv(emulatorEnv) != "" {
		return m.Run()
	}
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return m.Run()
	}
	stop, err := startEmulator(gcloud)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: firestore tests: %v\n", err)
		return 1
	}
	defer stop()
	return m.Run()
}

// startEmulator runs the Firestore emulator on a free loopback port in its
// own process group (gcloud starts a JVM child, and killing the group stops
// both), waits until it answers HTTP and sets FIRESTORE_EMULATOR_HOST.
func startEmulator(gcloud string) (stop func(), err error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	hostPort := fmt.Sprintf("127.0.0.1:%d", port)
	logFile, err := os.CreateTemp("", "firestore-emulator-*.log")
	if err != nil {
		return nil, fmt.Errorf("emulator log: %w", err)
	}
	cmd := exec.Command(gcloud, "emulators", "firestore", "start", "--host-port="+hostPort)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
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
		// Negative PID: the whole process group. TERM first so the JVM
		// can exit cleanly, KILL if it does not.
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
		log, _ := os.ReadFile(logFile.Name())
		kill()
		return nil, fmt.Errorf("emulator on %s: %w\nemulator output:\n%s", hostPort, err, log)
	}

	// An interrupted test run must not leave a JVM behind.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			kill()
			fmt.Fprintf(os.Stderr, "firestore tests: stopped emulator on %v\n", sig)
			os.Exit(1)
		case <-done:
		}
	}()

	if err := os.Setenv(emulatorEnv, hostPort); err != nil {
		kill()
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "firestore tests: started emulator on %s (pid %d)\n", hostPort, cmd.Process.Pid)
	return func() {
		signal.Stop(sigs)
		close(done)
		kill()
	}, nil
}

// freePort asks the kernel for an unused port. Another process could take
// it before the emulator binds it, but on a test machine that is rare and
// shows up as a clear start failure.
func freePort() (int, error) {
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

// waitHTTP polls the emulator's HTTP endpoint until it answers 200, the
// process exits, or emulatorStartTimeout passes.
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

// needEmulator skips the test when no emulator is available, except under
// CI, where a missing emulator must not pass silently.
func needEmulator(t *testing.T) {
	t.Helper()
	if os.Getenv(emulatorEnv) != "" {
		return
	}
	const msg = "no Firestore emulator: gcloud is not on PATH and FIRESTORE_EMULATOR_HOST is not set " +
		"(install the Google Cloud SDK with its cloud-firestore-emulator component, and Java)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// newTestStore returns a store on the emulator whose collections no other
// test uses.
func newTestStore(t *testing.T) *Store {
	t.Helper()
	needEmulator(t)
	// Not t.Context(): the client must outlive the test body until Close.
	s, err := New(context.Background(), testProject)
	if err != nil {
		t.Fatal(err)
	}
	s.CollectionPrefix = "t-" + strings.ToLower(rand.Text()[:12]) + "-"
	return s
}

func TestConformance(t *testing.T) {
	needEmulator(t)
	storetest.Run(t, func(t *testing.T) connector.Store {
		return newTestStore(t)
	})
}

// TestConflictAcrossClients races updates through separate clients, as
// separate instances would: the per-process name locks cannot help there,
// so only the transaction's revision check keeps exactly one winner.
func TestConflictAcrossClients(t *testing.T) {
	const racers = 3
	stores := make([]*Store, racers)
	for i := range stores {
		stores[i] = newTestStore(t)
		stores[i].CollectionPrefix = stores[0].CollectionPrefix
		defer stores[i].Close()
	}
	base, err := stores[0].Create(t.Context(), &connector.Connector{Name: "c", Agents: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := base.Clone()
			c.SecretVersion = fmt.Sprint(i)
			_, errs[i] = s.Update(t.Context(), "c", base.Revision, c)
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, connector.ErrConflict):
			t.Errorf("racer %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d racers won, want 1: %v", wins, errs)
	}
}

func TestCollectionLayout(t *testing.T) {
	s := newTestStore(t)
	defer s.Close()
	ctx := t.Context()
	if _, err := s.Create(ctx, &connector.Connector{Name: "doc-id", Agents: []string{"a"}, SecretID: "sid"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddOrphan(ctx, "orphan-id"); err != nil {
		t.Fatal(err)
	}
	snap, err := s.client.Collection(s.CollectionPrefix + "connectors").Doc("doc-id").Get(ctx)
	if err != nil {
		t.Fatalf("connector document: %v", err)
	}
	if sid, err := snap.DataAt("secretId"); err != nil || sid != "sid" {
		t.Errorf("secretId field = %v, %v", sid, err)
	}
	if _, err := s.client.Collection(s.CollectionPrefix + "secret-orphans").Doc("orphan-id").Get(ctx); err != nil {
		t.Errorf("orphan document: %v", err)
	}
}

func TestInvalidNames(t *testing.T) {
	s := newTestStore(t)
	defer s.Close()
	ctx := t.Context()
	for _, name := range []string{"a/b", "..", "__x__"} {
		if _, err := s.Create(ctx, &connector.Connector{Name: name}); err == nil || errors.Is(err, connector.ErrExists) {
			t.Errorf("Create(%q): err = %v, want a validation error", name, err)
		}
		if _, err := s.Get(ctx, name); !errors.Is(err, connector.ErrNotFound) {
			t.Errorf("Get(%q): err = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := s.List(ctx, connector.ListOptions{PageToken: encodeToken("a/b")}); !errors.Is(err, connector.ErrInvalidPageToken) {
		t.Errorf("List with token of invalid ID: err = %v, want ErrInvalidPageToken", err)
	}
}

// failingServer is a Firestore gRPC server whose every call fails: Commit
// with DeadlineExceeded (which the client does not retry for Commit, so the
// status reaches the store), BatchGetDocuments with Unavailable.
type failingServer struct {
	firestorepb.UnimplementedFirestoreServer
}

func (failingServer) Commit(context.Context, *firestorepb.CommitRequest) (*firestorepb.CommitResponse, error) {
	return nil, status.Error(codes.DeadlineExceeded, "fake: commit timed out")
}

func (failingServer) BatchGetDocuments(*firestorepb.BatchGetDocumentsRequest, firestorepb.Firestore_BatchGetDocumentsServer) error {
	return status.Error(codes.Unavailable, "fake: backend unavailable")
}

// TestTransportErrorsKeepStatus needs no emulator: against a failing fake
// server it checks that transport errors are wrapped with context, not
// mapped to a sentinel, and keep their gRPC status.
func TestTransportErrorsKeepStatus(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	firestorepb.RegisterFirestoreServer(srv, failingServer{})
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()

	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	// WithGRPCConn comes after the emulator's own connection option, if
	// any, so it wins.
	s, err := New(t.Context(), testProject, option.WithGRPCConn(conn), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	checkWrapped := func(op string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s against a failing server succeeded", op)
		}
		if !strings.HasPrefix(err.Error(), "firestore: ") {
			t.Errorf("%s: error lacks context: %v", op, err)
		}
		for _, sentinel := range []error{connector.ErrNotFound, connector.ErrExists, connector.ErrConflict} {
			if errors.Is(err, sentinel) {
				t.Errorf("%s: transport error mapped to %v: %v", op, sentinel, err)
			}
		}
	}

	_, err = s.Create(t.Context(), &connector.Connector{Name: "x"})
	checkWrapped("Create", err)
	if st, ok := status.FromError(err); !ok || st.Code() != codes.DeadlineExceeded {
		t.Errorf("Create: status.FromError = %v, %v; want DeadlineExceeded from %v", st.Code(), ok, err)
	}
	var withStatus interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &withStatus) {
		t.Errorf("Create: errors.As finds no gRPC status in %v", err)
	}

	// Today the client gives up on a failed BatchGetDocuments stream at
	// once and the Unavailable status surfaces; were it to retry until the
	// deadline instead, the context's error would, which is fine too.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err = s.Get(ctx, "x")
	checkWrapped("Get", err)
	if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get: %v has code %v, want Unavailable or a deadline", err, c)
	}
}

func TestPageToken(t *testing.T) {
	for _, tok := range []string{"!!", "====", "Lw"} { // "Lw" decodes to "/"
		if _, err := decodeToken(tok); !errors.Is(err, connector.ErrInvalidPageToken) {
			t.Errorf("decodeToken(%q) = %v, want ErrInvalidPageToken", tok, err)
		}
	}
	if name, err := decodeToken(encodeToken("a.b c")); err != nil || name != "a.b c" {
		t.Errorf("token round trip = %q, %v", name, err)
	}
}
