// Package connectors is the admin API over the catalog: the HTTP functions
// connectors-create, -list, -get, -update and -delete. Handlers are methods
// on Server, which holds every dependency, so tests build a Server over the
// embedded or emulated backends; register.go wires the production one.
// connectors-test, which mints, is functions/probe: this group links no
// minting and no provider SDK.
package connectors

import (
	"log/slog"
	"net/http"
	"strconv"

	"connectors.dev/connectors/functions/internal/adminhttp"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint/oauth"
)

// Function names, as registered, deployed and served locally.
const (
	FnCreate = "connectors-create"
	FnList   = "connectors-list"
	FnGet    = "connectors-get"
	FnUpdate = "connectors-update"
	FnDelete = "connectors-delete"
)

// Authenticator tells who is calling and whether they hold a role.
type Authenticator = adminhttp.Authenticator

// Server serves the admin functions.
type Server struct {
	Catalog *catalog.Catalog
	Auth    Authenticator
	Log     *slog.Logger
	// Discover fills url, authorizationUrl and clientAuthMethod from an
	// issuer's metadata (RFC 8414, OpenID Connect Discovery); nil leaves
	// issuer a plain field.
	Discover *oauth.Discoverer
}

// Handlers maps each function name to its handler.
func (s *Server) Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		FnCreate: http.HandlerFunc(s.Create),
		FnList:   http.HandlerFunc(s.List),
		FnGet:    http.HandlerFunc(s.Get),
		FnUpdate: http.HandlerFunc(s.Update),
		FnDelete: http.HandlerFunc(s.Delete),
	}
}

type getRequest struct {
	Name string `json:"name"`
}

type listRequest struct {
	Agent     string `json:"agent"`
	PageSize  int    `json:"pageSize"`
	PageToken string `json:"pageToken"`
	// State keeps only connectors in that health state.
	State string `json:"state"`
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
	if err := s.prepareCreate(r.Context(), &in); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.Catalog.Create(r.Context(), &in, p.Name())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, p, "create", c.Name)
	// A new connector has no health record yet (a delete drops its name's):
	// nothing to read.
	c.Health = connector.HealthRecord{}.View(c)
	httpx.WriteJSON(w, http.StatusCreated, view(c))
}

// List is connectors-list.
func (s *Server) List(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.admin(w, r); !ok {
		return
	}
	var req listRequest
	if r.Method == http.MethodGet {
		q, err := httpx.Query(r, "agent", "pageSize", "pageToken", "state")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		req.Agent, req.PageToken, req.State = q.Get("agent"), q.Get("pageToken"), q.Get("state")
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
	state, err := connector.ParseHealthState(req.State)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.Catalog.ListHealth(r.Context(), connector.ListOptions{Agent: req.Agent, PageSize: req.PageSize, PageToken: req.PageToken}, state)
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
	s.Catalog.AttachHealth(r.Context(), c)
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
	if err := s.prepareUpdate(r.Context(), req.Name, req.Changes); err != nil {
		s.fail(w, r, err)
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
	s.Catalog.AttachHealth(r.Context(), c)
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

// view prepares a stored connector for the wire: agents always an array.
func view(c *connector.Connector) *connector.Connector {
	if c.Agents == nil {
		c = c.Clone()
		c.Agents = []string{}
	}
	return c
}

// guard answers as every admin function does (adminhttp.Guard).
func (s *Server) guard() adminhttp.Guard { return adminhttp.Guard{Auth: s.Auth, Log: s.Log} }

func (s *Server) admin(w http.ResponseWriter, r *http.Request) (auth.Principal, bool) {
	return s.guard().Admin(w, r)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) { s.guard().Fail(w, r, err) }

func (s *Server) audit(r *http.Request, p auth.Principal, action, name string, extra ...any) {
	s.guard().Audit(r, p, action, name, extra...)
}
