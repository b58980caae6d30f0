package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// GcloudClientID is the OAuth client ID of the Google Cloud SDK: the aud of
// the ID tokens `gcloud auth print-identity-token` and `gcloud functions
// call` send for a user account.
const GcloudClientID = "32555940559.apps.googleusercontent.com"

// checkAudience accepts aud when it names this function or an allow-listed
// client ID, in the order "Audience, in order" in docs/security.md gives.
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
