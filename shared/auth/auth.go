// Package auth decides who is calling a function and what they may do.
//
// In production every request carries a Google-signed OpenID Connect ID token
// in "Authorization: Bearer <jwt>" (or in "X-Serverless-Authorization: Bearer
// <jwt>", see below). Cloud Run's invoker IAM already let the caller in, but
// the functions check the token again themselves (signature against Google's
// published keys, audience, expiry, issuer, email) so that they learn the
// caller's principal for createdBy/updatedBy and the audit log, and, unless
// Config.TrustCloudRunIAM is set, so that they do not depend on the
// deployment being private. Roles come from the configured admin and agent
// principal lists; agent bindings narrow which principals may act for which
// agent IDs.
//
// Behind an HTTPS load balancer with Identity-Aware Proxy, a request carries
// IAP's signed assertion instead; see "Identity-Aware Proxy" below.
//
// Errors returned by Authenticate wrap ErrUnauthenticated (401),
// ErrPermissionDenied (403) or ErrUnavailable (503); HTTPStatus maps them.
// Their messages never contain the token.
//
// # Audience
//
// An ID token minted for one function must not be accepted by another: Google
// mints them for any audience a caller names, and a function that receives a
// token (or its logs, or a proxy in between) could otherwise replay it at
// every other function of the project. So a token's aud claim (a trailing
// "/" ignored) must be one of this function's own URLs, or an allow-listed
// OAuth client ID. Accepted, in this order:
//
//  1. One of Config.ClientIDs: by default only gcloud's own client ID
//     (GcloudClientID), which is the audience of the tokens `gcloud
//     functions call` and `gcloud auth print-identity-token` send for a
//     user account. Such a token is not bound to any function; it is
//     accepted so that admins can call as themselves.
//  2. One of Config.Audience and Config.Audiences, exactly: the function's
//     URLs, which Terraform sets (https://REGION-PROJECT.cloudfunctions.net/NAME
//     and https://NAME-PROJECT_NUMBER.REGION.run.app), or a Cloud Run
//     custom audience. The bare origin https://REGION-PROJECT.cloudfunctions.net,
//     which every function of the project shares, is refused in the
//     configuration.
//  3. With Config.Service (the Cloud Run service name, K_SERVICE, which a
//     gen2 function shares with its name): "https://" + Host when Host is
//     one of that service's run.app host names (NAME-HASH-REGION.a.run.app,
//     the URL Cloud Run reports, which is known only after deployment, or
//     NAME-PROJECT_NUMBER.REGION.run.app), and "https://" + Host + "/" +
//     NAME when Host is a cloudfunctions.net host. Cloud Run routes on Host,
//     so a request whose Host is another service's never reaches this one.
//  4. Only when neither audiences nor a service are configured (a local
//     run, tests), the audience is derived from the request: "https://" +
//     Host followed by a leading part of the request path of at least one
//     segment, ending at a "/" boundary. So for a request to
//     https://h/token/x the accepted audiences are https://h/token and
//     https://h/token/x. The bare origin https://h is accepted only when h
//     is a run.app host, which names one service.
//
// The same check applies to tokens whose signature Cloud Run removed (see
// below): Cloud Run checked the audience against what it accepts for the
// service, and this check is the function's own.
//
// # Cloud Run strips the signature it checked
//
// The invoker check of a private Cloud Run service (and so of a gen2 Cloud
// Function) reads the ID token in X-Serverless-Authorization if the caller
// sent that header, and otherwise the one in Authorization. It forwards the
// token it checked to the container with its signature replaced by
// "SIGNATURE_REMOVED_BY_GOOGLE" (a "stripped" token), and passes the other
// header through untouched. A stripped token cannot be verified here.
//
// By default (Config.TrustCloudRunIAM unset) Authenticate therefore only
// accepts tokens whose signature it verified itself. It reads
// X-Serverless-Authorization when that header is present and carries a
// signed token, and Authorization otherwise; a stripped
// X-Serverless-Authorization is passed over for Authorization, which Cloud
// Run forwarded intact. So clients of a private function must send the same
// ID token in both headers; a stripped token is refused with an error that
// says so. Plain "gcloud functions call" and curl with only Authorization do
// not work in this mode.
//
// # Trusting Cloud Run's invoker check
//
// With Config.TrustCloudRunIAM (environment variable
// CONNECTORS_TRUST_CLOUD_RUN_IAM=true) Authenticate accepts the stripped
// token as the identity that Cloud Run verified:
//
//   - If X-Serverless-Authorization is present, it alone says who is
//     calling; Authorization is ignored (it may hold a token for some other
//     service, or anything at all). A stripped token there is accepted
//     without checking its signature; a signed one is verified.
//   - Otherwise a stripped token in Authorization is accepted without
//     checking its signature, and a signed one is verified.
//
// A stripped token's audience is checked as a signed one's is (see
// "Audience"), and so are expiry, issuer, email and email_verified. A stripped token in Authorization next to an
// X-Serverless-Authorization header is never trusted: Cloud Run checked the
// latter, so the former could be forged by anyone.
//
// Nothing but Cloud Run's front end vouches for a stripped token: anyone can
// write one for any email. The mode is therefore safe only when every request
// reaches the function through Cloud Run's front end with the invoker check
// on, i.e. when the service is private (roles/run.invoker granted to neither
// allUsers nor allAuthenticatedUsers, so Cloud Run rejects requests without a
// valid Google ID token of an invoker) and nothing else can deliver requests
// to its container. On a public service Cloud Run checks nothing, and a forged
// stripped token would be believed. The Terraform configuration sets
// CONNECTORS_TRUST_CLOUD_RUN_IAM on the functions it deploys privately; do not
// set it anywhere else. It cannot be combined with Config.Local.
//
// # Identity-Aware Proxy
//
// The admin functions can sit behind an HTTPS load balancer with IAP, so
// that the web console calls them on its own origin with the IAP cookie. IAP
// then forwards each request with X-Goog-IAP-JWT-Assertion: a JWT that IAP
// signed (ES256) for the backend service. When Config.IAPAudiences is set
// (environment variable CONNECTORS_IAP_AUDIENCES) and that header is
// present, the assertion alone says who is calling; Authorization and
// X-Serverless-Authorization are not consulted, even if the assertion is
// refused. Authenticate verifies:
//
//   - the header: alg ES256, and a kid among IAP's published keys
//     (https://www.gstatic.com/iap/verify/public_key-jwk), whose key
//     must verify the signature;
//   - iss exactly https://cloud.google.com/iap;
//   - aud one of Config.IAPAudiences, i.e. the backend service
//     (/projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID) or App
//     Engine app (/projects/PROJECT_NUMBER/apps/PROJECT_ID) that IAP guards;
//   - exp in the future, iat not in the future, sub present;
//   - email present and a plain address, which names the principal; roles
//     come from Config.Admins and Config.Agents as for ID tokens.
//     Assertions for Identity Platform (external) identities, which carry
//     a gcip claim, are refused: their emails are not Google accounts.
//
// The unsigned headers IAP adds, X-Goog-Authenticated-User-Email and
// X-Goog-Authenticated-User-Id, are never read: anyone who reaches the
// function without passing IAP can write them. When Config.IAPAudiences is
// empty, X-Goog-IAP-JWT-Assertion is ignored as well, and requests are
// authenticated by their ID tokens alone. The Terraform configuration sets
// CONNECTORS_IAP_AUDIENCES on the functions it puts behind the load
// balancer, to their backend services' audiences; ID tokens keep working
// there for callers that do not come through IAP (scripts, gcloud).
//
// # Local runs
//
// With Config.Local, a request without an Authorization (or
// X-Serverless-Authorization, or, with Config.IAPAudiences, an
// X-Goog-IAP-JWT-Assertion) header whose TCP peer is a loopback address is
// the principal "local-dev" with every role. The peer is r.RemoteAddr, so no
// proxy may sit in front of a local run. A request that does carry a token is
// verified as in production.
package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"
)

