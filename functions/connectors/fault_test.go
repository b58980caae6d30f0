package connectors_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/faulttest"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/logging/logtest"
)

// Fault tests: a backend goes away for real (its proxy cuts or stalls every
// connection) while admin writes run, and comes back. Timing: faulttest.

// adminFn names the function of each faulttest.Writer operation.
var adminFn = map[string]string{"create": connectors.FnCreate, "update": connectors.FnUpdate, "delete": connectors.FnDelete}

// adminLoad is one goroutine's share of the writes (faulttest.Writer:
// creates, secret and scope rewrites, deletes of its own connectors), with
// reads and lists of the seeded ones.
func adminLoad(rec *faulttest.Recorder, url string, g int, seeds []string, h *faulttest.History, stop <-chan struct{}) {
	post := func(fn string, body any) int {
		code, _ := rec.Post(url+"/"+fn, fn, body)
		return code
	}
	w := &faulttest.Writer{G: g, H: h,
		Post: func(op string, body any) int { return post(adminFn[op], body) },
		New:  func(name string) map[string]any { return clientCreds(name, "agent-1") },
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		switch i % 6 {
		case 0:
			w.Create(i)
		case 1, 2:
			w.Update(i, i%6 == 1)
		case 3:
			w.DeleteOldest()
		case 4:
			post(connectors.FnGet, map[string]any{"name": seeds[(g+i)%len(seeds)]})
		case 5:
			post(connectors.FnList, map[string]any{"agent": "agent-1"})
		}
	}
}

// TestFaultAdminWrites stops Firestore or Secret Manager (connections cut,
// or stalled) under a load of creates, updates, deletes, gets and lists,
// and brings it back: every request ends as a success or 503 unavailable,
// within the deadline (plus slack), never 500; afterwards the seeded
// connectors are untouched, every write answered 503 happened entirely or
// not at all, no connector's secrets are unreadable, no secret is left
// behind unaccounted for, and writes work again without a restart.
func TestFaultAdminWrites(t *testing.T) {
	for _, backend := range []string{"firestore", "secretmanager"} {
		for _, fault := range faulttest.Faults {
			t.Run(backend+"/"+fault.Name, func(t *testing.T) {
				t.Parallel()
				b := faulttest.NewBackends(t)
				proxy := b.Firestore
				if backend == "secretmanager" {
					proxy = b.SecretManager
				}
				logs := &logtest.Buffer{}
				log := logging.New(logs)
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("server log:\n%s", logs)
					}
				})
				authn, err := auth.New(auth.Config{Local: true}, nil)
				if err != nil {
					t.Fatal(err)
				}
				var skew atomic.Int64 // added to the catalog's clock
				cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Log: log,
					Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }}
				mux := http.NewServeMux()
				for name, h := range (&connectors.Server{Catalog: cat, Auth: authn, Log: log}).Handlers() {
					mux.Handle("/"+name, httpx.WithDeadline(h, faulttest.Deadline))
				}
				srv := httptest.NewServer(mux)
				t.Cleanup(srv.Close)
				rec := &faulttest.Recorder{Client: &http.Client{Timeout: faulttest.Deadline + faulttest.RecoveryBound}}
				rec.SetPhase("setup")

				seeds := []string{"Seed0", "Seed1", "Seed2"}
				for _, name := range seeds {
					// Straight through the catalog: no deadline on the setup.
					url, grant, id, secret := "https://auth.example.com/oauth/token", "client_credentials", "cid-"+name, otherSecret
					in := connector.Input{Name: &name, URL: &url, GrantType: &grant, ClientID: &id, ClientSecret: &secret, Agents: &[]string{"agent-1"}}
					if _, err := cat.Create(context.Background(), &in, "setup"); err != nil {
						t.Fatalf("seed %s: %v", name, err)
					}
				}
				before := faulttest.Observe(t, b.Direct)

				rec.SetPhase("before")
				var h faulttest.History
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for g := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						adminLoad(rec, srv.URL, g, seeds, &h, stop)
					}()
				}
				time.Sleep(time.Second)
				rec.SetPhase("outage")
				fault.Start(proxy)
				time.Sleep(faulttest.Outage)
				rec.SetPhase("after")
				proxy.Restore()
				// Writes work again on the same server: a create, a secret
				// rotation and a delete of a fresh connector.
				recovers := func(name string) bool {
					code, _ := rec.Post(srv.URL+"/"+connectors.FnCreate, "recovery", clientCreds(name, "agent-1"))
					if code != http.StatusCreated {
						return false
					}
					code, _ = rec.Post(srv.URL+"/"+connectors.FnUpdate, "recovery", map[string]any{"name": name, "changes": map[string]any{"clientSecret": "cs-rotated"}})
					if code != http.StatusOK {
						return false
					}
					code, _ = rec.Post(srv.URL+"/"+connectors.FnDelete, "recovery", map[string]any{"name": name})
					return code == http.StatusOK
				}
				n := 0
				recovered := faulttest.Until(t, "writes after the restore", func() bool {
					n++
					return recovers(fmt.Sprintf("After%d", n))
				})
				time.Sleep(time.Second) // the load goes on against the recovered backend
				close(stop)
				wg.Wait()

				// Recovery attempts may meet their own leftovers (409, 404).
				rec.Check(t, faulttest.Deadline+faulttest.Slack, http.StatusOK, http.StatusCreated, http.StatusServiceUnavailable, http.StatusConflict, http.StatusNotFound)
				for _, o := range rec.Outcomes() {
					if o.Op != "recovery" && (o.Status == http.StatusConflict || o.Status == http.StatusNotFound) {
						t.Errorf("%s %s: %d %s", o.Phase, o.Op, o.Status, o.Code)
					}
				}
				if rec.Count("outage", http.StatusServiceUnavailable) == 0 {
					t.Error("no request failed during the outage: the fault did not bite")
				}

				after := faulttest.Observe(t, b.Direct)
				faulttest.CheckUnchanged(t, before, after, seeds)
				checked, applied := h.Check(t, after)
				strays := faulttest.CheckStrays(t, b.Direct)
				// Orphan records older than the grace period are resolved by
				// the next mutations: let the catalog's clock run past it.
				skew.Store(int64(catalog.OrphanGrace + time.Minute))
				orphans, err := b.Direct.Store.Orphans(t.Context(), time.Time{}, 0)
				if err != nil {
					t.Fatal(err)
				}
				// Each mutation sweeps a batch, within its own time bound:
				// trigger until the records are gone.
				faulttest.Until(t, "the sweep", func() bool {
					if code, _ := rec.Post(srv.URL+"/"+connectors.FnDelete, "sweep", map[string]any{"name": "NoSuchConnector"}); code != http.StatusNotFound {
						t.Errorf("sweep trigger: %d", code)
					}
					left, err := b.Direct.Store.Orphans(t.Context(), time.Time{}, 0)
					return err == nil && len(left) == 0
				})
				if strays := faulttest.Strays(t, b.Direct); len(strays) > 0 {
					t.Errorf("the sweep left unreferenced secrets: %v", strays)
				}
				// Observe fails t for a connector whose secret is unreadable:
				// the sweep took no live connector's secret.
				faulttest.Observe(t, b.Direct)
				if strings.Contains(logs.String(), "cs-L") {
					t.Error("a secret value appears in the logs")
				}
				t.Logf("writes recovered %v after the restore; %d connectors checked; %d requests answered 503 took effect anyway; "+
					"%d orphan records resolved by the sweep; %d stray secrets\n%s",
					recovered.Round(time.Millisecond), checked, applied, len(orphans), len(strays), rec.Summary())
			})
		}
	}
}
