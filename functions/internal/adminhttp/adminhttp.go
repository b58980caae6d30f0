// Package adminhttp is what the admin functions (functions/connectors and
// functions/probe) share around their handlers: the admin-role check, the
// error reply, and the audit line each mutation or test leaves. It lives
// apart from both so that each links only what it uses: probe mints,
// connectors never does.
package adminhttp

import (
	"log/slog"
	"net/http"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/httpx"
)

// Authenticator tells who is calling and whether they hold a role.
type Authenticator interface {
	Authenticate(r *http.Request, need auth.Role) (auth.Principal, error)
}

// Guard answers for an admin function.
type Guard struct {
	Auth Authenticator
	Log  *slog.Logger
}

// Admin authenticates the caller as an admin; when it cannot, it has
// written the refusal and reports false.
func (g Guard) Admin(w http.ResponseWriter, r *http.Request) (auth.Principal, bool) {
	p, err := g.Auth.Authenticate(r, auth.RoleAdmin)
	if err != nil {
		g.Fail(w, r, err)
		return p, false
	}
	return p, true
}

// Fail writes err's wire form; server-side failures are logged with their
// cause, which never holds a secret value (backends do not quote data).
func (g Guard) Fail(w http.ResponseWriter, r *http.Request, err error) {
	e := httpx.Map(err)
	if e.Status >= 500 {
		g.Log.Error("request failed", "path", r.URL.Path, "status", e.Status, "code", e.Code, "error", err.Error())
	}
	httpx.WriteError(w, e)
}

// Audit writes the one structured line every mutation (and every test of a
// connector) leaves.
func (g Guard) Audit(r *http.Request, p auth.Principal, action, name string, extra ...any) {
	args := append([]any{"audit", true, "principal", p.Name(), "action", action, "connector", name, "function", r.URL.Path}, extra...)
	g.Log.Info("connector "+action, args...)
}
