package firestore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/storetest"
	"connectors.dev/connectors/shared/testenv/emulator"
)

// The emulator accepts any project ID.
const testProject = "connectors-storetest"

func TestMain(m *testing.M) { os.Exit(emulator.Main(m)) }

// newTestStore returns a store on the emulator whose collections no other
// test uses.
func newTestStore(t *testing.T) *Store {
	t.Helper()
	emulator.NeedFirestore(t)
	// Not t.Context(): the client must outlive the test body until Close.
	s, err := New(context.Background(), testProject)
	if err != nil {
		t.Fatal(err)
	}
	s.CollectionPrefix = "t-" + strings.ToLower(rand.Text()[:12]) + "-"
	return s
}

func TestConformance(t *testing.T) {
	emulator.NeedFirestore(t)
	storetest.Run(t, func(t *testing.T) catalog.Store {
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
	if err := s.AddOrphan(ctx, "orphan-id", time.Now()); err != nil {
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
	if _, err := s.List(ctx, connector.ListOptions{PageToken: connector.EncodePageToken("a/b")}); !errors.Is(err, connector.ErrInvalidPageToken) {
		t.Errorf("List with token of invalid ID: err = %v, want ErrInvalidPageToken", err)
	}
}

// failingServer is a Firestore gRPC server whose every call fails: Commit
// with DeadlineExceeded (which the client does not retry for Commit, so the
// status reaches the store), BatchGetDocuments with Unavailable. It begins
// and rolls back transactions, so that a transaction's first read fails.
type failingServer struct {
	firestorepb.UnimplementedFirestoreServer
}

func (failingServer) BeginTransaction(context.Context, *firestorepb.BeginTransactionRequest) (*firestorepb.BeginTransactionResponse, error) {
	return &firestorepb.BeginTransactionResponse{Transaction: []byte("tx")}, nil
}

func (failingServer) Rollback(context.Context, *firestorepb.RollbackRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
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

	// Create runs in a transaction (with the catalog version's increment),
	// which reads nothing: its commit fails.
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

func TestAuthStatesConformance(t *testing.T) {
	emulator.NeedFirestore(t)
	storetest.RunAuthStates(t, func(t *testing.T) connector.AuthStates {
		s := newTestStore(t)
		t.Cleanup(func() { s.Close() })
		return s
	})
}
