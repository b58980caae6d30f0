package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/objects"
)

// backendCall stands for a backend client: it gives up when ctx does.
func backendCall(ctx context.Context) error {
	<-ctx.Done()
	return fmt.Errorf("firestore: get %q: %w", "X", ctx.Err())
}

func TestWithDeadline(t *testing.T) {
	var deadline atomic.Int64
	h := WithDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, ok := r.Context().Deadline(); ok {
			deadline.Store(int64(time.Until(d)))
		}
		WriteError(w, Map(backendCall(r.Context())))
	}), 200*time.Millisecond)
	start := time.Now()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/x", nil))
	took := time.Since(start)
	if left := time.Duration(deadline.Load()); left <= 0 || left > 200*time.Millisecond {
		t.Fatalf("handler saw %v left, want a deadline within 200ms", left)
	}
	if took < 200*time.Millisecond || took > 2*time.Second {
		t.Fatalf("took %v, want about 200ms", took)
	}
	var body struct{ Error struct{ Code string } }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusServiceUnavailable || body.Error.Code != CodeUnavailable {
		t.Fatalf("got %d %s, want 503 unavailable", w.Code, w.Body)
	}

	// No duration: the default.
	WithDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := r.Context().Deadline()
		if left := time.Until(d); !ok || left > config.DefaultRequestTimeout || left < config.DefaultRequestTimeout-time.Second {
			t.Errorf("default deadline: %v left (set %v)", left, ok)
		}
	}), 0).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))

	// A shorter deadline of the caller's own stays.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	WithDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, _ := r.Context().Deadline(); time.Until(d) > 50*time.Millisecond {
			t.Errorf("the caller's shorter deadline was extended to %v", time.Until(d))
		}
	}), time.Minute).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(ctx))
}

// TestStreamContext: a stream context outlives the request deadline, is
// bounded by its own, and still ends when the caller's context does.
func TestStreamContext(t *testing.T) {
	caller, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	var stream context.Context
	var cancelStream context.CancelFunc
	WithDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stream, cancelStream = StreamContext(r.Context(), time.Hour)
		d, _ := stream.Deadline()
		if left := time.Until(d); left < 59*time.Minute {
			t.Errorf("stream deadline %v away, want the stream's own hour", left)
		}
		<-r.Context().Done() // the request deadline passes
		if stream.Err() != nil {
			t.Errorf("the request deadline ended the stream: %v", stream.Err())
		}
	}), 20*time.Millisecond).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(caller))
	defer cancelStream()
	if stream.Err() != nil {
		t.Fatalf("the stream ended with its request: %v", stream.Err())
	}
	hangUp()
	if !errors.Is(stream.Err(), context.Canceled) {
		t.Fatalf("the caller hung up, the stream goes on: %v", stream.Err())
	}

	// Its own bound, and outside WithDeadline, ctx bounded by it.
	short, cancel := StreamContext(context.Background(), 10*time.Millisecond)
	defer cancel()
	<-short.Done()
	if !errors.Is(short.Err(), context.DeadlineExceeded) {
		t.Fatalf("stream bound: %v", short.Err())
	}
}

func TestMapDeadlinesAndCancellation(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("x: %w", context.DeadlineExceeded), 503, CodeUnavailable},
		{fmt.Errorf("x: %w", status.Error(codes.DeadlineExceeded, "context deadline exceeded")), 503, CodeUnavailable},
		{fmt.Errorf("x: %w", context.Canceled), StatusClientClosedRequest, CodeCancelled},
		{fmt.Errorf("x: %w", status.Error(codes.Canceled, "context canceled")), StatusClientClosedRequest, CodeCancelled},
		// A storage call cut off by the caller, however its client classed it.
		{&objects.Error{Op: "read", URI: "gs://b/k", Kind: objects.ErrUnavailable, Err: &url.Error{Op: "Get", URL: "u", Err: context.Canceled}}, StatusClientClosedRequest, CodeCancelled},
		{&objects.Error{Op: "read", URI: "gs://b/k", Err: context.Canceled}, StatusClientClosedRequest, CodeCancelled},
	}
	for _, tt := range tests {
		if e := Map(tt.err); e.Status != tt.status || e.Code != tt.code {
			t.Errorf("Map(%v) = %d %s, want %d %s", tt.err, e.Status, e.Code, tt.status, tt.code)
		}
	}
}

// TestClientCancelIsNotAFailure: a caller that hangs up mid-request ends
// below 500, so handlers (which log 5xx as failures) stay quiet.
func TestClientCancelIsNotAFailure(t *testing.T) {
	statuses := make(chan int, 1)
	srv := httptest.NewServer(WithDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := Map(backendCall(r.Context()))
		statuses <- e.Status
		WriteError(w, e)
	}), 10*time.Second))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	time.AfterFunc(100*time.Millisecond, cancel)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the request was not cancelled")
	} else if !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	select {
	case s := <-statuses:
		if s >= 500 {
			t.Fatalf("a client cancellation mapped to %d", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not see the cancellation")
	}
}

// A BoundedFunc is handed the bounded context as its argument and the
// request as it came (not a copy); Started is the clock reading the
// deadline counts from. Served on its own, it gets the request's context.
func TestWithDeadlineBoundedFunc(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/token", nil)
	var (
		got      *http.Request
		deadline time.Time
		bounded  bool
		started  time.Time
		ended    error
		ctxSeen  context.Context
	)
	before := time.Now()
	WithDeadline(BoundedFunc(func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		got, ctxSeen = r, ctx
		deadline, bounded = ctx.Deadline()
		started = Started(ctx)
		<-ctx.Done() // a backend call waiting out the deadline
		ended = ctx.Err()
	}), 50*time.Millisecond).ServeHTTP(httptest.NewRecorder(), r)
	after := time.Now()
	if got != r {
		t.Error("the handler got a copy of the request")
	}
	if !bounded || !deadline.Equal(started.Add(50*time.Millisecond)) {
		t.Errorf("deadline %v (set %v), want Started + 50ms = %v", deadline, bounded, started.Add(50*time.Millisecond))
	}
	if started.Before(before) || started.After(after) {
		t.Errorf("Started %v, not within the request (%v to %v)", started, before, after)
	}
	if !errors.Is(ended, context.DeadlineExceeded) {
		t.Errorf("context ended with %v, want the deadline", ended)
	}
	if ctxSeen.Value(unboundedKey{}) != r.Context() {
		t.Error("StreamContext cannot find the request's own context")
	}

	BoundedFunc(func(ctx context.Context, w http.ResponseWriter, _ *http.Request) {
		if ctx != r.Context() {
			t.Error("served on its own, a BoundedFunc did not get the request's context")
		}
		if s := Started(ctx); s.Before(after) {
			t.Errorf("Started of a context WithDeadline did not make is %v, not now", s)
		}
	}).ServeHTTP(httptest.NewRecorder(), r)
}
