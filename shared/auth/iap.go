package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"regexp"
	"strings"
	"time"

	"google.golang.org/api/idtoken"
)

// HeaderIAPAssertion is the header in which Identity-Aware Proxy forwards
// its signed assertion of the caller's identity (a bare JWT, no scheme).
const HeaderIAPAssertion = "X-Goog-IAP-JWT-Assertion"

// canonicalIAPAssertion is HeaderIAPAssertion as a key of http.Header.
var canonicalIAPAssertion = textproto.CanonicalMIMEHeaderKey(HeaderIAPAssertion)

// iapIssuer is the iss claim of IAP's assertions.
const iapIssuer = "https://cloud.google.com/iap"

// iapSkew is how far in the future an IAP assertion's iat may lie, for
// clock skew between IAP and this instance.
const iapSkew = 30 * time.Second

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

// verifyIAP checks an IAP assertion (see "Identity-Aware Proxy" in
// docs/security.md) and returns its lower-cased email claim.
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

// The audiences of IAP's assertions: a load balancer's backend service, or an
// App Engine app (whose project ID may be domain-scoped, "example.com:proj").
var (
	iapBackendServiceAudience = regexp.MustCompile(`^/projects/[0-9]{1,20}/global/backendServices/[0-9]{1,20}$`)
	iapAppEngineAudience      = regexp.MustCompile(`^/projects/[0-9]{1,20}/apps/(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
)

// checkIAPAudience rejects what cannot be the aud of an IAP assertion, so
// that a typo (a project ID for a number, a URL, a missing slash) surfaces
// at start-up rather than as every console call refused.
func checkIAPAudience(aud string) error {
	if iapBackendServiceAudience.MatchString(aud) || iapAppEngineAudience.MatchString(aud) {
		return nil
	}
	return fmt.Errorf("IAP audience %s is neither /projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID "+
		"nor /projects/PROJECT_NUMBER/apps/PROJECT_ID", clip(aud))
}
