package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/api/idtoken"
)

// signatureRemoved is what Cloud Run puts in place of the signature of the
// token it verified for its invoker check.
const signatureRemoved = "SIGNATURE_REMOVED_BY_GOOGLE"

// The headers that carry ID tokens.
const (
	headerAuthorization = "Authorization"
	headerServerless    = "X-Serverless-Authorization"
)

// maxTokenLen bounds the work done on a header before it is rejected; Google
// ID tokens are about 1 KiB.
const maxTokenLen = 16 << 10

// principalOf verifies the ID token that came in header and returns the
// principal it names.
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
// removed, without a signature check; "Trusting Cloud Run's invoker check"
// in docs/security.md says when that is right.
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

// strippedReason explains why a stripped token in header was refused.
func strippedReason(header string) string {
	const removed = "the token's signature was removed by Cloud Run, which checked it for the invoker role; "
	if header == headerServerless {
		return removed + "send the same ID token in Authorization too, which Cloud Run passes through intact"
	}
	return removed + "send the same ID token in X-Serverless-Authorization too, so that Authorization reaches the function intact " +
		"(or deploy the function privately with " + EnvTrustCloudRunIAM + "=true)"
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
