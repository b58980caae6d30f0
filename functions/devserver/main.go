// Command devserver is the local run: every function on one port
// (127.0.0.1:$PORT, default 8080), each at /<function-name>, with embedded
// backends under $CONNECTORS_DATA_DIR (default ./.connectors) so that no
// cloud account is needed and data survives a restart. Loopback callers
// without credentials are the principal local-dev.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"connectors.dev/connectors/functions/connect"
	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/functions/console"
	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/functions/maintenance"
	"connectors.dev/connectors/functions/mcp"
	"connectors.dev/connectors/functions/probe"
	proxyfn "connectors.dev/connectors/functions/proxy"
	"connectors.dev/connectors/functions/token"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/connector/boltstore"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/metrics"
	"connectors.dev/connectors/shared/metrics/prom"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/proxy"
	"connectors.dev/connectors/shared/secret/localfile"
)

func main() {
	addr := flag.String("addr", "", "listen address (default 127.0.0.1:$PORT, PORT defaulting to 8080)")
	dataDir := flag.String("data", "", "data directory (default $CONNECTORS_DATA_DIR or ./.connectors)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file until shutdown; scripts/bench -cpuprofile sets it")
	flag.Parse()
	if *addr == "" {
		port := os.Getenv("PORT")
		if port == "" {
			port = "8080"
		}
		*addr = net.JoinHostPort("127.0.0.1", port)
	}
	if *dataDir == "" {
		*dataDir = os.Getenv("CONNECTORS_DATA_DIR")
	}
	if *dataDir == "" {
		*dataDir = ".connectors"
	}
	// Lines are batched (at most logging.FlushDelay old); errors are
	// written at once, and whatever is held when run returns.
	out := logging.NewBuffered(os.Stdout)
	log := logging.New(out)
	if err := runProfiled(*addr, *dataDir, *cpuProfile, log); err != nil {
		log.Error("devserver: " + err.Error()) // written at once
		os.Exit(1)
	}
	_ = out.Flush()
}

