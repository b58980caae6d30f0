package maintenance_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/functions/internal/functest"
	"connectors.dev/connectors/functions/maintenance"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/events"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
	"connectors.dev/connectors/shared/testenv/emulator"
)

func TestMain(m *testing.M) { os.Exit(emulator.Main(m)) }

const clientSecret = "maintenance-client-secret-0001"

func ptr[T any](v T) *T { return &v }

// env is the maintenance function over one pair of backends, with the
// minting service it mints through and a fake clock.
type env struct {
	cat    *catalog.Catalog
	svc    *mint.Service
	clk    *clock.Fake
	logs   *logtest.Buffer
	client *functest.Client
	mu     sync.Mutex
	moves  []string
}

func newEnv(t *testing.T, b testenv.Backends, authn maintenance.Server) *env {
	t.Helper()
	if _, err := b.Secrets.Get(context.Background(), mint.CacheKeySecretID, ""); err != nil {
		if err := mint.ProvisionKey(context.Background(), b.Secrets); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{clk: clock.NewFake(), logs: &logtest.Buffer{}}
	log := logging.New(e.logs)
	e.cat = &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Log: log, Now: e.clk.Now}
	e.cat.OnHealthTransition = func(_ context.Context, c *connector.Connector, from, to connector.HealthState, _ connector.HealthRecord) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.moves = append(e.moves, c.Name+":"+string(from)+"->"+string(to))
	}
	e.svc = &mint.Service{
		Catalog: e.cat, Cache: b.Cache, Sealer: &mint.Sealer{Secrets: b.Secrets}, Instance: "m1", Now: e.clk.Now,
		OAuth: mint.OAuth{Client: &oauth.Client{
			HTTP: outbound.NewClient(outbound.Options{Policy: netguard.Policy{AllowLoopback: true}, Timeout: 5 * time.Second}),
			Now:  e.clk.Now,
		}},
		PollInterval: 10 * time.Millisecond,
	}
	s := authn
	s.Catalog, s.Tester, s.Log, s.Now = e.cat, e.svc, log, e.clk.Now
	if s.Auth == nil {
		a, err := auth.New(auth.Config{Local: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Auth = a
	}
	e.client = functest.Serve(t, nil, s.Handlers())
	t.Cleanup(func() {
		if strings.Contains(e.client.Bodies()+e.logs.String(), clientSecret) {
			t.Error("a client secret appears in a response or a log line")
		}
	})
	return e
}

func (e *env) create(t *testing.T, in *connector.Input) {
	t.Helper()
	in.ClientID, in.ClientSecret, in.Agents = ptr("cid"), ptr(clientSecret), ptr([]string{"agent-1"})
	if _, err := e.cat.Create(context.Background(), in, "admin"); err != nil {
		t.Fatal(err)
	}
}

func (e *env) run(t *testing.T, token string) (int, maintenance.Report) {
	t.Helper()
	resp, raw := e.client.Post(maintenance.FnMaintenance, `{}`, token)
	var rep maintenance.Report
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatalf("report %s: %v", raw, err)
		}
	}
	return resp.StatusCode, rep
}