// Sentinel errors; Authenticate's errors wrap exactly one of them.
var (
	// ErrUnauthenticated means the request did not prove who sent it: no
	// token, a malformed, forged or expired token, or one meant for someone
	// else (HTTP 401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied means the caller is known but lacks the role the
	// operation needs (HTTP 403).
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnavailable means the token could not be checked because Google's
	// signing keys could not be fetched; the caller should retry (HTTP 503).
	// It is kept apart from ErrUnauthenticated so that an outage does not
	// tell callers that their valid tokens are bad.
	ErrUnavailable = errors.New("authentication unavailable")
)

// GcloudClientID is the OAuth client ID of the Google Cloud SDK: the aud of
// the ID tokens `gcloud auth print-identity-token` and `gcloud functions
// call` send for a user account.
const GcloudClientID = "32555940559.apps.googleusercontent.com"

// LocalDev is the name of the principal of unauthenticated loopback requests
// in local mode.
const LocalDev = "local-dev"

// signatureRemoved is what Cloud Run puts in place of the signature of the
// token it verified for its invoker check.
const signatureRemoved = "SIGNATURE_REMOVED_BY_GOOGLE"

// The headers that carry ID tokens.
const (
	headerAuthorization = "Authorization"
	headerServerless    = "X-Serverless-Authorization"
)

