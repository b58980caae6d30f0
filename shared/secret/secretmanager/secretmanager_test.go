package secretmanager_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	sm "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/secret/secretmanager"
	"connectors.dev/connectors/shared/secret/secrettest"
	"connectors.dev/connectors/shared/secret/smserver"
	"connectors.dev/connectors/shared/testenv"
)

// serverAddr is the external emulator if configured, else a fresh local one.
func serverAddr(t *testing.T) string {
	t.Helper()
	addr, _ := testenv.SecretManagerServer(t)
	return addr
}

// startLocal runs an in-process server: for the tests that need its fault
// switches, even when an external emulator is configured.
func startLocal(t *testing.T) (*smserver.Server, string) {
	t.Helper()
	addr, srv := testenv.StartSecretManager(t)
	return srv, addr
}

// newStore connects a store with a random prefix, so stores sharing one
// server never see each other's secrets, and removes its secrets afterwards.
func newStore(t *testing.T, addr string) *secretmanager.Store {
	t.Helper()
	s := testenv.SecretManagerStoreAt(t, addr, testenv.Prefix())
	t.Cleanup(func() {
		// t.Context is already cancelled during cleanup.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if ids, err := s.IDs(ctx); err == nil {
			for _, id := range ids {
				_ = s.Delete(ctx, id)
			}
		}
	})
	return s
}

// rawClient reads what the server holds, bypassing the Store.
func rawClient(t *testing.T, addr string) *sm.Client {
	t.Helper()
	c, err := sm.NewClient(t.Context(), smserver.ClientOptions(addr)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func secretName(s *secretmanager.Store, id string) string {
	return "projects/" + testenv.Project + "/secrets/" + s.Prefix + id
}

var sample = secret.Bundle{
	ClientSecret: "client-secret-SENTINEL-1",
	RefreshToken: "refresh-token-SENTINEL-2",
	Password:     "password-SENTINEL-3",
}

// noSecretIn fails if err's text carries any part of sample.
func noSecretIn(t *testing.T, err error) {
	t.Helper()
	for _, v := range []string{sample.ClientSecret, sample.RefreshToken, sample.Password, "SENTINEL"} {
		if strings.Contains(err.Error(), v) {
			t.Fatalf("error leaks secret data: %v", err)
		}
	}
}

func TestConformance(t *testing.T) {
	addr := serverAddr(t)
	secrettest.Run(t, func(t *testing.T) secret.Store { return newStore(t, addr) })
}

func TestCreatedSecretHasLabelsAndReplication(t *testing.T) {
	addr := serverAddr(t)
	s := newStore(t, addr)
	if _, err := s.Put(t.Context(), "a", map[string]string{"team": "payments", "env": "test"}, sample); err != nil {
		t.Fatal(err)
	}
	got, err := rawClient(t, addr).GetSecret(t.Context(), &secretmanagerpb.GetSecretRequest{Name: secretName(s, "a")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"team": "payments", "env": "test", "managed-by": "connectors"}
	if len(got.Labels) != len(want) {
		t.Errorf("labels = %v, want %v", got.Labels, want)
	}
	for k, v := range want {
		if got.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, got.Labels[k], v)
		}
	}
	if got.GetReplication().GetAutomatic() == nil {
		t.Errorf("replication = %v, want automatic", got.GetReplication())
	}
}

func TestPutSendsChecksumAndReturnsNumber(t *testing.T) {
	addr := serverAddr(t)
	s := newStore(t, addr)
	v1, err := s.Put(t.Context(), "a", nil, sample)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := s.Put(t.Context(), "a", nil, sample)
	if err != nil {
		t.Fatal(err)
	}
	if v1 != "1" || v2 != "2" {
		t.Errorf("versions = %q, %q; want 1, 2", v1, v2)
	}
	got, err := rawClient(t, addr).GetSecretVersion(t.Context(), &secretmanagerpb.GetSecretVersionRequest{Name: secretName(s, "a") + "/versions/" + v2})
	if err != nil {
		t.Fatal(err)
	}
	if !got.ClientSpecifiedPayloadChecksum {
		t.Error("Put did not send data_crc32c")
	}
}

func TestExistingSecretPutIsOneRPC(t *testing.T) {
	srv, addr := startLocal(t)
	s := newStore(t, addr)
	if _, err := s.Put(t.Context(), "a", nil, sample); err != nil {
		t.Fatal(err)
	}
	adds, creates := srv.Calls("AddSecretVersion"), srv.Calls("CreateSecret")
	if adds != 2 || creates != 1 {
		t.Errorf("first Put: %d adds, %d creates; want 2, 1", adds, creates)
	}
	if _, err := s.Put(t.Context(), "a", nil, sample); err != nil {
		t.Fatal(err)
	}
	if d := srv.Calls("AddSecretVersion") - adds + srv.Calls("CreateSecret") - creates; d != 1 {
		t.Errorf("second Put made %d RPCs, want 1", d)
	}
}

func TestCorruptPayloadIsErrCorrupt(t *testing.T) {
	srv, addr := startLocal(t)
	s := newStore(t, addr)
	v, err := s.Put(t.Context(), "a", nil, sample)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		fault smserver.AccessFault
	}{
		{"WrongCRC", smserver.AccessBadCRC},
		{"MissingCRC", smserver.AccessNoCRC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.SetAccessFault(tc.fault)
			defer srv.SetAccessFault(smserver.AccessOK)
			for _, version := range []string{v, ""} {
				b, err := s.Get(t.Context(), "a", version)
				if !errors.Is(err, secret.ErrCorrupt) {
					t.Fatalf("Get(%q): got %v, want ErrCorrupt", version, err)
				}
				if b != (secret.Bundle{}) {
					t.Error("Get returned data along with ErrCorrupt")
				}
				noSecretIn(t, err)
			}
		})
	}
	if got, err := s.Get(t.Context(), "a", v); err != nil || got != sample {
		t.Fatalf("Get after faults cleared: %v", err)
	}
}

