package objects

import (
	"errors"
	"strings"
	"testing"
)

const account = "rag@p.iam.gserviceaccount.com"

// TestGrantForAllows: the connector's own account, omitted or spelt in
// any case, with each object role or none (the read-only default); the
// grant names the account as the connector spells it.
func TestGrantForAllows(t *testing.T) {
	for _, c := range []struct {
		member, role string
		want         Grant
	}{
		{"", "", Grant{Member: "serviceAccount:" + account, Role: RoleObjectViewer}},
		{"serviceAccount:" + account, "", Grant{Member: "serviceAccount:" + account, Role: RoleObjectViewer}},
		{"serviceAccount:" + strings.ToUpper(account), RoleObjectCreator, Grant{Member: "serviceAccount:" + account, Role: RoleObjectCreator}},
		{"", RoleObjectUser, Grant{Member: "serviceAccount:" + account, Role: RoleObjectUser}},
		{"", RoleObjectViewer, Grant{Member: "serviceAccount:" + account, Role: RoleObjectViewer}},
	} {
		got, err := GrantFor(c.member, c.role, account)
		if err != nil || got != c.want {
			t.Errorf("GrantFor(%q, %q) = %+v, %v; want %+v, nil", c.member, c.role, got, err, c.want)
		}
	}
	if DefaultGrantRole != RoleObjectViewer {
		t.Errorf("DefaultGrantRole = %q, want %q", DefaultGrantRole, RoleObjectViewer)
	}
}

// TestGrantForRefuses: any other member, any role with power over the
// bucket or its policy, and any grant for a connector without an account,
// each refused naming the field.
func TestGrantForRefuses(t *testing.T) {
	for _, c := range []struct {
		member, role, account, field string
	}{
		{"", "", "", "member"}, // no serviceAccountEmail: nobody may be granted
		{"serviceAccount:" + account, "", "", "member"},
		{"user:attacker@example.com", "", account, "member"},
		{"group:everyone@example.com", "", account, "member"},
		{"domain:example.com", "", account, "member"},
		{"allUsers", "", account, "member"},
		{"allAuthenticatedUsers", "", account, "member"},
		{account, "", account, "member"}, // no member type
		{"principalSet://iam.googleapis.com/locations/global/workforcePools/p/*", "", account, "member"},
		{"serviceAccount:attacker@evil.iam.gserviceaccount.com", "", account, "member"},
		{"serviceAccount:" + account + ".evil.com", "", account, "member"},
		{"serviceAccount:" + strings.Repeat("a", 300) + account, "", account, "member"},
		{"", "roles/storage.admin", account, "role"},
		{"", "roles/storage.objectAdmin", account, "role"},
		{"", "roles/storage.legacyBucketOwner", account, "role"},
		{"", "roles/owner", account, "role"},
		{"", "projects/p/roles/custom", account, "role"},
		{"", "roles/storage.objectviewer", account, "role"}, // roles are exact
		{"serviceAccount:" + account, "roles/storage.admin", account, "role"},
	} {
		g, err := GrantFor(c.member, c.role, c.account)
		var ge *GrantError
		if !errors.As(err, &ge) || ge.Field != c.field {
			t.Errorf("GrantFor(%q, %q, %q) = %+v, %v; want a GrantError on %s", c.member, c.role, c.account, g, err, c.field)
			continue
		}
		if g != (Grant{}) {
			t.Errorf("GrantFor(%q, %q, %q) refused but returned %+v", c.member, c.role, c.account, g)
		}
		if !strings.HasPrefix(ge.Error(), "objects: grant: "+c.field+": ") {
			t.Errorf("error %q, want it to start with the field", ge.Error())
		}
	}
}

// TestCheckGrantRequest: the shape check, which runs before the account is
// known, refuses what no account could match and lets the rest through.
func TestCheckGrantRequest(t *testing.T) {
	for _, c := range []struct{ member, role, field string }{
		{"", "", ""},
		{"serviceAccount:anyone@p.iam.gserviceaccount.com", RoleObjectUser, ""},
		{"allUsers", "", "member"},
		{"serviceAccount:" + strings.Repeat("a", 300), "", "member"},
		{"", "roles/storage.admin", "role"},
	} {
		err := CheckGrantRequest(c.member, c.role)
		var ge *GrantError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("CheckGrantRequest(%q, %q) = %v, want nil", c.member, c.role, err)
		case c.field != "" && (!errors.As(err, &ge) || ge.Field != c.field):
			t.Errorf("CheckGrantRequest(%q, %q) = %v, want a GrantError on %s", c.member, c.role, err, c.field)
		}
	}
}

// TestGrantRolesIsACopy: a caller changing the list widens nothing.
func TestGrantRolesIsACopy(t *testing.T) {
	GrantRoles()[0] = "roles/owner"
	if _, err := GrantFor("", "roles/owner", account); err == nil {
		t.Fatal("roles/owner allowed after a caller changed GrantRoles' result")
	}
	if got := GrantRoles()[0]; got != DefaultGrantRole {
		t.Fatalf("GrantRoles()[0] = %q, want the default %q", got, DefaultGrantRole)
	}
}