// HeaderIAPAssertion is the header in which Identity-Aware Proxy forwards
// its signed assertion of the caller's identity (a bare JWT, no scheme).
const HeaderIAPAssertion = "X-Goog-IAP-JWT-Assertion"

// iapIssuer is the iss claim of IAP's assertions.
const iapIssuer = "https://cloud.google.com/iap"

// iapSkew is how far in the future an IAP assertion's iat may lie, for
// clock skew between IAP and this instance.
const iapSkew = 30 * time.Second

// maxTokenLen bounds the work done on a header before it is rejected; Google
// ID tokens are about 1 KiB.
const maxTokenLen = 16 << 10

// Role is a permission granted to principals by configuration.
type Role int

// Roles. The zero Role is deliberately not a role: asking for it is denied,
// so a forgotten argument fails closed.
const (
	RoleAdmin Role = iota + 1 // manages connectors (connectors-* functions)
	RoleAgent                 // mints credentials and uses files (token, files)
)

func (r Role) String() string {
	switch r {
	case RoleAdmin:
		return "admin"
	case RoleAgent:
		return "agent"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Principal is an authenticated caller.
type Principal struct {
	// Email is the verified email claim of the token, lower-cased, or
	// LocalDev.
	Email string
	// Roles are the roles configuration grants to Email.
	Roles []Role
	// Local marks the local-dev principal of a local run.
	Local bool
}

// Name returns the principal's name, as recorded in createdBy/updatedBy and
// the audit log: the email, or LocalDev.
func (p Principal) Name() string { return p.Email }

// String returns Name, so that %v of a principal logs its name.
func (p Principal) String() string { return p.Name() }

// Has reports whether p holds role r.
func (p Principal) Has(r Role) bool {
	for _, have := range p.Roles {
		if have == r {
			return true
		}
	}
	return false
}

// Config says whom to trust.
type Config struct {
	// Audience and Audiences are the aud claims tokens may carry: the
	// function's own URLs (see "Audience" in the package documentation).
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
	// (see "Trusting Cloud Run's invoker check" in the package
	// documentation). Set it only for private services that are reachable
	// only through Cloud Run's front end; it cannot be combined with Local.
	TrustCloudRunIAM bool
	// IAPAudiences, when not empty, makes Authenticate verify IAP's signed
	// X-Goog-IAP-JWT-Assertion and accept it when its aud is one of these:
	// "/projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID" for a
	// load balancer's backend service, "/projects/PROJECT_NUMBER/apps/PROJECT_ID"
	// for App Engine. When empty, that header is ignored. See
	// "Identity-Aware Proxy" in the package documentation.
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

// keysClient returns a copy of c (or a default client) whose transport turns
// non-200 answers into transport errors. idtoken reports them as plain
// strings; as transport errors they surface as *url.Error, which is how
// Authenticate tells "Google's keys are unreachable" (503) from "the token
// is bad" (401).
func keysClient(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		out.Timeout = 10 * time.Second
	}
	base := out.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out.Transport = statusTransport{base}
	return &out
}

type statusTransport struct{ base http.RoundTripper }

func (t statusTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("unexpected status %s", resp.Status)
	}
	return resp, nil
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

// Unwrap returns Kind. Underlying causes are folded into Reason (after
// redaction) rather than exposed, so that no wrapped error can carry the
// token out.
func (e *Error) Unwrap() error { return e.Kind }

// HTTPStatus returns the status that e maps to.
func (e *Error) HTTPStatus() int { return HTTPStatus(e) }

// HTTPStatus maps an error from this package to its HTTP status: 401, 403 or
// 503; any other error maps to 500.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrPermissionDenied):
		return http.StatusForbidden
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

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
var localDevRoles = []Role{RoleAdmin, RoleAgent}

func (a *Authenticator) identify(r *http.Request) (Principal, error) {
	if len(a.iapAudiences) > 0 {
		// IAP vouches for this request; its assertion alone names the
		// caller. A refused assertion is final: falling back to another
		// header would let a caller who bypassed IAP choose the identity.
		if iap := r.Header.Values(HeaderIAPAssertion); len(iap) > 0 {
			return a.iapPrincipal(r, iap)
		}
	}
	authz := r.Header.Values(headerAuthorization)
	serverless := r.Header.Values(headerServerless)
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

func (a *Authenticator) principalOf(r *http.Request, header, token string, trustStripped bool) (Principal, error) {
	email, err := a.verify(r, header, token, trustStripped)
	if err != nil {
		return Principal{}, err
	}
	return a.principal(email), nil
}

// headerToken returns the bearer token of the header name, given its values.
func headerToken(name string, values []string) (string, error) {
	if len(values) > 1 {
		return "", fail(ErrUnauthenticated, "", "more than one %s header", name)
	}
	token, err := bearer(name, values[0])
	if err != nil {
		return "", fail(ErrUnauthenticated, values[0], "%v", err)
	}
	return token, nil
}

// bearer extracts the token of an RFC 6750 "Bearer" credential from the
// value h of the header name.
func bearer(name, h string) (string, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	token = strings.TrimSpace(token)
	switch {
	case !ok || !strings.EqualFold(scheme, "Bearer") || token == "":
		return "", fmt.Errorf("the %s header must be \"Bearer <Google ID token>\"", name)
	case len(token) > maxTokenLen:
		return "", fmt.Errorf("the bearer token in %s is longer than %d bytes", name, maxTokenLen)
	case strings.ContainsAny(token, " \t"):
		return "", fmt.Errorf("the bearer token in %s contains whitespace", name)
	}
	return token, nil
}

// isStripped reports whether token is in the form Cloud Run forwards after
// checking it: three segments, the last one signatureRemoved.
func isStripped(token string) bool {
	parts := strings.Split(token, ".")
	return len(parts) == 3 && parts[2] == signatureRemoved
}

// verify checks token, which came in header, and returns its lower-cased
// email claim. trustStripped accepts a token whose signature Cloud Run
// removed, without a signature check; see the package documentation for
// when that is right.
func (a *Authenticator) verify(r *http.Request, header, token string, trustStripped bool) (string, error) {
	// Read the unverified claims first: it picks the audience to verify
	// against (when derived, several are acceptable) and gives precise
	// reasons. Nothing is trusted until Validate has checked the signature
	// (or, for a trusted stripped token, until every other check passed).
	claims, err := idtoken.ParsePayload(token)
	if err != nil {
		return "", fail(ErrUnauthenticated, token, "the bearer token in %s is not a well-formed JWT", header)
	}
	stripped := isStripped(token)
	if stripped && !trustStripped {
		return "", fail(ErrUnauthenticated, token, "%s", strippedReason(header))
	}
	// A stripped token's audience was checked by Cloud Run against what it
	// accepts for the service; it is checked here too, against this
	// function's own URLs and client IDs, so that a token minted for
	// another function is refused whatever Cloud Run accepted.
	if err := a.checkAudience(r, claims.Audience); err != nil {
		return "", fail(ErrUnauthenticated, token, "%v", err)
	}
	if err := checkIssuer(claims.Issuer); err != nil {
		return "", fail(ErrUnauthenticated, token, "%v", err)
	}
	if claims.Expires == 0 {
		return "", fail(ErrUnauthenticated, token, "the token has no expiry")
	}
	if exp := time.Unix(claims.Expires, 0); !time.Now().Before(exp) {
		return "", fail(ErrUnauthenticated, token, "the token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if stripped {
		// Cloud Run's invoker check verified the signature before removing
		// it; every other check above and below is ours.
		email, err := checkEmail(claims.Claims)
		if err != nil {
			return "", fail(ErrUnauthenticated, token, "%v", err)
		}
		return email, nil
	}

	// Google signs ID tokens with RS256 only. idtoken would also accept
	// ES256, against IAP's keys; IAP's assertions are handled apart.
	if err := checkAlg(token, "RS256"); err != nil {
		return "", fail(ErrUnauthenticated, token, "token verification failed: %v", err)
	}
	verified, err := a.validate(r.Context(), token, claims.Audience)
	if err != nil {
		return "", err
	}

	// Re-check on the verified payload: the checks above were on claims
	// not yet known to be Google's.
	if err := checkIssuer(verified.Issuer); err != nil {
		return "", fail(ErrUnauthenticated, token, "%v", err)
	}
	email, err := checkEmail(verified.Claims)
	if err != nil {
		return "", fail(ErrUnauthenticated, token, "%v", err)
	}
	return email, nil
}

// validate checks token's signature against Google's published keys (RS256
// or ES256, as its header says), that its aud is audience and that it has
// not expired, and returns its payload. It fails with ErrUnavailable when
// the keys cannot be fetched.
func (a *Authenticator) validate(ctx context.Context, token, audience string) (*idtoken.Payload, error) {
	v, err := a.validator()
	if err != nil {
		return nil, fail(ErrUnavailable, token, "%v", err)
	}
	verified, err := v.Validate(ctx, token, audience)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fail(ErrUnavailable, token, "fetching Google's token-signing keys: %v", err)
		}
		return nil, fail(ErrUnauthenticated, token, "token verification failed: %v", err)
	}
	return verified, nil
}

// checkAlg makes sure the JWT token is signed with alg, and for ES256 that
// its signature has the 64 bytes idtoken's verifier slices without checking.
func checkAlg(token, alg string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("the token is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return errors.New("the token's header is not base64url")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(raw, &header); err != nil {
		return errors.New("the token's header is not JSON")
	}
	if header.Alg != alg {
		return fmt.Errorf("the token is signed with %s, not %s", clip(header.Alg), alg)
	}
	if alg == "ES256" {
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || len(sig) != 64 {
			return errors.New("the token's signature is not an ES256 signature")
		}
	}
	return nil
}

// iapPrincipal authenticates a request by IAP's assertion, given the values
// of its X-Goog-IAP-JWT-Assertion header.
func (a *Authenticator) iapPrincipal(r *http.Request, values []string) (Principal, error) {
	if len(values) > 1 {
		return Principal{}, fail(ErrUnauthenticated, "", "more than one %s header", HeaderIAPAssertion)
	}
	token := strings.TrimSpace(values[0])
	switch {
	case token == "":
		return Principal{}, fail(ErrUnauthenticated, "", "the %s header is empty", HeaderIAPAssertion)
	case len(token) > maxTokenLen:
		return Principal{}, fail(ErrUnauthenticated, "", "the %s header is longer than %d bytes", HeaderIAPAssertion, maxTokenLen)
	case strings.ContainsAny(token, " \t"):
		return Principal{}, fail(ErrUnauthenticated, token, "the %s header contains whitespace; it must be IAP's bare JWT", HeaderIAPAssertion)
	}
	email, err := a.verifyIAP(r.Context(), token)
	if err != nil {
		return Principal{}, err
	}
	return a.principal(email), nil
}

// verifyIAP checks an IAP assertion (see "Identity-Aware Proxy" in the
// package documentation) and returns its lower-cased email claim.
func (a *Authenticator) verifyIAP(ctx context.Context, token string) (string, error) {
	// As in verify, the unverified claims pick the audience to verify
	// against (one of several configured, so that the keys are consulted
	// once) and give precise reasons; nothing is trusted before Validate.
	claims, err := idtoken.ParsePayload(token)
	if err != nil {
		return "", fail(ErrUnauthenticated, token, "the IAP assertion in %s is not a well-formed JWT", HeaderIAPAssertion)
	}
	if err := checkAlg(token, "ES256"); err != nil {
		return "", fail(ErrUnauthenticated, token, "IAP assertion verification failed: %v", err)
	}
	if err := a.checkIAPClaims(claims); err != nil {
		return "", fail(ErrUnauthenticated, token, "%v", err)
	}
	verified, err := a.validate(ctx, token, claims.Audience)
	if err != nil {
		return "", err
	}
	// Re-check on the verified payload.
	if err := a.checkIAPClaims(verified); err != nil {
		return "", fail(ErrUnauthenticated, token, "%v", err)
	}
	email, err := checkIAPEmail(verified.Claims)
	if err != nil {
		return "", fail(ErrUnauthenticated, token, "%v", err)
	}
	return email, nil
}

// checkIAPClaims checks an IAP assertion's registered claims.
func (a *Authenticator) checkIAPClaims(claims *idtoken.Payload) error {
	now := time.Now()
	switch {
	case claims.Audience == "":
		return errors.New("the IAP assertion has no audience")
	case !a.iapAudiences[claims.Audience]:
		return fmt.Errorf("the IAP assertion's audience %s is not one of this function's backend services (%s)", clip(claims.Audience), EnvIAPAudiences)
	case claims.Issuer != iapIssuer:
		return fmt.Errorf("the IAP assertion's issuer %s is not %s", clip(claims.Issuer), iapIssuer)
	case claims.Expires == 0:
		return errors.New("the IAP assertion has no expiry")
	case !now.Before(time.Unix(claims.Expires, 0)):
		return fmt.Errorf("the IAP assertion expired at %s", time.Unix(claims.Expires, 0).UTC().Format(time.RFC3339))
	case claims.IssuedAt == 0:
		return errors.New("the IAP assertion has no issue time")
	case time.Unix(claims.IssuedAt, 0).After(now.Add(iapSkew)):
		return fmt.Errorf("the IAP assertion was issued in the future, at %s", time.Unix(claims.IssuedAt, 0).UTC().Format(time.RFC3339))
	case claims.Subject == "":
		return errors.New("the IAP assertion has no subject")
	}
	return nil
}

// checkIAPEmail returns the email claim of a verified IAP assertion. It must
// be a plain address of a Google identity: the prefixed forms of IAP's
// unsigned headers ("accounts.google.com:a@example.com") and Identity
// Platform identities are refused rather than mapped onto Google accounts.
func checkIAPEmail(claims map[string]any) (string, error) {
	if _, ok := claims["gcip"]; ok {
		return "", errors.New("the IAP assertion is for an Identity Platform (external) identity; only Google identities are accepted")
	}
	if e, _ := claims["email"].(string); strings.TrimSpace(e) == "" {
		return "", errors.New("the IAP assertion has no email claim")
	}
	email, err := checkEmail(claims)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(email, ": \t/") || strings.Count(email, "@") != 1 {
		return "", fmt.Errorf("the IAP assertion's email %s is not a plain email address", clip(email))
	}
	return email, nil
}

// strippedReason explains why a stripped token in header was refused.
func strippedReason(header string) string {
	const removed = "the token's signature was removed by Cloud Run, which checked it for the invoker role; "
	if header == headerServerless {
		return removed + "send the same ID token in Authorization too, which Cloud Run passes through intact"
	}
	return removed + "send the same ID token in X-Serverless-Authorization too, so that Authorization reaches the function intact " +
		"(or deploy the function privately with " + EnvTrustCloudRunIAM + "=true)"
}

// checkAudience accepts aud when it names this function or an allow-listed
// client ID (see "Audience" in the package documentation).
func (a *Authenticator) checkAudience(r *http.Request, aud string) error {
	if aud == "" {
		return errors.New("the token has no audience")
	}
	if a.clientIDs[aud] {
		return nil
	}
	want := strings.TrimSuffix(aud, "/")
	if a.audiences[want] {
		return nil
	}
	host := strings.ToLower(r.Host)
	if a.service != "" {
		if host != "" && (want == "https://"+host && isRunAppHostOf(host, a.service) ||
			strings.HasSuffix(host, ".cloudfunctions.net") && want == "https://"+host+"/"+a.service) {
			return nil
		}
		return fmt.Errorf("the token's audience %s is not one of this function's URLs; mint it for %s", clip(aud), a.ownURLs(host))
	}
	if len(a.audiences) > 0 {
		return fmt.Errorf("the token's audience %s is not one of this function's URLs; mint it for %s", clip(aud), a.ownURLs(host))
	}
	if host == "" {
		return errors.New("the request has no Host to derive the expected audience from")
	}
	origin := "https://" + host
	full := origin + strings.TrimSuffix(r.URL.EscapedPath(), "/")
	if want == origin && strings.HasSuffix(host, ".run.app") {
		// A run.app host names one service.
		return nil
	}
	if strings.HasPrefix(want, origin+"/") && (full == want || strings.HasPrefix(full, want+"/")) {
		return nil
	}
	if want == origin {
		return fmt.Errorf("the token's audience %s is the bare origin, which every function behind %s shares; mint it for this function's URL %s", clip(aud), host, full)
	}
	return fmt.Errorf("the token's audience %s is not this function's URL %s", clip(aud), full)
}

// ownURLs lists the audiences a caller may mint for, for an error message.
func (a *Authenticator) ownURLs(host string) string {
	var urls []string
	for u := range a.audiences {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	if a.service != "" && isRunAppHostOf(host, a.service) {
		urls = append(urls, "https://"+host)
	}
	if len(urls) == 0 {
		return "this function's URL"
	}
	return strings.Join(urls, " or ")
}

// serviceName is a Cloud Run service name (and so a gen2 function's).
var serviceName = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// runAppSuffix matches what follows "SERVICE-" in a run.app host name:
// "HASH-REGIONCODE.a.run.app" (e.g. "abc123xyz0-ew.a.run.app") or
// "PROJECT_NUMBER.REGION.run.app" (e.g. "123456789012.europe-west1.run.app").
var runAppSuffix = regexp.MustCompile(`^(?:[a-z0-9]+-[a-z]{2,4}\.a\.run\.app|[0-9]+\.[a-z]+-[a-z]+[0-9]+\.run\.app)$`)

// isRunAppHostOf reports whether host is one of service's run.app host names.
func isRunAppHostOf(host, service string) bool {
	rest, ok := strings.CutPrefix(host, service+"-")
	return ok && runAppSuffix.MatchString(rest)
}

// checkFunctionAudience rejects a configured audience that is not one URL,
// or that every function of a project shares.
func checkFunctionAudience(aud string) error {
	u, err := url.Parse(aud)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(aud, " \t,"):
		return fmt.Errorf("audience %s is not one https:// URL", clip(aud))
	case strings.HasSuffix(strings.ToLower(u.Host), ".cloudfunctions.net") && strings.Trim(u.Path, "/") == "":
		return fmt.Errorf("audience %s is the origin every function of the project shares; use https://%s/FUNCTION_NAME", clip(aud), u.Host)
	}
	return nil
}

func checkIssuer(iss string) error {
	// Google ID tokens carry either form (OpenID Connect discovery lists
	// the https one; older tokens use the bare host).
	if iss != "https://accounts.google.com" && iss != "accounts.google.com" {
		return fmt.Errorf("the token's issuer %s is not Google accounts", clip(iss))
	}
	return nil
}

// checkEmail returns the email claim, which is the principal's name, after
// making sure Google vouches for it.
func checkEmail(claims map[string]any) (string, error) {
	email, _ := claims["email"].(string)
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return "", errors.New("the token has no email claim; mint it with the email included")
	}
	if v, present := claims["email_verified"]; present {
		// Some Google tokens have carried the flag as a string.
		if v != true && v != "true" {
			return "", errors.New("the token's email is not verified")
		}
	}
	return email, nil
}

// clip quotes an untrusted claim for an error message, bounded in length.
func clip(s string) string {
	const limit = 100
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return fmt.Sprintf("%q", s)
}

func (a *Authenticator) principal(email string) Principal {
	p := Principal{Email: email}
	if a.admins[email] {
		p.Roles = append(p.Roles, RoleAdmin)
	}
	if a.agents[email] {
		p.Roles = append(p.Roles, RoleAgent)
	}
	return p
}

// MayActFor reports whether p may act for the agent ID agent. Without agent
// bindings every agent principal may act for every agent; with bindings, p
// must be bound to agent (an agent missing from the bindings has nobody).
// The local-dev principal may act for any agent.
func (a *Authenticator) MayActFor(p Principal, agent string) bool {
	if agent == "" {
		return false
	}
	if p.Local {
		return a.local
	}
	if !p.Has(RoleAgent) {
		return false
	}
	if len(a.bindings) == 0 {
		return true
	}
	return a.bindings[agent][strings.ToLower(p.Email)]
}

// Unbound reports whether agent IDs are bound to no principals outside a
// local run: then every agent principal may act for every agent ID, and a
// connector's agents list does not separate one agent runtime from another.
// Deployments log a warning at start in this mode.
func (a *Authenticator) Unbound() bool {
	return len(a.bindings) == 0 && !a.local
}

// isLoopback reports whether a RemoteAddr ("host:port") is a loopback
// address: 127.0.0.0/8, ::1, or IPv4 loopback mapped into IPv6.
func isLoopback(remoteAddr string) bool {
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
