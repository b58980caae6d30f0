// Package connectors is the admin API: the HTTP functions
// connectors-create, -list, -get, -update, -delete and -test. Handlers are methods
// on Server, which holds every dependency, so tests build a Server over the
// embedded or emulated backends; register.go wires the production one.
package connectors

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint"
)

// Function names, as registered, deployed and served locally.
const (
	FnCreate = "connectors-create"
	FnList   = "connectors-list"
	FnGet    = "connectors-get"
	FnUpdate = "connectors-update"
	FnDelete = "connectors-delete"
	FnTest   = "connectors-test"
)

// Authenticator tells who is calling and whether they hold a role.
type Authenticator interface {
	Authenticate(r *http.Request, need auth.Role) (auth.Principal, error)
}

// Tester mints from a connector at its provider, for connectors-test.
type Tester interface {
	Test(ctx context.Context, name string) (*mint.Credential, error)
}

// Server serves the admin functions.
type Server struct {
	Catalog *catalog.Catalog
	Auth    Authenticator
	Log     *slog.Logger
	// Tester backs connectors-test; without it the function is not served.
	Tester Tester
	Now    func() time.Time
}

// Handlers maps each function name to its handler.
func (s *Server) Handlers() map[string]http.HandlerFunc {
	h := map[string]http.HandlerFunc{
		FnCreate: s.Create,
		FnList:   s.List,
		FnGet:    s.Get,
		FnUpdate: s.Update,
		FnDelete: s.Delete,
	}
	if s.Tester != nil {
		h[FnTest] = s.Test
	}
	return h
}

type getRequest struct {
	Name string `json:"name"`
}

type listRequest struct {
	Agent     string `json:"agent"`
	PageSize  int    `json:"pageSize"`
	PageToken string `json:"pageToken"`
}

type listResponse struct {
	Connectors    []*connector.Connector `json:"connectors"`
	NextPageToken string                 `json:"nextPageToken"`
}

type updateRequest struct {
	Name     string           `json:"name"`
	Revision string           `json:"revision"`
	Changes  *connector.Input `json:"changes"`
}

type deleteRequest struct {
	Name     string `json:"name"`
	Revision string `json:"revision"`
}

type deleteResponse struct {
	Deleted string `json:"deleted"`
}

// Create is connectors-create.
func (s *Server) Create(w http.ResponseWriter, r *http.Request) {
	p, ok := s.admin(w, r)
	if !ok {
		return
	}
	var in connector.Input
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.Catalog.Create(r.Context(), &in, p.Name())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, p, "create", c.Name)
	httpx.WriteJSON(w, http.StatusCreated, view(c))
}

// List is connectors-list.
func (s *Server) List(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.admin(w, r); !ok {
		return
	}
	var req listRequest
	if r.Method == http.MethodGet {
		q, err := httpx.Query(r, "agent", "pageSize", "pageToken")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		req.Agent, req.PageToken = q.Get("agent"), q.Get("pageToken")
		if v := q.Get("pageSize"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				s.fail(w, r, httpx.FieldError("pageSize", "must be a whole number"))
				return
			}
			req.PageSize = n
		}
	} else if err := httpx.DecodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Agent != "" {
		if err := connector.ValidateAgent("agent", req.Agent); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if req.PageSize < 0 || req.PageSize > connector.MaxPageSize {
		s.fail(w, r, httpx.FieldError("pageSize", "must be between 1 and %d (0 for the default, %d)", connector.MaxPageSize, connector.DefaultPageSize))
		return
	}
	page, err := s.Catalog.List(r.Context(), connector.ListOptions{Agent: req.Agent, PageSize: req.PageSize, PageToken: req.PageToken})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := listResponse{Connectors: make([]*connector.Connector, 0, len(page.Connectors)), NextPageToken: page.NextPageToken}
	for _, c := range page.Connectors {
		out.Connectors = append(out.Connectors, view(c))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// Get is connectors-get.
func (s *Server) Get(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.admin(w, r); !ok {
		return
	}
	var req getRequest
	if r.Method == http.MethodGet {
		q, err := httpx.Query(r, "name")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		req.Name = q.Get("name")
	} else if err := httpx.DecodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.Catalog.Get(r.Context(), req.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, view(c))
}

// Update is connectors-update.
func (s *Server) Update(w http.ResponseWriter, r *http.Request) {
	p, ok := s.admin(w, r)
	if !ok {
		return
	}
	var req updateRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Changes == nil {
		s.fail(w, r, httpx.FieldError("changes", "is required: an object with the fields to change"))
		return
	}
	c, err := s.Catalog.Update(r.Context(), req.Name, req.Revision, req.Changes, p.Name())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if c.Name != req.Name {
		s.audit(r, p, "rename", req.Name, "newName", c.Name)
	}
	s.audit(r, p, "update", c.Name, "fields", req.Changes.Fields())
	httpx.WriteJSON(w, http.StatusOK, view(c))
}

// Delete is connectors-delete.
func (s *Server) Delete(w http.ResponseWriter, r *http.Request) {
	p, ok := s.admin(w, r)
	if !ok {
		return
	}
	var req deleteRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Catalog.Delete(r.Context(), req.Name, req.Revision); err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, p, "delete", req.Name)
	httpx.WriteJSON(w, http.StatusOK, deleteResponse{Deleted: req.Name})
}

type testResponse struct {
	OK        bool   `json:"ok"`
	ExpiresIn int64  `json:"expiresIn"`
	Scope     string `json:"scope,omitempty"`
}

// Test is connectors-test: mint at the provider and report how it went,
// without the credential.
func (s *Server) Test(w http.ResponseWriter, r *http.Request) {
	p, ok := s.admin(w, r)
	if !ok {
		return
	}
	var req getRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := connector.ValidateName(req.Name); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.Tester.Test(r.Context(), req.Name)
	s.audit(r, p, "test", req.Name, "ok", err == nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	expiry := c.Expiry
	if c.AWS != nil {
		expiry = c.AWS.Expiration
	}
	httpx.WriteJSON(w, http.StatusOK, testResponse{OK: true, ExpiresIn: int64(expiry.Sub(now) / time.Second), Scope: c.Scope})
}

// view prepares a stored connector for the wire: agents always an array.
func view(c *connector.Connector) *connector.Connector {
	if c.Agents == nil {
		c = c.Clone()
		c.Agents = []string{}
	}
	return c
}

func (s *Server) admin(w http.ResponseWriter, r *http.Request) (auth.Principal, bool) {
	p, err := s.Auth.Authenticate(r, auth.RoleAdmin)
	if err != nil {
		s.fail(w, r, err)
		return p, false
	}
	return p, true
}

// fail writes err's wire form; server-side failures are logged with their
// cause, which never holds a secret value (backends do not quote data).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := httpx.Map(err)
	if e.Status >= 500 {
		s.Log.Error("request failed", "path", r.URL.Path, "status", e.Status, "code", e.Code, "error", err.Error())
	}
	httpx.WriteError(w, e)
}

// audit writes the one structured line every mutation leaves.
func (s *Server) audit(r *http.Request, p auth.Principal, action, name string, extra ...any) {
	args := append([]any{"audit", true, "principal", p.Name(), "action", action, "connector", name, "function", r.URL.Path}, extra...)
	s.Log.Info("connector "+action, args...)
}
