// Package auth decides who is calling a function and what they may do.
//
// A deployed request proves its caller with a Google-signed OpenID Connect
// ID token (idtoken.go) or, behind the console's load balancer, with
// Identity-Aware Proxy's signed assertion (iap.go); both are checked against
// Google's published keys (keys.go), and an ID token's audience must name
// this function (audience.go). Configuration grants roles and binds agent IDs
// to principals (policy.go, config.go). A local run trusts loopback requests
// that carry no token.
//
// Errors returned by Authenticate wrap ErrUnauthenticated (401),
// ErrPermissionDenied (403) or ErrUnavailable (503), which shared/httpx maps
// to those statuses. Their messages never contain the token.
//
// Which header is read when, and why (Cloud Run's stripped signatures,
// Config.TrustCloudRunIAM, IAP, local runs, the audience rules in order):
// docs/security.md, "Identity headers in detail".
package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"

	"connectors.dev/connectors/shared/errkind"
)

// Sentinel errors; Authenticate's errors wrap exactly one of them.
var (
	// ErrUnauthenticated means the request did not prove who sent it: no
	// token, a malformed, forged or expired token, or one meant for someone
	// else (HTTP 401).
	ErrUnauthenticated = errkind.New(errkind.Unauthenticated, "unauthenticated", "", "a valid Google ID token is required")
	// ErrPermissionDenied means the caller is known but lacks the role the
	// operation needs (HTTP 403).
	ErrPermissionDenied = errkind.New(errkind.PermissionDenied, "permission denied", "", "the caller may not use this function")
	// ErrUnavailable means the token could not be checked because Google's
	// signing keys could not be fetched; the caller should retry (HTTP 503).
	// It is kept apart from ErrUnauthenticated so that an outage does not
	// tell callers that their valid tokens are bad.
	ErrUnavailable = errkind.New(errkind.Unavailable, "authentication unavailable", "", "identity verification is unavailable; retry later")
)

// LocalDev is the name of the principal of unauthenticated loopback requests
// in local mode.
const LocalDev = "local-dev"

// Config says whom to trust.
type Config struct {
	// Audience and Audiences are the aud claims tokens may carry: the
	// function's own URLs (see "Audience, in order" in docs/security.md).
	// Both empty, with Service empty too, derives them from each request.
	Audience  string
	Audiences []string
	// Service is the Cloud Run service name (K_SERVICE; a gen2 function's
	// name). When set, "https://" + Host is accepted as an audience only
	// when Host is one of this service's run.app host names (or Host +
	// "/" + Service for a cloudfunctions.net Host), and nothing is derived
	// from the request path.
	Service string
	// ClientIDs are OAuth client IDs accepted as audiences besides the
	// function's URLs. nil means GcloudClientID alone; an empty, non-nil
	// slice accepts none.
	ClientIDs []string
	// Admins are the principals with RoleAdmin: emails, optionally in IAM
	// member form ("user:a@example.com", "serviceAccount:sa@p.iam.gserviceaccount.com").
	Admins []string
	// Agents are the principals with RoleAgent, in the same form.
	Agents []string
	// Schedulers are the principals with RoleScheduler, in the same form:
	// the service account Cloud Scheduler calls the maintenance function as.
	Schedulers []string
	// AgentBindings maps an agent ID to the principals allowed to act for
	// it. Every principal named here also gets RoleAgent, so it need not be
	// repeated in Agents. When empty, any agent principal may act for any
	// agent ID.
	AgentBindings map[string][]string
	// Local enables the local-dev principal for loopback requests without
	// a token. Never set it in a deployment.
	Local bool
	// TrustCloudRunIAM accepts tokens whose signature Cloud Run removed
	// after checking it for the invoker role, on the strength of that check
	// (see "Trusting Cloud Run's invoker check" in docs/security.md).
	// Set it only for private services that are reachable
	// only through Cloud Run's front end; it cannot be combined with Local.
	TrustCloudRunIAM bool
	// IAPAudiences, when not empty, makes Authenticate verify IAP's signed
	// X-Goog-IAP-JWT-Assertion and accept it when its aud is one of these:
	// "/projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID" for a
	// load balancer's backend service, "/projects/PROJECT_NUMBER/apps/PROJECT_ID"
	// for App Engine. When empty, that header is ignored. See
	// "Identity-Aware Proxy" in docs/security.md.
	IAPAudiences []string
}

// Authenticator checks requests against a Config. It is safe for concurrent
// use.
type Authenticator struct {
	audiences     map[string]bool // Config.Audience and Audiences, trailing "/" trimmed
	service       string          // Config.Service, lower-cased
	clientIDs     map[string]bool
	local         bool
	trustCloudRun bool // Config.TrustCloudRunIAM
	admins        map[string]bool
	agents        map[string]bool
	schedulers    map[string]bool
	bindings      map[string]map[string]bool // agent ID -> principals
	iapAudiences  map[string]bool            // Config.IAPAudiences; empty: IAP off
	// validator is built on first use, not in New, so that constructing an
	// Authenticator (at cold start, or in tests that never see a token) does
	// no I/O and cannot fail on the environment.
	validator func() (*idtoken.Validator, error)
}

