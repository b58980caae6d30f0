package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "4242 (dev (server) x) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 75 0 0 20 0 9 0 12345 0 0\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 325*clockTick {
		t.Fatalf("got %v, %v; want %v", got, err, 325*clockTick)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Fatal("a short line parsed")
	}
}

func TestParseWrk(t *testing.T) {
	out := `Running 5s test @ http://127.0.0.1:1234/token
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.50ms  300.00us   5.00ms   80.00%
  171344 requests in 5.00s, 40.00MB read
  Non-2xx or 3xx responses: 44
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  34268.80
`
	s, err := parseWrk([]byte(out), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 171300 || s.Errors != 47 || s.Elapsed != 5*time.Second || s.CPU != 3*time.Second {
		t.Fatalf("%+v", s)
	}
	if s.PerRequest() != 3*time.Second/171300 {
		t.Fatalf("per request %v", s.PerRequest())
	}
	if _, err := parseWrk([]byte("unable to connect"), 0); err == nil {
		t.Fatal("no totals parsed")
	}
}

func TestWrkScript(t *testing.T) {
	got := wrkScript(loadTarget{Method: "POST", Body: []byte(`{"a":"b\\c"}` + "\n"), Headers: map[string]string{"Host": "127.0.0.1:1", "Content-Type": "application/json"}})
	want := `wrk.method = "POST"
wrk.body = "{\034a\034:\034b\092\092c\034}\010"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Host"] = "127.0.0.1:1"
`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(wrkScript(loadTarget{}), `wrk.method = "GET"`) {
		t.Fatal("default method")
	}
}
