package auth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Environment variables read by ConfigFromEnv.
const (
	// EnvAudience is Config.Audiences, comma-separated: the function's
	// URLs (Terraform sets its cloudfunctions.net and run.app URLs), or
	// empty to derive them (see "Audience, in order" in docs/security.md).
	EnvAudience = "CONNECTORS_AUDIENCE"
	// EnvService is Config.Service: the Cloud Run service name, which
	// Cloud Run sets for every service (a gen2 function's name).
	EnvService = "K_SERVICE"
	// EnvClientIDs is Config.ClientIDs, comma-separated: OAuth client IDs
	// accepted as a token's audience. Unset or empty: gcloud's alone
	// (GcloudClientID); "none": none.
	EnvClientIDs = "CONNECTORS_CLIENT_IDS"
	// EnvAdmins is Config.Admins, comma-separated.
	EnvAdmins = "CONNECTORS_ADMINS"
	// EnvAgentPrincipals is Config.Agents, comma-separated.
	EnvAgentPrincipals = "CONNECTORS_AGENT_PRINCIPALS"
	// EnvSchedulerPrincipals is Config.Schedulers, comma-separated.
	EnvSchedulerPrincipals = "CONNECTORS_SCHEDULER_PRINCIPALS"
	// EnvAgentBindings is Config.AgentBindings in the form
	//
	//	agentA=member1|member2;agentB=member3
	//
	// Bindings are separated by ";", an agent ID and its principals by the
	// first "=", principals by "|". None of these characters occurs in an
	// email or an IAM member, and none is gcloud's --set-env-vars separator
	// (","), so the value needs no escaping there. Blank space around any
	// item is ignored, as are empty bindings (a trailing ";").
	EnvAgentBindings = "CONNECTORS_AGENT_BINDINGS"
	// EnvTrustCloudRunIAM is Config.TrustCloudRunIAM, in any form
	// strconv.ParseBool accepts ("true", "1", ...); unset or empty is false.
	// Set it only on private services (see docs/security.md).
	EnvTrustCloudRunIAM = "CONNECTORS_TRUST_CLOUD_RUN_IAM"
	// EnvIAPAudiences is Config.IAPAudiences, comma-separated: the
	// audiences of IAP's assertions, "/projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID"
	// or "/projects/PROJECT_NUMBER/apps/PROJECT_ID". Unset or empty leaves
	// X-Goog-IAP-JWT-Assertion ignored (see docs/security.md).
	EnvIAPAudiences = "CONNECTORS_IAP_AUDIENCES"
)

// ConfigFromEnv reads a Config from the environment through getenv
// (os.Getenv in production, a map lookup in tests). Members may be plain
// emails or IAM members ("user:", "serviceAccount:"); the prefix is
// stripped. Unset variables leave their field empty; Local is never set
// from the environment, only by the local runner. Errors name the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var cfg Config
	var err error
	if cfg.Audiences, err = parseAudiences(getenv(EnvAudience), checkFunctionAudience); err != nil {
		return Config{}, fmt.Errorf("auth: %s: %w", EnvAudience, err)
	}
	cfg.Service = strings.TrimSpace(getenv(EnvService))
	if v := strings.TrimSpace(getenv(EnvClientIDs)); v == "none" {
		cfg.ClientIDs = []string{}
	} else if v != "" {
		for item := range strings.SplitSeq(v, ",") {
			if id := strings.TrimSpace(item); id != "" {
				cfg.ClientIDs = append(cfg.ClientIDs, id)
			}
		}
	}
	if cfg.Admins, err = parseMemberList(getenv(EnvAdmins), ","); err != nil {
		return Config{}, fmt.Errorf("auth: %s: %w", EnvAdmins, err)
	}
	if cfg.Agents, err = parseMemberList(getenv(EnvAgentPrincipals), ","); err != nil {
		return Config{}, fmt.Errorf("auth: %s: %w", EnvAgentPrincipals, err)
	}
	if cfg.Schedulers, err = parseMemberList(getenv(EnvSchedulerPrincipals), ","); err != nil {
		return Config{}, fmt.Errorf("auth: %s: %w", EnvSchedulerPrincipals, err)
	}
	if cfg.AgentBindings, err = parseBindings(getenv(EnvAgentBindings)); err != nil {
		return Config{}, fmt.Errorf("auth: %s: %w", EnvAgentBindings, err)
	}
	if v := strings.TrimSpace(getenv(EnvTrustCloudRunIAM)); v != "" {
		if cfg.TrustCloudRunIAM, err = strconv.ParseBool(v); err != nil {
			return Config{}, fmt.Errorf("auth: %s: want true or false, got %q", EnvTrustCloudRunIAM, v)
		}
	}
	if cfg.IAPAudiences, err = parseAudiences(getenv(EnvIAPAudiences), checkIAPAudience); err != nil {
		return Config{}, fmt.Errorf("auth: %s: %w", EnvIAPAudiences, err)
	}
	return cfg, nil
}

