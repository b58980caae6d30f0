// Command baseline is the bench's reference server: a bare
// functions-framework-style handler (an http.HandlerFunc at /token) that
// answers every request with a constant JSON body, served with the same
// http.Server settings as functions/devserver. scripts/bench builds it and
// compares the devserver with it.
package main

import (
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"time"
)

// body is about the size of a token response.
const body = `{"access_token":"baseline-constant-token-0000000000000000","token_type":"bearer","expires_in":3600,"expires_at":"2030-01-01T00:00:00Z"}` + "\n"

func token(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", token)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
