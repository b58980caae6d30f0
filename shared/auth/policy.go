package auth

import (
	"fmt"
	"strings"
)

// Role is a permission granted to principals by configuration.
type Role int

// Roles. The zero Role is deliberately not a role: asking for it is denied,
// so a forgotten argument fails closed.
const (
	RoleAdmin Role = iota + 1 // manages connectors (connectors-* functions)
	RoleAgent                 // mints credentials and uses files (token, files)
	// RoleScheduler runs scheduled maintenance (the maintenance function):
	// Cloud Scheduler's service account, and nobody else.
	RoleScheduler
)

func (r Role) String() string {
	switch r {
	case RoleAdmin:
		return "admin"
	case RoleAgent:
		return "agent"
	case RoleScheduler:
		return "scheduler"
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

func (a *Authenticator) principal(email string) Principal {
	p := Principal{Email: email}
	if a.admins[email] {
		p.Roles = append(p.Roles, RoleAdmin)
	}
	if a.agents[email] {
		p.Roles = append(p.Roles, RoleAgent)
	}
	if a.schedulers[email] {
		p.Roles = append(p.Roles, RoleScheduler)
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

// SoleAgent returns the agent ID p is bound to when agent bindings bind p
// to exactly one, so that a caller with one agent need not name it (the
// mcp function). Without bindings, for the local-dev principal, or for a
// principal bound to several agents or none, it returns false: the caller
// must name the agent.
func (a *Authenticator) SoleAgent(p Principal) (string, bool) {
	if p.Local || !p.Has(RoleAgent) {
		return "", false
	}
	email := strings.ToLower(p.Email)
	var found string
	for agent, members := range a.bindings {
		if !members[email] {
			continue
		}
		if found != "" {
			return "", false
		}
		found = agent
	}
	return found, found != ""
}
