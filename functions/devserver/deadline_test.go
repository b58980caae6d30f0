package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestRequestDeadline: every function runs under CONNECTORS_REQUEST_TIMEOUT,
// as in a deployment.
func TestRequestDeadline(t *testing.T) {
	t.Setenv("CONNECTORS_REQUEST_TIMEOUT", "3s")
	a, err := newApp(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	left := make(chan time.Duration, 1)
	a.handlers["probe"] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := r.Context().Deadline()
		if !ok {
			left <- 0
			return
		}
		left <- time.Until(d)
	})
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/probe")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := <-left; d <= 2*time.Second || d > 3*time.Second {
		t.Fatalf("the handler had %v left, want a 3s deadline", d)
	}

	t.Setenv("CONNECTORS_REQUEST_TIMEOUT", "soon")
	if _, err := newApp(t.TempDir(), slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a malformed CONNECTORS_REQUEST_TIMEOUT was accepted")
	}
}
