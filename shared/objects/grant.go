package objects

import (
	"slices"
	"strings"

	"connectors.dev/connectors/shared/errkind"
)

// Roles a bucket grant may give: object-level only, never the bucket's
// settings or its IAM policy. A grant outlives the short-lived credential
// that made it, so the set is closed: no bucket-level, legacy, basic or
// custom role.
const (
	RoleObjectViewer  = "roles/storage.objectViewer"
	RoleObjectUser    = "roles/storage.objectUser"
	RoleObjectCreator = "roles/storage.objectCreator"
	// DefaultGrantRole is given when no role is named: read objects,
	// nothing more.
	DefaultGrantRole = RoleObjectViewer
)

// memberPrefix is the IAM member type of a service account, the only kind
// a grant may name.
const memberPrefix = "serviceAccount:"

// maxMemberLen bounds a requested member before anything compares it.
const maxMemberLen = 256

// GrantRoles returns the roles a grant may give, the default first. The
// slice is the caller's: changing it widens nothing.
func GrantRoles() []string {
	return []string{RoleObjectViewer, RoleObjectUser, RoleObjectCreator}
}

// GrantError says which field of a requested grant ("member" or "role") is
// refused, and why. Reason may quote the connector's serviceAccountEmail,
// which is configuration, never a secret.
type GrantError struct {
	Field  string
	Reason string
}

func (e *GrantError) Error() string { return "objects: grant: " + e.Field + ": " + e.Reason }

// ErrorKind implements errkind.Kinded: a request error, not a permission,
// since the fix is in the request.
func (e *GrantError) ErrorKind() errkind.Kind { return errkind.InvalidArgument }

// ErrorField implements errkind.Fielded.
func (e *GrantError) ErrorField() string { return e.Field }

// PublicMessage implements errkind.Public.
func (e *GrantError) PublicMessage() string { return e.Reason }

// CheckGrantRequest checks the shape of a requested member and role, before
// any account they will be compared with is looked up: so that nothing is
// read on behalf of a request that can never pass. Empty means "the
// default" for both.
func CheckGrantRequest(member, role string) error {
	if member != "" && (len(member) > maxMemberLen || !strings.HasPrefix(member, memberPrefix)) {
		return &GrantError{Field: "member", Reason: "may only be the connector's serviceAccountEmail, as serviceAccount:EMAIL (or omitted)"}
	}
	if role != "" && !slices.Contains(GrantRoles(), role) {
		return &GrantError{Field: "role", Reason: "must be one of " + strings.Join(GrantRoles(), ", ") + " (default " + DefaultGrantRole + ")"}
	}
	return nil
}

// GrantFor decides the grant a request may make: to account (the
// connector's serviceAccountEmail, the account that builds RAG stores)
// and to nobody else, with the requested role or DefaultGrantRole. member
// may be omitted or name account, compared case-insensitively as email
// addresses are; the grant uses account's own spelling.
func GrantFor(member, role, account string) (Grant, error) {
	if err := CheckGrantRequest(member, role); err != nil {
		return Grant{}, err
	}
	if account == "" {
		return Grant{}, &GrantError{Field: "member", Reason: "grantAccess needs a connector with a serviceAccountEmail: only that account may be granted"}
	}
	want := memberPrefix + account
	if member != "" {
		name, _ := strings.CutPrefix(member, memberPrefix)
		if !strings.EqualFold(name, account) {
			return Grant{}, &GrantError{Field: "member", Reason: "may only be the connector's serviceAccountEmail, " + want + " (or omitted)"}
		}
	}
	if role == "" {
		role = DefaultGrantRole
	}
	return Grant{Member: want, Role: role}, nil
}