// runProfiled is run, under a CPU profile when cpuProfile names a file.
func runProfiled(addr, dataDir, cpuProfile string, log *slog.Logger) error {
	if cpuProfile != "" {
		stop, err := startCPUProfile(cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	return run(addr, dataDir, log)
}

// startCPUProfile profiles the whole process into path until stop: the
// hot path is profiled under the bench's load this way, never through a
// debug route on the product's listener.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

func run(addr, dataDir string, log *slog.Logger) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(config.DefaultGCPercent) // as deployed
	}
	app, err := newApp(dataDir, log)
	if err != nil {
		return err
	}
	defer app.Close()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("devserver listening", "addr", "http://"+lis.Addr().String(), "dataDir", dataDir, "functions", app.Names())
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// app is every function over the embedded backends.
type app struct {
	handlers map[string]http.Handler
	closers  []func() error
	// timeout bounds each request (CONNECTORS_REQUEST_TIMEOUT), as in a
	// deployment.
	timeout time.Duration
	proxy   *proxyfn.Server
	// metrics serves /metrics (CONNECTORS_METRICS=prometheus, the local
	// run's default); nil when off.
	metrics http.Handler
}

func newApp(dataDir string, log *slog.Logger) (*app, error) {
	timeout, err := config.RequestTimeoutFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	store, err := boltstore.Open(filepath.Join(dataDir, "connectors.db"))
	if err != nil {
		return nil, err
	}
	secrets, err := localfile.Open(dataDir)
	if err != nil {
		store.Close()
		return nil, err
	}
	authn, err := auth.New(auth.Config{Local: true}, nil)
	if err != nil {
		store.Close()
		secrets.Close()
		return nil, err
	}
	cat := &catalog.Catalog{
		Store:   store,
		Secrets: secrets,
		Options: connector.Options{AllowInsecureURLs: true},
		Log:     log,
	}
	a := &app{handlers: map[string]http.Handler{}, closers: []func() error{store.Close, secrets.Close}, timeout: timeout}
	localConfig := config.Config{
		AllowInsecureURLs:    true,
		AllowPrivateNetworks: true,
		TokenConnectTimeout:  config.DefaultTokenConnectTimeout,
		TokenTimeout:         config.DefaultTokenTimeout,
		DefaultTokenLifetime: config.DefaultDefaultTokenLifetime,
	}
	minter := mint.NewService(cat, store.TokenCache(), mint.KeyCreatedOnFirstUse, localConfig)
	if minter.Metrics, a.metrics, err = localMetrics(); err != nil {
		a.Close()
		return nil, err
	}
	admin := &connectors.Server{Catalog: cat, Auth: authn, Log: log, Discover: connectors.NewDiscoverer(localConfig)}
	tester := &probe.Server{Tester: minter, Auth: authn, Log: log}
	upkeep := &maintenance.Server{Catalog: cat, Tester: minter, Auth: authn, Log: log}
	// The connect flow, its redirect URI and console derived from the
	// loopback request (http://HOST/oauth-callback, http://HOST/console).
	connecting := &connect.Server{Catalog: cat, States: store, OAuth: connect.NewClient(localConfig), Auth: authn, Log: log}
	agents := &token.Server{Mint: minter, Auth: authn, Log: log}
	// Object storage: CONNECTORS_GCS_ENDPOINT and CONNECTORS_S3_ENDPOINT
	// point it at local emulators.
	fileOpts, err := files.OptionsFromEnv(os.Getenv)
	if err != nil {
		a.Close()
		return nil, err
	}
	storage := &files.Server{Mint: minter, Auth: authn, Log: log, Options: fileOpts}
	// API calls through connectors; loopback APIs are reachable, as token
	// endpoints are.
	proxyLimits, err := proxy.LimitsFromEnv(os.Getenv)
	if err != nil {
		a.Close()
		return nil, err
	}
	apis := proxy.NewService(minter, config.Config{
		AllowInsecureURLs:    true,
		AllowPrivateNetworks: true,
		TokenConnectTimeout:  config.DefaultTokenConnectTimeout,
	}, proxyLimits, log)
	a.proxy = &proxyfn.Server{Proxy: apis, Auth: authn, Log: log}
	// MCP: call_api and the file tools over the same services, in process.
	mcpOpts, err := mcp.OptionsFromEnv(os.Getenv)
	if err != nil {
		a.Close()
		return nil, err
	}
	mcpOpts.MaxCallDuration = proxyLimits.MaxDuration
	tools := &mcp.Server{Mint: minter, Auth: authn, Log: log, Proxy: apis, Files: storage, Options: mcpOpts}
	// The console page, calling the admin functions on its own origin.
	web, err := console.New(console.Config{})
	if err != nil {
		a.Close()
		return nil, err
	}
	for _, hs := range []map[string]http.Handler{admin.Handlers(), tester.Handlers(), upkeep.Handlers(), connecting.Handlers(), agents.Handlers(), storage.Handlers(), a.proxy.Handlers(), tools.Handlers(), web.Handlers()} {
		for name, h := range hs {
			a.handlers[name] = h
		}
	}
	return a, nil
}

// Names lists the served functions.
func (a *app) Names() []string {
	names := make([]string, 0, len(a.handlers))
	for n := range a.handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Handler routes /<function-name> to each function, as Cloud Functions
// gives each its own URL, under the request deadline a deployment has.
// Requests for a foreign Host or from a foreign Origin are refused first
// (loopbackOnly): local-dev holds every role.
func (a *app) Handler() http.Handler {
	mux := http.NewServeMux()
	// Each function's own path, looked up before the mux: a map lookup
	// instead of the mux's matching on every call. A path found here is
	// one the mux would route to the same handler, unchanged (it is
	// clean: exactly "/" and a function's name).
	exact := make(map[string]http.Handler, len(a.handlers))
	for name, h := range a.handlers {
		wrapped := httpx.WithDeadline(h, a.timeout)
		exact["/"+name] = wrapped
		mux.Handle("/"+name, wrapped)
	}
	if a.metrics != nil {
		mux.Handle("/metrics", a.metrics)
	}
	if h, ok := a.handlers[console.FnConsole]; ok {
		mux.Handle("/"+console.FnConsole+"/", httpx.WithDeadline(h, a.timeout)) // its config.json
	}
	// The proxy takes every path below /proxy/ as the caller wrote it:
	// the mux would clean "..", redirecting where it must refuse.
	var proxied http.Handler
	if a.proxy != nil {
		proxied = http.StripPrefix("/"+proxyfn.FnProxy, httpx.WithDeadline(a.proxy.Handlers()[proxyfn.FnProxy], a.timeout))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			httpx.WriteError(w, httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound, "no function at %s; functions: %v", r.URL.Path, a.Names()))
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"functions": a.Names()})
	})
	return loopbackOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if proxied != nil && (r.URL.Path == "/"+proxyfn.FnProxy || strings.HasPrefix(r.URL.Path, "/"+proxyfn.FnProxy+"/")) {
			proxied.ServeHTTP(w, r)
			return
		}
		if h, ok := exact[r.URL.Path]; ok && r.Method != http.MethodConnect {
			h.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
}

// localMetrics makes the local run's instruments and their /metrics page
// (CONNECTORS_METRICS: prometheus by default, or off; Cloud Monitoring is
// for deployments).
func localMetrics() (*metrics.Metrics, http.Handler, error) {
	set, err := metrics.SettingsFromEnv(os.Getenv, metrics.Prometheus)
	if err != nil {
		return nil, nil, err
	}
	switch set.Mode {
	case metrics.Off:
		return nil, nil, nil
	case metrics.GCM:
		return nil, nil, fmt.Errorf("metrics: CONNECTORS_METRICS: the local run serves prometheus or off, not gcm")
	}
	p, err := prom.New()
	if err != nil {
		return nil, nil, err
	}
	return p.Metrics, p.Handler, nil
}

// Close releases the embedded databases.
func (a *app) Close() {
	for _, c := range a.closers {
		_ = c()
	}
}
