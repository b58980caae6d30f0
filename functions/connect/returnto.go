package connect

import (
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/netguard"
)

// requestOrigin is the origin the request reached: http on a loopback
// host (the local run), https otherwise (Cloud Run and the load balancer
// terminate TLS).
func requestOrigin(r *http.Request) string {
	if u, err := url.Parse("//" + r.Host); err == nil && netguard.IsLoopbackHost(u.Hostname()) {
		return "http://" + r.Host
	}
	return "https://" + r.Host
}

func (s *Server) redirectURI(r *http.Request) string {
	if s.RedirectURL != "" {
		return s.RedirectURL
	}
	return requestOrigin(r) + "/" + FnCallback
}

// console returns the console's origin and path.
func (s *Server) console(r *http.Request) (origin, path string) {
	raw := s.ConsoleURL
	if raw == "" {
		raw = requestOrigin(r) + "/console"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "/"
	}
	return u.Scheme + "://" + u.Host, u.Path
}

// returnTo resolves where the callback sends the admin back to: the
// console page, or a path under it (a path, or an absolute URL on the
// console's origin), never anywhere else, so that the callback cannot be
// made an open redirect. The answer is absolute.
func (s *Server) returnTo(r *http.Request, raw string) (string, error) {
	origin, base := s.console(r)
	if raw == "" {
		return origin + base, nil
	}
	bad := func(msg string) error { return httpx.FieldError("returnTo", "%s", msg) }
	if len(raw) > 2048 || strings.ContainsAny(raw, "\\#") || strings.IndexFunc(raw, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) >= 0 {
		return "", bad("must be a path under the console or a URL on its origin, without a fragment, backslash or spaces")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad("is not a URL")
	}
	if u.IsAbs() || u.Host != "" || strings.HasPrefix(raw, "//") {
		if !strings.EqualFold(u.Scheme+"://"+u.Host, origin) || u.User != nil {
			return "", bad("must be on the console's origin " + origin)
		}
	} else if !strings.HasPrefix(raw, "/") {
		return "", bad("must be an absolute path starting with /")
	}
	p := u.EscapedPath()
	if p != base && !strings.HasPrefix(p, strings.TrimSuffix(base, "/")+"/") {
		return "", bad("must lie under the console's path " + base)
	}
	if strings.Contains(p, "/..") || strings.Contains(strings.ToLower(p), "%2e") || strings.Contains(p, "//") {
		return "", bad("must not contain dot segments or empty segments")
	}
	out := origin + p
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out, nil
}

// back is the redirect to returnTo with the outcome in the fragment,
// which the console reads and no server sees.
func back(w http.ResponseWriter, r *http.Request, returnTo string, outcome url.Values) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, returnTo+"#"+outcome.Encode(), http.StatusSeeOther)
}