// New returns an Authenticator for cfg. keys is the HTTP client used to fetch
// Google's token-signing keys (https://www.googleapis.com/oauth2/v3/certs, and
// for ES256 tokens https://www.gstatic.com/iap/verify/public_key-jwk); tests
// pass one that routes those URLs to a local server. A nil keys uses a client
// with a timeout. New fails when a configured principal or agent ID is
// malformed, so that a typo surfaces at start-up rather than as a 403 later.
func New(cfg Config, keys *http.Client) (*Authenticator, error) {
	a := &Authenticator{
		audiences:     map[string]bool{},
		service:       strings.ToLower(strings.TrimSpace(cfg.Service)),
		clientIDs:     map[string]bool{},
		local:         cfg.Local,
		trustCloudRun: cfg.TrustCloudRunIAM,
		admins:        map[string]bool{},
		agents:        map[string]bool{},
		schedulers:    map[string]bool{},
		bindings:      map[string]map[string]bool{},
		iapAudiences:  map[string]bool{},
	}
	if cfg.Local && cfg.TrustCloudRunIAM {
		// A local run has no Cloud Run front end to vouch for anything.
		return nil, errors.New("auth: Config.TrustCloudRunIAM cannot be combined with Config.Local")
	}
	for _, aud := range append([]string{cfg.Audience}, cfg.Audiences...) {
		if aud = strings.TrimSpace(aud); aud == "" {
			continue
		}
		if err := checkFunctionAudience(aud); err != nil {
			return nil, fmt.Errorf("auth: Config.Audiences: %w", err)
		}
		a.audiences[strings.TrimSuffix(aud, "/")] = true
	}
	if a.service != "" && !serviceName.MatchString(a.service) {
		return nil, fmt.Errorf("auth: Config.Service: %s is not a Cloud Run service name", clip(a.service))
	}
	clientIDs := cfg.ClientIDs
	if clientIDs == nil {
		clientIDs = []string{GcloudClientID}
	}
	for _, id := range clientIDs {
		id = strings.TrimSpace(id)
		if id == "" || strings.ContainsAny(id, " \t,/:") {
			return nil, fmt.Errorf("auth: Config.ClientIDs: %s is not an OAuth client ID", clip(id))
		}
		a.clientIDs[id] = true
	}
	if err := addMembers(a.admins, cfg.Admins); err != nil {
		return nil, fmt.Errorf("auth: Config.Admins: %w", err)
	}
	if err := addMembers(a.agents, cfg.Agents); err != nil {
		return nil, fmt.Errorf("auth: Config.Agents: %w", err)
	}
	if err := addMembers(a.schedulers, cfg.Schedulers); err != nil {
		return nil, fmt.Errorf("auth: Config.Schedulers: %w", err)
	}
	for agent, members := range cfg.AgentBindings {
		if err := checkAgentID(agent); err != nil {
			return nil, fmt.Errorf("auth: Config.AgentBindings: %w", err)
		}
		set := map[string]bool{}
		if err := addMembers(set, members); err != nil {
			return nil, fmt.Errorf("auth: Config.AgentBindings[%q]: %w", agent, err)
		}
		if len(set) == 0 {
			// An empty list would silently lock the agent out; say so.
			return nil, fmt.Errorf("auth: Config.AgentBindings[%q]: no principals", agent)
		}
		a.bindings[agent] = set
		for m := range set {
			a.agents[m] = true
		}
	}

	for _, aud := range cfg.IAPAudiences {
		aud = strings.TrimSpace(aud)
		if err := checkIAPAudience(aud); err != nil {
			return nil, fmt.Errorf("auth: Config.IAPAudiences: %w", err)
		}
		a.iapAudiences[aud] = true
	}

	client := keysClient(keys)
	a.validator = sync.OnceValues(func() (*idtoken.Validator, error) {
		// The context only serves construction, which does no I/O with
		// an explicit client; requests use their own contexts.
		v, err := idtoken.NewValidator(context.Background(), option.WithHTTPClient(client))
		if err != nil {
			return nil, fmt.Errorf("create ID token validator: %w", err)
		}
		return v, nil
	})
	return a, nil
}

// Error is the error type of Authenticate. Its message is safe to log and to
// show to the caller: it never contains the token.
type Error struct {
	// Kind is ErrUnauthenticated, ErrPermissionDenied or ErrUnavailable.
	Kind error
	// Reason says what was wrong, for the caller to fix it.
	Reason string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Reason }

