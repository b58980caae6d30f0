package smserver

import (
	"context"
	"path"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// AccessFault selects how AccessSecretVersion misbehaves, so that clients'
// integrity checks can be tested against a server that lies.
type AccessFault int

const (
	// AccessOK answers truthfully.
	AccessOK AccessFault = iota
	// AccessBadCRC flips a bit of the returned data but keeps the checksum
	// of the stored data, as corruption in transit would.
	AccessBadCRC
	// AccessNoCRC omits data_crc32c from the returned payload.
	AccessNoCRC
)

// SetUnavailable makes every RPC fail with codes.Unavailable while on, as a
// network partition or an outage of the real service would.
func (s *Server) SetUnavailable(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unavailable = on
}

// SetAccessFault makes AccessSecretVersion misbehave as f says until reset
// with AccessOK.
func (s *Server) SetAccessFault(f AccessFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accessFault = f
}

// Calls reports how many RPCs of method (short name such as
// "AccessSecretVersion", or the full gRPC method) the server has received,
// including ones failed by SetUnavailable.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path.Base(method)]
}

// intercept counts calls and applies the unavailability switch in one place
// so that every method, present and future, honours both.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	s.mu.Lock()
	s.calls[path.Base(info.FullMethod)]++
	down := s.unavailable
	s.mu.Unlock()
	if down {
		return nil, status.Error(codes.Unavailable, "smserver: service unavailable (fault injected)")
	}
	return handler(ctx, req)
}
