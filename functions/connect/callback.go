package connect

import (
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/errkind"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/outbound"
)

// Refusals of the callback that never redirect: the link is not this
// admin's pending authorization, so there is nowhere trusted to go.
var (
	errOtherAdmin = errkind.New(errkind.PermissionDenied, "authorization state of another admin", "state",
		"was issued to another admin: only the admin who pressed Connect can finish it (the authorization is now void)")
	errNoState = errkind.New(errkind.InvalidArgument, "callback without state", "state", "is required")
	errExpired = errkind.New(errkind.InvalidArgument, "authorization state expired", "state",
		"expired: the authorization took longer than 10 minutes; press Connect again")
	errChanged = errkind.New(errkind.Conflict, "connector changed since authorization", "state",
		"is bound to a revision of the connector that is no longer current (it was changed or deleted since Connect was pressed); press Connect again")
)

// errorCodeRE is RFC 6749 §4.1.2.1's error: NQSCHAR, kept short.
var errorCodeRE = regexp.MustCompile(`^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$`)

// Callback is oauth-callback: the provider sends the admin's browser
// here with ?code&state, or ?error&state.
func (s *Server) Callback(w http.ResponseWriter, r *http.Request) {
	g := s.guard()
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		httpx.WriteError(w, httpx.Errorf(http.StatusMethodNotAllowed, httpx.CodeInvalidArgument, "the callback is reached by the browser with GET"))
		return
	}
	p, ok := g.Admin(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" || len(q["state"]) > 1 {
		g.Fail(w, r, errNoState)
		return
	}
	st, err := s.States.TakeAuthState(r.Context(), StateID(state))
	if err != nil {
		s.refuse(w, r, p, nil, "state_unknown", err)
		return
	}
	if st.Principal != p.Name() {
		// Taken, so the forwarded link is spent for everyone.
		s.refuse(w, r, p, nil, "other_admin", errOtherAdmin)
		return
	}
	outcome := url.Values{"connector": {st.Connector}}
	fail := func(code, description string) {
		outcome.Set("connect", "error")
		outcome.Set("error", code)
		if description != "" {
			outcome.Set("error_description", description)
		}
		g.Audit(r, p, "connect", st.Connector, "ok", false, "error", code)
		back(w, r, st.ReturnTo, outcome)
	}
	if !s.now().Before(st.ExpiresAt) {
		s.refuse(w, r, p, st, "state_expired", errExpired)
		return
	}
	conn, err := s.Catalog.Get(r.Context(), st.Connector)
	if errors.Is(err, connector.ErrNotFound) || (err == nil && conn.Revision != st.Revision) {
		s.refuse(w, r, p, st, "connector_changed", errChanged)
		return
	}
	if err != nil {
		g.Fail(w, r, err)
		return
	}
	if iss := q.Get("iss"); iss != "" && conn.Issuer != "" && iss != conn.Issuer {
		// RFC 9207: the answer names another authorization server than the
		// connector's (a mix-up); its code is not exchanged here.
		fail("issuer_mismatch", "the authorization response came from another issuer than the connector's")
		return
	}
	if e := q.Get("error"); e != "" {
		// The provider's refusal (RFC 6749 §4.1.2.1), shown as it said it.
		if !errorCodeRE.MatchString(e) {
			e = "invalid_error_response"
		}
		fail(e, outbound.Sanitize(q.Get("error_description"), 300))
		return
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		fail("invalid_response", "the provider sent neither a code nor an error")
		return
	}
	b, err := s.Catalog.Bundle(r.Context(), conn)
	if err != nil {
		g.Fail(w, r, err)
		return
	}
	res, err := s.OAuth.Exchange(r.Context(), conn, b, code, st.Verifier, st.RedirectURI)
	if err != nil {
		var ue *oauth.UpstreamError
		if errors.As(err, &ue) {
			c := ue.Code
			if c == "" {
				c = "exchange_failed"
			}
			fail(c, ue.Description)
			return
		}
		s.Log.Warn("connect: code exchange failed", "connector", conn.Name, "error", err.Error())
		fail("exchange_failed", "the token endpoint could not be reached")
		return
	}
	if res.RefreshToken == "" {
		fail("no_refresh_token", "the provider issued no refresh token: ask for offline access (scope or authorizationParams, see the preset's notes)")
		return
	}
	rt := res.RefreshToken
	if _, err := s.Catalog.Update(r.Context(), conn.Name, st.Revision, &connector.Input{RefreshToken: &rt}, p.Name()); err != nil {
		if errors.Is(err, connector.ErrConflict) || errors.Is(err, connector.ErrNotFound) {
			s.refuse(w, r, p, st, "connector_changed", errChanged)
			return
		}
		g.Fail(w, r, err)
		return
	}
	g.Audit(r, p, "connect", conn.Name, "ok", true)
	outcome.Set("connect", "ok")
	back(w, r, st.ReturnTo, outcome)
}

// refuse answers a callback whose state does not hold (unknown or used,
// another admin's, expired, bound to a changed connector) with its 4xx
// error and an audit line, never a redirect and never an exchange. A
// browser gets a small page saying so, with a way back to the console when
// the state was this admin's (st set).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, p auth.Principal, st *connector.AuthState, reason string, err error) {
	g := s.guard()
	name := ""
	if st != nil {
		name = st.Connector
	}
	g.Audit(r, p, "connect", name, "ok", false, "error", reason)
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		g.Fail(w, r, err)
		return
	}
	e := httpx.Map(err)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	var b strings.Builder
	b.WriteString("<!doctype html><meta charset=utf-8><title>Connecting failed</title><h1>Connecting ")
	b.WriteString(html.EscapeString(name))
	b.WriteString(" failed</h1><p>The ")
	b.WriteString(html.EscapeString(e.Field))
	b.WriteString(" ")
	b.WriteString(html.EscapeString(e.Message))
	b.WriteString("</p>")
	if st != nil {
		back := st.ReturnTo + "#" + url.Values{"connect": {"error"}, "connector": {st.Connector}, "error": {reason}}.Encode()
		b.WriteString(`<p><a href="` + html.EscapeString(back) + `">Back to the console</a></p>`)
	}
	_, _ = w.Write([]byte(b.String()))
}
