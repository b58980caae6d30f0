// Command baseproxy is the bench's reference for the proxy rows: a bare
// net/http/httputil.ReverseProxy to -target that adds one constant
// Authorization header, served with the same http.Server settings as
// functions/devserver. What the proxy function does beyond it (caller and
// agent checks, the connector's metadata, the token cache, the header and
// path rules, the audit line) is what the bench's ratio prices.
package main

import (
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	target := flag.String("target", "", "the API's base URL")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		log.Fatalf("baseproxy: -target %q is not a URL", *target)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Header.Set("Authorization", "Bearer baseline-constant-token-0000000000000000")
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("{}")) }) // for the bench's start-up poll
	mux.Handle("/", rp)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
