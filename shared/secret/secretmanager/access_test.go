package secretmanager_test

import (
	"context"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"

	"connectors.dev/connectors/shared/secret/secretmanager"
	"connectors.dev/connectors/shared/testenv"
)

// TestAccessReadsAnOperatorSecret: Access reads a version of a secret
// outside the service's prefix by its full name (a bare ID meaning its
// latest version), and refuses anything else as a name.
func TestAccessReadsAnOperatorSecret(t *testing.T) {
	addr := serverAddr(t)
	s := newStore(t, addr)
	raw := rawClient(t, addr)
	ctx := context.Background()
	id := "op-" + testenv.Prefix() + "webhook"
	parent := "projects/" + testenv.Project
	if _, err := raw.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{
		Parent: parent, SecretId: id,
		Secret: &secretmanagerpb.Secret{Replication: &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}}},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = raw.DeleteSecret(context.Background(), &secretmanagerpb.DeleteSecretRequest{Name: parent + "/secrets/" + id})
	})
	if _, err := raw.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: parent + "/secrets/" + id, Payload: &secretmanagerpb.SecretPayload{Data: []byte("whsec_value")}}); err != nil {
		t.Fatal(err)
	}
	name, err := secretmanager.VersionName(testenv.Project, id)
	if err != nil || name != parent+"/secrets/"+id+"/versions/latest" {
		t.Fatalf("VersionName: %q, %v", name, err)
	}
	for _, n := range []string{name, parent + "/secrets/" + id + "/versions/1"} {
		got, err := s.Access(ctx, n)
		if err != nil || string(got) != "whsec_value" {
			t.Fatalf("Access(%s): %q, %v", n, got, err)
		}
	}
	for _, bad := range []string{"projects/p/secrets/s", "projects/p/secrets/s/versions/0", "../x", "projects/p/secrets/s/versions/latest/extra"} {
		if _, err := secretmanager.VersionName(testenv.Project, bad); err == nil {
			t.Errorf("VersionName(%q) accepted", bad)
		}
	}
}