func outcomes(os []maintenance.Outcome) string {
	var out []string
	for _, o := range os {
		s := o.Name + ":ok"
		if !o.OK {
			s = o.Name + ":" + o.Code
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

// TestMaintenanceRun: one run sweeps an orphan secret older than the
// grace, refreshes the refresh_token connector idle for longer than the
// setting (its rotated token stored) and not the one minted lately, and
// probes the failing connector, whose recovery is then announced; an
// inactive connector and one that needs a reconnect are left alone.
func TestMaintenanceRun(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		e := newEnv(t, b, maintenance.Server{IdleRefresh: 7 * 24 * time.Hour})
		idle := oauthtest.NewProvider(t, "idle-r0")
		busy := oauthtest.NewProvider(t, "busy-r0")
		flaky := oauthtest.NewProvider(t, "")
		dead := oauthtest.NewProvider(t, "dead-live")
		e.create(t, &connector.Input{Name: ptr("Idle"), URL: ptr(idle.URL), GrantType: ptr("refresh_token"), RefreshToken: ptr("idle-r0")})
		e.create(t, &connector.Input{Name: ptr("Busy"), URL: ptr(busy.URL), GrantType: ptr("refresh_token"), RefreshToken: ptr("busy-r0")})
		e.create(t, &connector.Input{Name: ptr("Flaky"), URL: ptr(flaky.URL), GrantType: ptr("client_credentials")})
		e.create(t, &connector.Input{Name: ptr("Off"), URL: ptr(idle.URL), GrantType: ptr("refresh_token"), RefreshToken: ptr("off-r0"), Active: ptr(false)})
		e.create(t, &connector.Input{Name: ptr("Dead"), URL: ptr(dead.URL), GrantType: ptr("refresh_token"), RefreshToken: ptr("dead-revoked")})

		// An orphan: a secret an interrupted create left, recorded long ago.
		if _, err := b.Secrets.Put(ctx, "orphan-maint-1", map[string]string{"managed-by": "connectors"}, secret.Bundle{ClientSecret: clientSecret}); err != nil {
			t.Fatal(err)
		}
		if err := b.Store.AddOrphan(ctx, "orphan-maint-1", e.clk.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}

		flaky.Status.Store(http.StatusUnauthorized)
		if _, err := e.svc.Token(ctx, "Flaky", "agent-1"); err == nil {
			t.Fatal("mint from a refusing provider succeeded")
		}
		if _, err := e.svc.Token(ctx, "Dead", "agent-1"); err == nil {
			t.Fatal("mint with a revoked refresh token succeeded")
		}
		flaky.Status.Store(0)
		e.clk.Advance(8 * 24 * time.Hour)
		if _, err := e.svc.Token(ctx, "Busy", "agent-1"); err != nil {
			t.Fatal(err)
		}
		busyCalls, deadCalls := busy.Calls.Load(), dead.Calls.Load()

		code, rep := e.run(t, "")
		if code != http.StatusOK {
			t.Fatalf("run: %d", code)
		}
		if rep.Swept != 1 || outcomes(rep.Refreshed) != "Idle:ok" || outcomes(rep.Probed) != "Flaky:ok" || rep.Deferred != 0 {
			t.Fatalf("report: %+v", rep)
		}
		if _, err := b.Secrets.Get(ctx, "orphan-maint-1", ""); err == nil {
			t.Fatal("the orphan secret is still there")
		}
		c, err := b.Store.Get(ctx, "Idle")
		if err != nil {
			t.Fatal(err)
		}
		bundle, err := b.Secrets.Get(ctx, c.SecretID, c.SecretVersion)
		if err != nil || bundle.RefreshToken != idle.CurrentRefresh() || bundle.RefreshToken == "idle-r0" {
			t.Fatalf("Idle's refresh token not rotated and stored: %v", err)
		}
		if busy.Calls.Load() != busyCalls || dead.Calls.Load() != deadCalls {
			t.Fatal("maintenance minted from a connector minted lately, or one that needs a reconnect")
		}
		e.mu.Lock()
		moves := strings.Join(e.moves, ",")
		e.mu.Unlock()
		if !strings.Contains(moves, "Flaky:failing->ok") {
			t.Fatalf("transitions %q: the probe's recovery was not announced", moves)
		}

		// The next run finds nothing due.
		if code, rep := e.run(t, ""); code != http.StatusOK || rep.Swept != 0 || len(rep.Refreshed)+len(rep.Probed) != 0 {
			t.Fatalf("second run: %d %+v", code, rep)
		}
	})
}

// TestMaintenanceOnlyScheduler: only the scheduler's principal may run
// maintenance: no token is 401, an admin's or an agent's is 403, before
// anything is swept or minted.
func TestMaintenanceOnlyScheduler(t *testing.T) {
	iss := authtest.NewIssuer(t)
	const admin, agent, sched = "admin@example.com", "runtime@proj.iam.gserviceaccount.com", "scheduler@proj.iam.gserviceaccount.com"
	authn, err := auth.New(auth.Config{Admins: []string{admin}, Agents: []string{agent}, Schedulers: []string{"serviceAccount:" + sched}}, iss.Client)
	if err != nil {
		t.Fatal(err)
	}
	b := testenv.New(t, testenv.Embedded)
	e := newEnv(t, b, maintenance.Server{Auth: authn})
	p := oauthtest.NewProvider(t, "r0")
	e.create(t, &connector.Input{Name: ptr("Idle"), URL: ptr(p.URL), GrantType: ptr("refresh_token"), RefreshToken: ptr("r0")})
	e.clk.Advance(30 * 24 * time.Hour)
	aud := strings.Replace(e.client.URL, "http://", "https://", 1) + "/" + maintenance.FnMaintenance
	for _, c := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"admin", iss.Token(t, admin, aud), http.StatusForbidden},
		{"agent", iss.Token(t, agent, aud), http.StatusForbidden},
	} {
		if code, _ := e.run(t, c.token); code != c.status {
			t.Errorf("%s: %d, want %d", c.name, code, c.status)
		}
	}
	if p.Calls.Load() != 0 {
		t.Fatal("a refused caller made maintenance mint")
	}
	if code, rep := e.run(t, iss.Token(t, sched, aud)); code != http.StatusOK || outcomes(rep.Refreshed) != "Idle:ok" {
		t.Fatalf("scheduler: %d %+v", code, rep)
	}
}

