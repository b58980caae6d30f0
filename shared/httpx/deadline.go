package httpx

import (
	"context"
	"net/http"
	"time"

	"connectors.dev/connectors/shared/config"
)

// StatusClientClosedRequest (nginx's 499) and CodeCancelled are what Map
// makes of a request its caller gave up on. Nobody reads that response; the
// status keeps it out of the 5xx a handler logs as a failure.
const (
	StatusClientClosedRequest = 499
	CodeCancelled             = "cancelled"
)

// WithDeadline bounds the context of every request h serves by d (d <= 0:
// config.DefaultRequestTimeout). The backend clients honour it: their own
// retries against an unreachable Firestore or Secret Manager would otherwise
// go on until the platform kills the request with an empty 504 or 500. A
// backend call cut off by the deadline fails with context.DeadlineExceeded
// (or gRPC's DeadlineExceeded), which Map turns into 503 unavailable.
//
// Only the context is bounded: a handler must stop when it is done. A
// handler that streams a long body (a files read) takes the body's own
// bound from StreamContext instead, once the part the deadline is for
// (reaching the backend) is over.
func WithDeadline(h http.Handler, d time.Duration) http.HandlerFunc {
	if d <= 0 {
		d = config.DefaultRequestTimeout
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := Bound(r.Context(), d)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	}
}

// Bound is WithDeadline's bound on one context: ctx bounded by d, from
// which StreamContext escapes back to ctx. The mcp function puts the
// request deadline back with it on each tool's backend calls, under a
// context the MCP SDK keeps for as long as an API may take.
func Bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithValue(ctx, unboundedKey{}, ctx), d)
}

type unboundedKey struct{}

// StreamContext returns a context for streaming a response body that may
// outlast the request deadline: the request's context as it was before
// WithDeadline bounded it (so it still ends when the caller goes away),
// bounded by d instead. Outside WithDeadline it is ctx bounded by d.
func StreamContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if u, ok := ctx.Value(unboundedKey{}).(context.Context); ok {
		ctx = u
	}
	return context.WithTimeout(ctx, d)
}
