// Package smserver is an in-memory Google Secret Manager (v1 gRPC API) for
// tests and CI. It speaks the real wire protocol, so the real client library
// (cloud.google.com/go/secretmanager/apiv1) talks to it unchanged, and it
// follows Secret Manager's documented semantics for the methods it
// implements: status codes, version numbering, the "latest" alias, version
// states, CRC32C checks and pagination.
//
// Deliberate simplifications, each chosen because nothing here needs more:
//   - only global secrets under projects/P (no locations/regional secrets);
//   - "latest" resolves to the highest ENABLED version for both
//     AccessSecretVersion and GetSecretVersion;
//   - filters are a conjunction of simple terms (see filter.go); OR, regular
//     expressions and time comparisons are rejected with INVALID_ARGUMENT
//     rather than silently ignored, so a caller never mistakes an unfiltered
//     list for a filtered one;
//   - IAM, rotation, topics, TTLs, CMEK and delayed destruction are not
//     implemented (the embedded Unimplemented server answers UNIMPLEMENTED).
//
// Other tests can inject faults: SetUnavailable makes every RPC fail with
// UNAVAILABLE, SetAccessFault corrupts AccessSecretVersion responses, and
// Calls counts RPCs per method (fault.go).
//
// The RPCs are in secrets.go and versions.go, the store they share in
// state.go, and list filters in filter.go.
package smserver

import (
	"fmt"
	"net"
	"sync"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Server is an in-memory Secret Manager. The zero value is not usable; call
// New.
type Server struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	grpc *grpc.Server

	mu          sync.Mutex
	secrets     map[string]*secretEntry // by full name projects/P/secrets/S
	unavailable bool
	accessFault AccessFault
	calls       map[string]int
	etagSeq     int64
}

// New returns a server with no secrets, ready to Serve or Start.
func New() *Server {
	s := &Server{
		secrets: make(map[string]*secretEntry),
		calls:   make(map[string]int),
	}
	s.grpc = grpc.NewServer(grpc.UnaryInterceptor(s.intercept))
	secretmanagerpb.RegisterSecretManagerServiceServer(s.grpc, s)
	return s
}

// Serve serves gRPC on lis until Stop; it returns nil after Stop.
func (s *Server) Serve(lis net.Listener) error {
	return s.grpc.Serve(lis)
}

// Start listens on addr (for example "127.0.0.1:0"), serves in the
// background and returns the address actually bound.
func (s *Server) Start(addr string) (string, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("smserver: listen: %w", err)
	}
	go func() { _ = s.Serve(lis) }() // only ever ends through Stop
	return lis.Addr().String(), nil
}

// Stop closes listeners and connections at once; pending RPCs fail.
func (s *Server) Stop() { s.grpc.Stop() }

// ClientOptions connect cloud.google.com/go/secretmanager's real client to
// a server at addr on loopback: plaintext gRPC, no credentials.
func ClientOptions(addr string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}
