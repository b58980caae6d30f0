package files

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/objects"
)

// DefaultAccessEnv names the admin setting that lends the deployment's own
// storage identity to agents (Options.DefaultAccess).
const DefaultAccessEnv = "CONNECTORS_FILES_DEFAULT_ACCESS"

// Location is a bucket, or a folder in one, that the default identity may
// be used on. Prefix is "" (the whole bucket) or ends in "/".
type Location struct {
	Scheme, Bucket, Prefix string
}

func (l Location) String() string { return l.Scheme + "://" + l.Bucket + "/" + l.Prefix }

// contains reports whether u lies inside l. A prefix is a folder: gs://b/pre
// admits gs://b/pre/… only, never gs://b/prefix-other/… nor gs://b/pre
// itself, so that listing "pre" (which the provider matches as a plain
// string prefix) cannot reach beyond it. Keys are taken literally and
// ParseURI has refused "." and ".." segments, so no spelling of a key
// leaves the folder once it starts with it.
func (l Location) contains(u objects.URI) bool {
	return u.Scheme == l.Scheme && u.Bucket == l.Bucket && strings.HasPrefix(u.Key, l.Prefix)
}

// DefaultAccess maps an agent ID to the locations where requests without a
// connector may use the deployment's credentials. Empty: nobody may.
type DefaultAccess map[string][]Location

// ParseDefaultAccess reads "agent=gs://bucket[/prefix]|s3://bucket;agent2=…",
// the same shape as CONNECTORS_AGENT_BINDINGS. Errors quote the bad part,
// which is configuration, never a secret.
func ParseDefaultAccess(v string) (DefaultAccess, error) {
	out := DefaultAccess{}
	for entry := range strings.SplitSeq(v, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		agent, list, ok := strings.Cut(entry, "=")
		agent = strings.TrimSpace(agent)
		if !ok || strings.TrimSpace(list) == "" {
			return nil, fmt.Errorf("%q must be AGENT=gs://BUCKET[/PREFIX]|s3://BUCKET[/PREFIX]", entry)
		}
		if err := connector.ValidateAgent("agent", agent); err != nil {
			return nil, fmt.Errorf("%q is not an agent ID", agent)
		}
		if _, dup := out[agent]; dup {
			return nil, fmt.Errorf("agent %q is listed twice; list all its locations in one entry, separated by |", agent)
		}
		for raw := range strings.SplitSeq(list, "|") {
			raw = strings.TrimSpace(raw)
			u, err := objects.ParseURI(raw)
			if err != nil {
				return nil, fmt.Errorf("agent %q: location %q: %w", agent, raw, err)
			}
			l := Location{Scheme: u.Scheme, Bucket: u.Bucket, Prefix: u.Key}
			if l.Prefix != "" && !strings.HasSuffix(l.Prefix, "/") {
				l.Prefix += "/"
			}
			out[agent] = append(out[agent], l)
		}
	}
	return out, nil
}

// allows reports whether agent may use the default identity on u.
func (d DefaultAccess) allows(agent string, u objects.URI) bool {
	return slices.ContainsFunc(d[agent], func(l Location) bool { return l.contains(u) })
}

// checkDefaultAccess decides a request without a connector before any
// storage client exists: buckets are never created, nor shared, with the
// deployment's identity, and everything else needs the admin's mapping.
func (s *Server) checkDefaultAccess(req *request, u objects.URI) error {
	switch req.Op {
	case OpCreateBucket, OpGrantAccess:
		return httpx.Errorf(http.StatusForbidden, httpx.CodePermissionDenied,
			"%s needs a connector: the deployment's own storage identity never creates or shares buckets", req.Op)
	}
	if !s.Options.DefaultAccess.allows(req.Agent, u) {
		return httpx.Errorf(http.StatusForbidden, httpx.CodePermissionDenied,
			"agent %s may not use %s without a connector: name a connector, or ask an admin to add the location to %s", req.Agent, u, DefaultAccessEnv)
	}
	return nil
}