// parseAudiences splits a comma-separated list, skipping empty items, and
// checks each audience; nil when there is none.
func parseAudiences(list string, check func(string) error) ([]string, error) {
	var auds []string
	for item := range strings.SplitSeq(list, ",") {
		aud := strings.TrimSpace(item)
		if aud == "" {
			continue
		}
		if err := check(aud); err != nil {
			return nil, err
		}
		auds = append(auds, aud)
	}
	return auds, nil
}

// parseMemberList splits s on sep into normalised members, skipping empty
// items so that a trailing separator is harmless.
func parseMemberList(s, sep string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(s, sep) {
		if strings.TrimSpace(item) == "" {
			continue
		}
		m, err := parseMember(item)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func parseBindings(s string) (map[string][]string, error) {
	out := map[string][]string{}
	for binding := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(binding) == "" {
			continue
		}
		agent, members, ok := strings.Cut(binding, "=")
		agent = strings.TrimSpace(agent)
		if !ok {
			return nil, fmt.Errorf("binding %q: want agentID=member|member", binding)
		}
		if err := checkAgentID(agent); err != nil {
			return nil, fmt.Errorf("binding %q: %w", binding, err)
		}
		if _, dup := out[agent]; dup {
			// Merging silently would hide a copy-paste mistake.
			return nil, fmt.Errorf("agent %q is bound twice", agent)
		}
		list, err := parseMemberList(members, "|")
		if err != nil {
			return nil, fmt.Errorf("agent %q: %w", agent, err)
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("agent %q: no principals", agent)
		}
		out[agent] = list
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseMember normalises one principal to the lower-cased email that ID
// tokens carry. Only users and service accounts can be checked against a
// token's email; group and domain members cannot, so they are refused
// rather than never matching.
func parseMember(s string) (string, error) {
	m := strings.TrimSpace(s)
	if kind, rest, ok := strings.Cut(m, ":"); ok {
		switch kind {
		case "user", "serviceAccount":
			m = rest
		default:
			return "", fmt.Errorf("member %q: only user: and serviceAccount: members (or plain emails) can be matched against an ID token", m)
		}
	}
	local, domain, ok := strings.Cut(m, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(m, " \t,;|=") || strings.Count(m, "@") != 1 {
		return "", fmt.Errorf("member %q is not an email address", m)
	}
	return strings.ToLower(m), nil
}

func addMembers(set map[string]bool, members []string) error {
	for _, s := range members {
		m, err := parseMember(s)
		if err != nil {
			return err
		}
		set[m] = true
	}
	return nil
}

// checkAgentID rejects IDs that could not be written in EnvAgentBindings or
// that are surely mistakes.
func checkAgentID(id string) error {
	switch {
	case id == "":
		return errors.New("empty agent ID")
	case strings.ContainsAny(id, ";|="):
		return fmt.Errorf("agent ID %q contains one of the separators ;|=", id)
	case strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("agent ID %q contains spaces or control characters", id)
	}
	return nil
}
