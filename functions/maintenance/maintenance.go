// Package maintenance is the HTTP function maintenance, which Cloud
// Scheduler calls (with an OIDC token for its own service account, the one
// principal with auth.RoleScheduler) to do what no request otherwise
// triggers:
//
//   - sweep orphan secrets: a mutation sweeps a few after itself, so an
//     interrupted one with no mutation after it would leave its secret;
//   - refresh the refresh_token connectors nobody minted from for longer
//     than IdleRefresh, since some providers expire refresh tokens that go
//     unused (a rotated one is stored as any mint stores it);
//   - probe the failing connectors, so that recovery is seen (and
//     announced, Catalog.OnHealthTransition) without waiting for an agent.
//
// Mints go through the minting service's Test (no cache read, the result
// still fills the caches), one at a time, and stop when the request's
// deadline nears: the next run does the rest. Handlers are methods on
// Server, which holds every dependency; register.go wires the production
// one.
package maintenance

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"connectors.dev/connectors/functions/internal/adminhttp"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint"
)

// FnMaintenance is the function's name, as registered, deployed and served
// locally.
const FnMaintenance = "maintenance"

// DefaultIdleRefresh is how long a refresh_token connector may go without
// a mint before maintenance refreshes it.
const DefaultIdleRefresh = 7 * 24 * time.Hour

// DefaultMaxMints bounds the mints of one run.
const DefaultMaxMints = 50

// mintReserve is the time a run keeps before its deadline when it starts
// a mint: a mint may take the token timeout.
const mintReserve = 3 * time.Second

// Tester mints from a connector at its provider, bypassing every cache.
type Tester interface {
	Test(ctx context.Context, name string) (*mint.Credential, error)
}

// Server serves maintenance.
type Server struct {
	Catalog *catalog.Catalog
	Tester  Tester
	Auth    adminhttp.Authenticator
	Log     *slog.Logger
	Now     func() time.Time
	// IdleRefresh: DefaultIdleRefresh when 0. MaxMints: DefaultMaxMints
	// when 0.
	IdleRefresh time.Duration
	MaxMints    int
	// Outbox, when events are on, is drained on every run: an event a
	// mutation's own delivery left behind (a failed publish, an instance
	// stopped first) would otherwise wait for the next change.
	Outbox interface {
		Drain(ctx context.Context) (int, error)
	}
}

// Handlers maps the function name to its handler.
func (s *Server) Handlers() map[string]http.Handler {
	return map[string]http.Handler{FnMaintenance: http.HandlerFunc(s.Run)}
}

// Outcome is what one mint of a run gave: ok, or the wire error code.
type Outcome struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	Code string `json:"code,omitempty"`
}

// Report is the answer of a run.
type Report struct {
	// Swept counts the orphan records settled.
	Swept     int       `json:"swept"`
	Refreshed []Outcome `json:"refreshed"`
	Probed    []Outcome `json:"probed"`
	// Deferred counts the mints left for the next run (the bound or the
	// deadline reached).
	Deferred int `json:"deferred"`
}

type runRequest struct{}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Run is maintenance: only the scheduler's principal may call it.
func (s *Server) Run(w http.ResponseWriter, r *http.Request) {
	g := adminhttp.Guard{Auth: s.Auth, Log: s.Log}
	p, err := s.Auth.Authenticate(r, auth.RoleScheduler)
	if err != nil {
		g.Fail(w, r, err)
		return
	}
	var req runRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		g.Fail(w, r, err)
		return
	}
	ctx := r.Context()
	rep := Report{Refreshed: []Outcome{}, Probed: []Outcome{}}
	if rep.Swept, err = s.Catalog.SweepOrphans(ctx); err != nil {
		s.Log.Warn("maintenance: the orphan sweep stopped", "settled", rep.Swept, "error", err.Error())
	}
	if err := s.mints(ctx, &rep); err != nil {
		g.Fail(w, r, err)
		return
	}
	if s.Outbox != nil {
		if n, err := s.Outbox.Drain(ctx); err != nil {
			s.Log.Warn("maintenance: delivering pending events stopped; they stay in the outbox", "delivered", n, "error", err.Error())
		}
	}
	s.Log.Info("maintenance run", "audit", true, "principal", p.Name(), "function", r.URL.Path,
		"swept", rep.Swept, "refreshed", len(rep.Refreshed), "probed", len(rep.Probed), "deferred", rep.Deferred)
	httpx.WriteJSON(w, http.StatusOK, rep)
}

// mints walks every connector, page by page, and mints from those due.
func (s *Server) mints(ctx context.Context, rep *Report) error {
	idle := s.IdleRefresh
	if idle <= 0 {
		idle = DefaultIdleRefresh
	}
	limit := s.MaxMints
	if limit <= 0 {
		limit = DefaultMaxMints
	}
	// Probes take at most half the mints: failing connectors stay failing
	// after a failed probe, and would otherwise take the whole budget of
	// every run from the idle refreshes behind them in name order.
	probeLimit := max(1, limit/2)
	opts := connector.ListOptions{PageSize: connector.MaxPageSize}
	for {
		page, err := s.Catalog.ListHealth(ctx, opts, "")
		if err != nil {
			return err
		}
		for _, c := range page.Connectors {
			var into *[]Outcome
			switch {
			case !c.Active || c.State == connector.HealthNeedsReconnect:
				// Inactive, or only an admin can fix it.
			case c.State == connector.HealthFailing:
				into = &rep.Probed
			case c.GrantType == connector.GrantRefreshToken && c.HasRefreshToken && s.idle(c, idle):
				into = &rep.Refreshed
			}
			if into == nil {
				continue
			}
			if len(rep.Refreshed)+len(rep.Probed) >= limit || (into == &rep.Probed && len(rep.Probed) >= probeLimit) || !s.timeLeft(ctx) {
				rep.Deferred++
				continue
			}
			*into = append(*into, s.mint(ctx, c.Name))
		}
		if page.NextPageToken == "" {
			return nil
		}
		opts.PageToken = page.NextPageToken
	}
}

// idle reports whether c went unminted for at least d: since its last
// success, or, never minted, since its last change.
func (s *Server) idle(c *connector.Connector, d time.Duration) bool {
	last := c.LastSuccessAt
	if last.IsZero() {
		last = c.UpdatedAt
	}
	return s.now().Sub(last) >= d
}

// timeLeft reports whether a mint can start before ctx's deadline.
func (s *Server) timeLeft(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > mintReserve
}

// mint mints once from name; the error is told by its wire code only.
func (s *Server) mint(ctx context.Context, name string) Outcome {
	if _, err := s.Tester.Test(ctx, name); err != nil {
		return Outcome{Name: name, Code: httpx.Map(err).Code}
	}
	return Outcome{Name: name, OK: true}
}