// ErrorKind is the kind of e.Kind (errkind.Kinded).
func (e *Error) ErrorKind() errkind.Kind {
	if k := errkind.Of(e.Kind); k != nil {
		return k.ErrorKind()
	}
	return errkind.Unknown
}

// PublicMessage is the reason, which fail keeps free of the token; an
// outage's reason (a library's words) is not for the caller.
func (e *Error) PublicMessage() string {
	if e.Reason == "" || errors.Is(e.Kind, ErrUnavailable) {
		if p, ok := e.Kind.(errkind.Public); ok {
			return p.PublicMessage()
		}
	}
	return e.Reason
}

// Unwrap returns Kind. Underlying causes are folded into Reason (after
// redaction) rather than exposed, so that no wrapped error can carry the
// token out.
func (e *Error) Unwrap() error { return e.Kind }

// fail builds an Error, removing the token and its parts from the reason:
// reasons quote claims and library messages, and a crafted token could echo
// pieces of itself into them.
func fail(kind error, token, format string, args ...any) *Error {
	reason := fmt.Sprintf(format, args...)
	if token != "" {
		parts := append([]string{token}, strings.Split(token, ".")...)
		for _, p := range parts {
			if len(p) >= 8 {
				reason = strings.ReplaceAll(reason, p, "[redacted]")
			}
		}
	}
	return &Error{Kind: kind, Reason: reason}
}

// Authenticate verifies the request's identity token and returns its
// principal if the principal holds need.
func (a *Authenticator) Authenticate(r *http.Request, need Role) (Principal, error) {
	p, err := a.identify(r)
	if err != nil {
		return Principal{}, err
	}
	if !p.Has(need) {
		return Principal{}, fail(ErrPermissionDenied, "", "%s does not have the %s role", p.Email, need)
	}
	return p, nil
}

// localDevRoles are local-dev's roles, shared by every local request (a
// Principal's Roles are only read).
var localDevRoles = []Role{RoleAdmin, RoleAgent, RoleScheduler}

// identify picks the header that names the caller and returns the caller's
// principal. Which header wins when, and why: "Identity headers in detail"
// in docs/security.md.
func (a *Authenticator) identify(r *http.Request) (Principal, error) {
	if len(a.iapAudiences) > 0 {
		// IAP vouches for this request; its assertion alone names the
		// caller. A refused assertion is final: falling back to another
		// header would let a caller who bypassed IAP choose the identity.
		if iap := r.Header[canonicalIAPAssertion]; len(iap) > 0 {
			return a.iapPrincipal(r, iap)
		}
	}
	// The map itself, not Header.Values: the keys are canonical already,
	// and canonicalising them on every request was a tenth of a cache
	// hit's own work (docs/performance.md).
	authz := r.Header[headerAuthorization]
	serverless := r.Header[headerServerless]
	if len(authz) == 0 && len(serverless) == 0 {
		if a.local && isLoopback(r.RemoteAddr) {
			return Principal{Email: LocalDev, Roles: localDevRoles, Local: true}, nil
		}
		msg := "missing Authorization header; send \"Authorization: Bearer <Google ID token>\""
		if len(a.iapAudiences) > 0 {
			msg += ", or call through the load balancer's Identity-Aware Proxy"
		}
		return Principal{}, fail(ErrUnauthenticated, "", "%s", msg)
	}

	if len(serverless) > 0 {
		token, err := headerToken(headerServerless, serverless)
		if err != nil {
			return Principal{}, err
		}
		// Trusting Cloud Run: this is the header its invoker check read,
		// so it alone names the caller, whatever Authorization holds.
		// Otherwise a stripped token here cannot be verified, but Cloud Run
		// then forwarded Authorization intact: verify that instead, if sent.
		if a.trustCloudRun || !isStripped(token) || len(authz) == 0 {
			return a.principalOf(r, headerServerless, token, a.trustCloudRun)
		}
	}

	token, err := headerToken(headerAuthorization, authz)
	if err != nil {
		return Principal{}, err
	}
	// A stripped token in Authorization is Cloud Run's only when no
	// X-Serverless-Authorization came with it; otherwise it may be forged.
	return a.principalOf(r, headerAuthorization, token, a.trustCloudRun && len(serverless) == 0)
}

// clip quotes an untrusted claim for an error message, bounded in length.
func clip(s string) string {
	const limit = 100
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// isLoopback reports whether a RemoteAddr ("host:port") is a loopback
// address: 127.0.0.0/8, ::1, or IPv4 loopback mapped into IPv6.
func isLoopback(remoteAddr string) bool {
	// The forms a loopback listener's connections have, without parsing:
	// RemoteAddr is always the connection's host:port.
	if strings.HasPrefix(remoteAddr, "127.0.0.1:") || strings.HasPrefix(remoteAddr, "[::1]:") {
		return true
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return addr.Unmap().IsLoopback()
}
