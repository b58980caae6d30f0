package files

import (
	"context"
	"net/http"

	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/metrics"
)

// count counts one call of op answered with err's status (200 for none) in
// the metrics of the minting service the server uses, if any. op comes
// from the caller: a name that is not an operation is counted as
// "unknown", so the series stay few.
func (s *Server) count(ctx context.Context, op string, err error) {
	if s.Mint == nil || s.Mint.Metrics == nil {
		return
	}
	switch op {
	case OpList, OpRead, OpWrite, OpDelete, OpSign, OpCreateBucket, OpGrantAccess:
	default:
		op = metrics.Unknown
	}
	status := http.StatusOK
	if err != nil {
		status = httpx.Map(err).Status
	}
	s.Mint.Metrics.FilesCall(ctx, op, status)
}