func TestIdleRefreshFromEnv(t *testing.T) {
	for v, want := range map[string]time.Duration{"": maintenance.DefaultIdleRefresh, "72h": 72 * time.Hour} {
		if d, err := maintenance.IdleRefreshFromEnv(func(string) string { return v }); err != nil || d != want {
			t.Errorf("%q: %v, %v", v, d, err)
		}
	}
	for _, v := range []string{"soon", "10m", "-5h"} {
		if _, err := maintenance.IdleRefreshFromEnv(func(string) string { return v }); err == nil || !strings.Contains(err.Error(), maintenance.EnvIdleRefresh) {
			t.Errorf("%q: %v, want an error naming %s", v, err, maintenance.EnvIdleRefresh)
		}
	}
}

// TestMaintenanceBudget: with room for two mints, two failing connectors
// ahead of an idle one in name order take one probe between them, the idle
// refresh still runs, and what waits is counted as deferred.
func TestMaintenanceBudget(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		e := newEnv(t, b, maintenance.Server{IdleRefresh: 7 * 24 * time.Hour, MaxMints: 2})
		failing := oauthtest.NewProvider(t, "")
		idle := oauthtest.NewProvider(t, "idle-r0")
		e.create(t, &connector.Input{Name: ptr("A_fail1"), URL: ptr(failing.URL), GrantType: ptr("client_credentials")})
		e.create(t, &connector.Input{Name: ptr("A_fail2"), URL: ptr(failing.URL), GrantType: ptr("client_credentials")})
		e.create(t, &connector.Input{Name: ptr("Z_idle"), URL: ptr(idle.URL), GrantType: ptr("refresh_token"), RefreshToken: ptr("idle-r0")})
		failing.Status.Store(http.StatusUnauthorized)
		for _, name := range []string{"A_fail1", "A_fail2"} {
			if _, err := e.svc.Token(ctx, name, "agent-1"); err == nil {
				t.Fatalf("%s: mint from a refusing provider succeeded", name)
			}
		}
		e.clk.Advance(8 * 24 * time.Hour)
		code, rep := e.run(t, "")
		if code != http.StatusOK {
			t.Fatalf("run: %d", code)
		}
		if len(rep.Probed) != 1 || outcomes(rep.Refreshed) != "Z_idle:ok" || rep.Deferred != 1 {
			t.Fatalf("report %+v: want one probe, Z_idle refreshed, one deferred", rep)
		}
	})
}

// sink is the destination of TestMaintenanceDrainsOutbox's relay: the
// events it was handed.
type sink struct {
	mu  sync.Mutex
	got []string
}

func (s *sink) Publish(_ context.Context, e events.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, e.Type+" "+e.Data.Name)
	return nil
}

// stalled is a relay kick that delivers nothing: the mutation's own
// delivery lost (its instance stopped first).
type stalled struct{}

func (stalled) Kick(context.Context) {}

// TestMaintenanceDrainsOutbox: an event that no mutation's delivery sent
// goes out with the next maintenance run.
func TestMaintenanceDrainsOutbox(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		out := &sink{}
		e := newEnv(t, b, maintenance.Server{Outbox: &events.Relay{Outbox: b.Store.(events.Outbox), Publisher: out}})
		e.cat.Events = stalled{}
		provider := oauthtest.NewProvider(t, "")
		e.create(t, &connector.Input{Name: ptr("Left"), URL: ptr(provider.URL), GrantType: ptr("client_credentials")})
		if code, _ := e.run(t, ""); code != http.StatusOK {
			t.Fatalf("run: %d", code)
		}
		out.mu.Lock()
		defer out.mu.Unlock()
		if strings.Join(out.got, ",") != events.ConnectorCreated+" Left" {
			t.Fatalf("delivered %q, want the create of Left", out.got)
		}
	})
}