func TestUnavailableKeepsStatusAndHidesData(t *testing.T) {
	srv, addr := startLocal(t)
	s := newStore(t, addr)
	v, err := s.Put(t.Context(), "a", nil, sample)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetUnavailable(true)
	defer srv.SetUnavailable(false)
	ctx := t.Context()

	calls := map[string]func() error{
		"Put": func() error { _, err := s.Put(ctx, "a", nil, sample); return err },
		"Put(new)": func() error {
			_, err := s.Put(ctx, "b", nil, sample)
			return err
		},
		"DestroyVersion": func() error { return s.DestroyVersion(ctx, "a", v) },
		"Prune":          func() error { return s.Prune(ctx, "a", v) },
		"Delete":         func() error { return s.Delete(ctx, "a") },
		"IDs":            func() error { _, err := s.IDs(ctx); return err },
	}
	for name, call := range calls {
		err := call()
		if err == nil {
			t.Fatalf("%s succeeded while the server is unavailable", name)
		}
		if got := status.Code(err); got != codes.Unavailable {
			t.Errorf("%s: status.Code = %v (%v), want Unavailable", name, got, err)
		}
		if st, ok := status.FromError(err); !ok || st.Code() != codes.Unavailable {
			t.Errorf("%s: status.FromError did not reach the gRPC status", name)
		}
		var apiErr *apierror.APIError
		if !errors.As(err, &apiErr) {
			t.Errorf("%s: errors.As cannot reach *apierror.APIError in %v", name, err)
		}
		if errors.Is(err, secret.ErrNotFound) {
			t.Errorf("%s: an outage must not look like ErrNotFound", name)
		}
		if !strings.HasPrefix(err.Error(), "secretmanager: ") {
			t.Errorf("%s: error lacks context: %v", name, err)
		}
		noSecretIn(t, err)
	}

	// The client retries AccessSecretVersion on UNAVAILABLE with backoff, so
	// Get ends when the caller's deadline does.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	before := srv.Calls("AccessSecretVersion")
	_, err = s.Get(short, "a", v)
	if err == nil || errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("Get while unavailable: %v", err)
	}
	if srv.Calls("AccessSecretVersion") == before {
		t.Error("Get did not reach the server")
	}
	noSecretIn(t, err)

	srv.SetUnavailable(false)
	if got, err := s.Get(ctx, "a", v); err != nil || got != sample {
		t.Fatalf("Get after recovery: %v", err)
	}
}

func TestDisabledVersionIsNotFoundWithStatus(t *testing.T) {
	addr := serverAddr(t)
	s := newStore(t, addr)
	v, err := s.Put(t.Context(), "a", nil, sample)
	if err != nil {
		t.Fatal(err)
	}
	c := rawClient(t, addr)
	if _, err := c.DisableSecretVersion(t.Context(), &secretmanagerpb.DisableSecretVersionRequest{Name: secretName(s, "a") + "/versions/" + v}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(t.Context(), "a", v)
	if !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("Get of disabled version: got %v, want ErrNotFound", err)
	}
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("status.Code = %v, want FailedPrecondition kept alongside ErrNotFound", status.Code(err))
	}
	// Prune still sees the disabled version and destroys it.
	v2, err := s.Put(t.Context(), "a", nil, sample)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(t.Context(), "a", v2); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecretVersion(t.Context(), &secretmanagerpb.GetSecretVersionRequest{Name: secretName(s, "a") + "/versions/" + v})
	if err != nil || got.State != secretmanagerpb.SecretVersion_DESTROYED {
		t.Errorf("disabled version after Prune: %v, %v; want DESTROYED", got.GetState(), err)
	}
}

func TestServerRejectionKeepsStatus(t *testing.T) {
	s := newStore(t, serverAddr(t))
	// Secret Manager refuses upper-case label keys.
	_, err := s.Put(t.Context(), "a", map[string]string{"Team": "x"}, sample)
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("got %v, want InvalidArgument", err)
	}
	noSecretIn(t, err)
}

func TestIDsAreIsolatedByPrefix(t *testing.T) {
	addr := serverAddr(t)
	a, b := newStore(t, addr), newStore(t, addr)
	// b's prefix contains a's, so the server's substring filter matches both;
	// the store must still keep them apart.
	b.Prefix = "x" + a.Prefix
	for _, id := range []string{"one", "two"} {
		if _, err := a.Put(t.Context(), id, nil, sample); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Put(t.Context(), "three", nil, sample); err != nil {
		t.Fatal(err)
	}
	got, err := a.IDs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("a.IDs = %q, want [one two]", got)
	}
	got, err = b.IDs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"three"}) {
		t.Errorf("b.IDs = %q, want [three]", got)
	}
}

func TestInvalidProjectAndPrefix(t *testing.T) {
	if _, err := secretmanager.New(t.Context(), "a/b", smserver.ClientOptions("127.0.0.1:1")...); err == nil {
		t.Error("New accepted project a/b")
	}
	s := newStore(t, serverAddr(t))
	s.Prefix = "bad prefix/"
	if _, err := s.Put(t.Context(), "a", nil, sample); err == nil {
		t.Error("Put accepted an invalid prefix")
	}
}
