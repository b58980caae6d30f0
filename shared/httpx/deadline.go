package httpx

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
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
//
// A BoundedFunc is handed the bounded context as its argument; any other
// handler finds it in r.Context() (a copy of r carries it).
func WithDeadline(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		d = config.DefaultRequestTimeout
	}
	if b, ok := h.(BoundedFunc); ok {
		return BoundedFunc(func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
			dc := newDeadlineCtx(ctx, d)
			defer dc.stop()
			b(dc, w, r)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dc := newDeadlineCtx(r.Context(), d)
		defer dc.stop()
		h.ServeHTTP(w, r.WithContext(dc))
	})
}

// newDeadlineCtx bounds parent by d from now.
func newDeadlineCtx(parent context.Context, d time.Duration) *deadlineCtx {
	now := time.Now()
	return &deadlineCtx{parent: parent, began: now, deadline: now.Add(d)}
}

// BoundedFunc is a handler that takes its request's context as an
// argument rather than from r.Context(). WithDeadline then passes the
// bounded context as is, where any other handler gets a copy of the
// request to carry it: that copy (r.WithContext) was two thirds of the
// bytes a token cache hit allocated, and the collector's work follows the
// bytes (docs/performance.md). Served on its own, it gets r.Context().
type BoundedFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request)

// ServeHTTP calls f with r's own context.
func (f BoundedFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) { f(r.Context(), w, r) }

// Started is when WithDeadline began serving the request whose bounded
// context ctx is (the clock reading its deadline counts from), so a hot
// handler need not read the clock again; for any other context, now.
// Reading the clock costs a cache-hit mint more than most of its steps on
// a virtual machine (docs/performance.md).
func Started(ctx context.Context) time.Time {
	if dc, ok := ctx.(*deadlineCtx); ok {
		return dc.began
	}
	return time.Now()
}

// Bound is WithDeadline's bound on one context: ctx bounded by d, from
// which StreamContext escapes back to ctx. The mcp function puts the
// request deadline back with it on each tool's backend calls, under a
// context the MCP SDK keeps for as long as an API may take.
func Bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithValue(ctx, unboundedKey{}, ctx), d)
}

// deadlineCtx is context.WithDeadline(parent, deadline) whose timer is made
// only when something waits for it: Done (every blocking call does), or Err
// and Value once the deadline has passed. A request answered from memory
// (a token cache hit) never waits, and the timer, with its allocations and
// the parent's child registration, was about a twentieth of such a
// request's CPU. Made, it is an ordinary timerCtx, which Err, Value and
// Done then answer for (so the context package recognises it as its own).
type deadlineCtx struct {
	parent   context.Context
	began    time.Time // when the request began: Started
	deadline time.Time
	once     sync.Once
	started  atomic.Bool
	inner    context.Context
	cancel   context.CancelFunc
}

func (c *deadlineCtx) start() context.Context {
	c.once.Do(func() {
		c.inner, c.cancel = context.WithDeadline(unboundedValue{c.parent}, c.deadline)
		c.started.Store(true)
	})
	return c.inner
}

// due reports whether the context must behave as ended without its timer:
// the parent ended or the deadline passed.
func (c *deadlineCtx) due() bool {
	return c.parent.Err() != nil || !time.Now().Before(c.deadline)
}

func (c *deadlineCtx) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *deadlineCtx) Done() <-chan struct{} { return c.start().Done() }

func (c *deadlineCtx) Err() error {
	if c.started.Load() || c.due() {
		return c.start().Err()
	}
	return nil
}

func (c *deadlineCtx) Value(key any) any {
	if c.started.Load() || c.due() {
		return c.start().Value(key)
	}
	if key == (unboundedKey{}) {
		return c.parent
	}
	return c.parent.Value(key)
}

// unboundedValue is the request's context before the deadline, answering
// StreamContext's question (a context.WithValue of it, without the
// allocation on every request).
type unboundedValue struct{ context.Context }

func (u unboundedValue) Value(key any) any {
	if key == (unboundedKey{}) {
		return u.Context
	}
	return u.Context.Value(key)
}

// stop releases the timer, if one was made.
func (c *deadlineCtx) stop() {
	if c.started.Load() {
		c.cancel()
	}
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
