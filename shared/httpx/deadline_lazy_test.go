package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The deadline's timer is made lazily; the context still behaves as
// context.WithDeadline's: Err after the deadline without a Done first, a
// child context's Done, Cause, and the caller going away.
func TestDeadlineContextWithoutDone(t *testing.T) {
	serve := func(ctx context.Context, d time.Duration, h func(ctx context.Context)) {
		t.Helper()
		r := httptest.NewRequest(http.MethodPost, "/", nil).WithContext(ctx)
		WithDeadline(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { h(r.Context()) }), d).ServeHTTP(httptest.NewRecorder(), r)
	}
	serve(context.Background(), 20*time.Millisecond, func(ctx context.Context) {
		if err := ctx.Err(); err != nil {
			t.Errorf("fresh: %v", err)
		}
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > 20*time.Millisecond {
			t.Errorf("deadline %v, %v", d, ok)
		}
		time.Sleep(30 * time.Millisecond)
		if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("after the deadline, never waited on: Err = %v", err)
		}
		if err := context.Cause(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Cause = %v", err)
		}
	})
	serve(context.Background(), 20*time.Millisecond, func(ctx context.Context) {
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		select {
		case <-child.Done():
			if !errors.Is(child.Err(), context.DeadlineExceeded) {
				t.Errorf("child: %v", child.Err())
			}
		case <-time.After(5 * time.Second):
			t.Error("a child of the request context outlived the deadline")
		}
	})
	parent, cancel := context.WithCancel(context.Background())
	serve(parent, time.Minute, func(ctx context.Context) {
		cancel()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("caller gone: %v", ctx.Err())
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Error("Done not closed when the caller went away")
		}
	})
	serve(context.Background(), time.Minute, func(ctx context.Context) {
		u, ok := ctx.Value(unboundedKey{}).(context.Context)
		if !ok || u.Err() != nil {
			t.Errorf("unbounded context %v", u)
		}
	})
}
