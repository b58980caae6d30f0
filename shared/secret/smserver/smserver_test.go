package smserver_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"connectors.dev/connectors/shared/secret/smserver"
	"connectors.dev/connectors/shared/testenv"
)

const project = "projects/p"

// start runs a server on loopback TCP and returns a raw gRPC client, so the
// tests see exactly the codes a client library would.
func start(t *testing.T) (*smserver.Server, secretmanagerpb.SecretManagerServiceClient) {
	t.Helper()
	addr, srv := testenv.StartSecretManager(t)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return srv, secretmanagerpb.NewSecretManagerServiceClient(conn)
}

var automatic = &secretmanagerpb.Replication{
	Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}},
}

// checkLists lists each case's filter with its page size, page by page
// (list returns one page's full names and the next page token), and
// compares the names' last segments, in order, with the case's.
func checkLists(t *testing.T, list func(filter string, size int32, token string) (names []string, next string), cases []listCase) {
	t.Helper()
	for _, tc := range cases {
		var got []string
		for tok, pages := "", 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("filter %q size %d: paging does not end", tc.filter, tc.size)
			}
			names, next := list(tc.filter, tc.size, tok)
			if tc.size > 0 && len(names) > int(tc.size) {
				t.Fatalf("filter %q: page of %d exceeds page_size %d", tc.filter, len(names), tc.size)
			}
			for _, n := range names {
				got = append(got, n[strings.LastIndex(n, "/")+1:])
			}
			if tok = next; tok == "" {
				break
			}
		}
		if got := strings.Join(got, " "); got != tc.want {
			t.Errorf("filter %q size %d: got %q, want %q", tc.filter, tc.size, got, tc.want)
		}
	}
}

// listCase is a list call's filter and page size, and the names (space
// separated, in order) it must return across all pages.
type listCase struct {
	filter string
	size   int32
	want   string
}

func create(t *testing.T, c secretmanagerpb.SecretManagerServiceClient, id string, labels map[string]string) *secretmanagerpb.Secret {
	t.Helper()
	s, err := c.CreateSecret(t.Context(), &secretmanagerpb.CreateSecretRequest{
		Parent: project, SecretId: id,
		Secret: &secretmanagerpb.Secret{Replication: automatic, Labels: labels},
	})
	if err != nil {
		t.Fatalf("CreateSecret(%s): %v", id, err)
	}
	return s
}

func crc(data []byte) *int64 {
	c := int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	return &c
}

func add(t *testing.T, c secretmanagerpb.SecretManagerServiceClient, secretName, data string) *secretmanagerpb.SecretVersion {
	t.Helper()
	v, err := c.AddSecretVersion(t.Context(), &secretmanagerpb.AddSecretVersionRequest{
		Parent:  secretName,
		Payload: &secretmanagerpb.SecretPayload{Data: []byte(data), DataCrc32C: crc([]byte(data))},
	})
	if err != nil {
		t.Fatalf("AddSecretVersion(%s): %v", secretName, err)
	}
	return v
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("got %v (%v), want %v", got, err, want)
	}
}

func TestCreateSecret(t *testing.T) {
	_, c := start(t)
	s := create(t, c, "s1", map[string]string{"team": "x", "managed-by": "connectors"})
	if s.GetName() != project+"/secrets/s1" {
		t.Errorf("name = %q", s.GetName())
	}
	if s.GetCreateTime() == nil || s.GetEtag() == "" || s.GetReplication().GetAutomatic() == nil {
		t.Errorf("create_time, etag or replication missing: %v", s)
	}
	got, err := c.GetSecret(t.Context(), &secretmanagerpb.GetSecretRequest{Name: s.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetLabels()["team"] != "x" || got.GetLabels()["managed-by"] != "connectors" {
		t.Errorf("labels = %v", got.GetLabels())
	}

	_, err = c.CreateSecret(t.Context(), &secretmanagerpb.CreateSecretRequest{Parent: project, SecretId: "s1", Secret: &secretmanagerpb.Secret{Replication: automatic}})
	wantCode(t, err, codes.AlreadyExists)

	bad := []*secretmanagerpb.CreateSecretRequest{
		{Parent: "p", SecretId: "a", Secret: &secretmanagerpb.Secret{Replication: automatic}},
		{Parent: "projects/p/locations/x", SecretId: "a", Secret: &secretmanagerpb.Secret{Replication: automatic}},
		{Parent: project, SecretId: "", Secret: &secretmanagerpb.Secret{Replication: automatic}},
		{Parent: project, SecretId: "a.b", Secret: &secretmanagerpb.Secret{Replication: automatic}},
		{Parent: project, SecretId: strings.Repeat("a", 256), Secret: &secretmanagerpb.Secret{Replication: automatic}},
		{Parent: project, SecretId: "a"}, // no replication
		{Parent: project, SecretId: "a", Secret: &secretmanagerpb.Secret{Replication: automatic, Labels: map[string]string{"Upper": "x"}}},
		{Parent: project, SecretId: "a", Secret: &secretmanagerpb.Secret{Replication: automatic, Labels: map[string]string{"k": "Bad Value"}}},
	}
	for i, req := range bad {
		_, err := c.CreateSecret(t.Context(), req)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("bad request %d: got %v, want InvalidArgument", i, err)
		}
	}
	if _, err := c.CreateSecret(t.Context(), &secretmanagerpb.CreateSecretRequest{Parent: project, SecretId: strings.Repeat("a", 255), Secret: &secretmanagerpb.Secret{Replication: automatic}}); err != nil {
		t.Errorf("255-character id: %v", err)
	}
}

func TestUpdateAndDeleteSecret(t *testing.T) {
	_, c := start(t)
	s := create(t, c, "s", map[string]string{"a": "1"})

	_, err := c.UpdateSecret(t.Context(), &secretmanagerpb.UpdateSecretRequest{Secret: &secretmanagerpb.Secret{Name: s.Name, Labels: map[string]string{"b": "2"}}})
	wantCode(t, err, codes.InvalidArgument) // update_mask is required

	_, err = c.UpdateSecret(t.Context(), &secretmanagerpb.UpdateSecretRequest{
		Secret:     &secretmanagerpb.Secret{Name: s.Name, Labels: map[string]string{"b": "2"}, Etag: `"stale"`},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
	})
	wantCode(t, err, codes.Aborted)

	u, err := c.UpdateSecret(t.Context(), &secretmanagerpb.UpdateSecretRequest{
		Secret:     &secretmanagerpb.Secret{Name: s.Name, Labels: map[string]string{"b": "2"}, Etag: s.Etag},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Labels) != 1 || u.Labels["b"] != "2" {
		t.Errorf("labels after update = %v", u.Labels)
	}

	_, err = c.UpdateSecret(t.Context(), &secretmanagerpb.UpdateSecretRequest{
		Secret:     &secretmanagerpb.Secret{Name: project + "/secrets/absent"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
	})
	wantCode(t, err, codes.NotFound)

	add(t, c, s.Name, "data")
	if _, err := c.DeleteSecret(t.Context(), &secretmanagerpb.DeleteSecretRequest{Name: s.Name}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecret(t.Context(), &secretmanagerpb.GetSecretRequest{Name: s.Name})
	wantCode(t, err, codes.NotFound)
	_, err = c.AccessSecretVersion(t.Context(), &secretmanagerpb.AccessSecretVersionRequest{Name: s.Name + "/versions/1"})
	wantCode(t, err, codes.NotFound)
	_, err = c.DeleteSecret(t.Context(), &secretmanagerpb.DeleteSecretRequest{Name: s.Name})
	wantCode(t, err, codes.NotFound)

	// Recreated secrets start numbering again, as in Secret Manager.
	create(t, c, "s", nil)
	if v := add(t, c, s.Name, "again"); !strings.HasSuffix(v.Name, "/versions/1") {
		t.Errorf("first version after recreate = %s", v.Name)
	}
}

func TestListSecretsPagingAndFilter(t *testing.T) {
	_, c := start(t)
	for i := range 5 {
		labels := map[string]string{"n": fmt.Sprint(i)}
		if i%2 == 0 {
			labels["even"] = "yes"
		}
		create(t, c, fmt.Sprintf("app-%d", i), labels)
	}
	create(t, c, "other", nil)

	list := func(filter string, size int32, tok string) ([]string, string) {
		resp, err := c.ListSecrets(t.Context(), &secretmanagerpb.ListSecretsRequest{Parent: project, Filter: filter, PageSize: size, PageToken: tok})
		if err != nil {
			t.Fatalf("ListSecrets(%q): %v", filter, err)
		}
		var names []string
		for _, s := range resp.Secrets {
			names = append(names, s.Name)
		}
		return names, resp.NextPageToken
	}
	checkLists(t, list, []listCase{
		{"", 0, "app-0 app-1 app-2 app-3 app-4 other"},
		{"", 2, "app-0 app-1 app-2 app-3 app-4 other"},
		{"", 1, "app-0 app-1 app-2 app-3 app-4 other"},
		{"name:app-", 2, "app-0 app-1 app-2 app-3 app-4"},
		{"labels.even=yes", 2, "app-0 app-2 app-4"},
		{"labels.even:*", 0, "app-0 app-2 app-4"},
		{"NOT labels.even:*", 0, "app-1 app-3 other"},
		{"name:app- AND -labels.even=yes", 0, "app-1 app-3"},
		{`labels.n="3"`, 0, "app-3"},
		{"labels.n!=3 name:app", 0, "app-0 app-1 app-2 app-4"},
		{"name=other", 0, "other"},
	})
	for _, bad := range []string{"name:a OR name:b", "create_time>2021", "state:ENABLED", "NOT", `name:"open`} {
		_, err := c.ListSecrets(t.Context(), &secretmanagerpb.ListSecretsRequest{Parent: project, Filter: bad})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("filter %q: got %v, want InvalidArgument", bad, err)
		}
	}
	_, err := c.ListSecrets(t.Context(), &secretmanagerpb.ListSecretsRequest{Parent: project, PageToken: "!!"})
	wantCode(t, err, codes.InvalidArgument)
}

func TestVersions(t *testing.T) {
	_, c := start(t)
	s := create(t, c, "s", nil)
	ctx := t.Context()

	_, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: project + "/secrets/absent", Payload: &secretmanagerpb.SecretPayload{Data: []byte("x")}})
	wantCode(t, err, codes.NotFound)

	bad := int64(12345)
	_, err = c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: s.Name, Payload: &secretmanagerpb.SecretPayload{Data: []byte("x"), DataCrc32C: &bad}})
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(status.Convert(err).Message(), "data corrupted") {
		t.Errorf("crc mismatch message = %q", status.Convert(err).Message())
	}
	_, err = c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: s.Name, Payload: &secretmanagerpb.SecretPayload{Data: make([]byte, 64*1024+1)}})
	wantCode(t, err, codes.InvalidArgument)

	v1 := add(t, c, s.Name, "one")
	v2, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: s.Name, Payload: &secretmanagerpb.SecretPayload{Data: []byte("two")}})
	if err != nil {
		t.Fatal(err)
	}
	v3 := add(t, c, s.Name, "three")
	for i, v := range []*secretmanagerpb.SecretVersion{v1, v2, v3} {
		if want := fmt.Sprintf("%s/versions/%d", s.Name, i+1); v.Name != want {
			t.Errorf("version %d name = %s, want %s", i+1, v.Name, want)
		}
		if v.State != secretmanagerpb.SecretVersion_ENABLED || v.CreateTime == nil {
			t.Errorf("version %d = %v", i+1, v)
		}
	}
	if !v1.ClientSpecifiedPayloadChecksum || v2.ClientSpecifiedPayloadChecksum {
		t.Error("client_specified_payload_checksum does not reflect the request")
	}

	access := func(version string) (string, error) {
		t.Helper()
		resp, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: s.Name + "/versions/" + version})
		if err != nil {
			return "", err
		}
		p := resp.Payload
		if p.DataCrc32C == nil || *p.DataCrc32C != *crc(p.Data) {
			t.Fatalf("access %s: data_crc32c missing or wrong", version)
		}
		return string(p.Data), nil
	}
	for version, want := range map[string]string{"1": "one", "2": "two", "3": "three", "latest": "three"} {
		if got, err := access(version); err != nil || got != want {
			t.Errorf("access %s = %q, %v; want %q", version, got, err, want)
		}
	}
	_, err = access("4")
	wantCode(t, err, codes.NotFound)
	_, err = access("abc")
	wantCode(t, err, codes.InvalidArgument)
	_, err = access("0")
	wantCode(t, err, codes.InvalidArgument)

	// Disabled: unreadable, skipped by latest, can be enabled again.
	if _, err := c.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: v3.Name}); err != nil {
		t.Fatal(err)
	}
	_, err = access("3")
	wantCode(t, err, codes.FailedPrecondition)
	if got, err := access("latest"); err != nil || got != "two" {
		t.Errorf("latest with 3 disabled = %q, %v; want two", got, err)
	}
	if _, err := c.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: v3.Name}); err != nil {
		t.Fatal(err)
	}
	if got, err := access("3"); err != nil || got != "three" {
		t.Errorf("access re-enabled 3 = %q, %v", got, err)
	}

	// Destroyed: data gone, destroy_time set, unreadable, not reversible.
	d, err := c.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: v2.Name})
	if err != nil {
		t.Fatal(err)
	}
	if d.State != secretmanagerpb.SecretVersion_DESTROYED || d.DestroyTime == nil {
		t.Errorf("destroyed version = %v", d)
	}
	_, err = access("2")
	wantCode(t, err, codes.FailedPrecondition)
	_, err = c.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: v2.Name})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = c.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: v2.Name})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = c.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: s.Name + "/versions/9"})
	wantCode(t, err, codes.NotFound)
	_, err = c.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: v1.Name, Etag: `"stale"`})
	wantCode(t, err, codes.Aborted)
	g, err := c.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: v2.Name})
	if err != nil || g.State != secretmanagerpb.SecretVersion_DESTROYED {
		t.Errorf("GetSecretVersion of destroyed = %v, %v", g, err)
	}

	// Nothing enabled: latest does not resolve.
	for _, v := range []*secretmanagerpb.SecretVersion{v1, v3} {
		if _, err := c.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: v.Name}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = access("latest")
	wantCode(t, err, codes.NotFound)
}

func TestListSecretVersions(t *testing.T) {
	_, c := start(t)
	s := create(t, c, "s", nil)
	for i := range 6 {
		add(t, c, s.Name, fmt.Sprint(i))
	}
	ctx := t.Context()
	if _, err := c.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: s.Name + "/versions/2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: s.Name + "/versions/4"}); err != nil {
		t.Fatal(err)
	}
	list := func(filter string, size int32, tok string) ([]string, string) {
		resp, err := c.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: s.Name, Filter: filter, PageSize: size, PageToken: tok})
		if err != nil {
			t.Fatalf("ListSecretVersions(%q): %v", filter, err)
		}
		var names []string
		for _, v := range resp.Versions {
			names = append(names, v.Name)
		}
		return names, resp.NextPageToken
	}
	checkLists(t, list, []listCase{
		{"", 0, "6 5 4 3 2 1"},
		{"", 4, "6 5 4 3 2 1"},
		{"", 1, "6 5 4 3 2 1"},
		{"state:ENABLED", 2, "6 5 3 1"},
		{"state:enabled", 0, "6 5 3 1"},
		{"NOT state:DESTROYED", 0, "6 5 4 3 1"},
		{"state=DISABLED", 0, "4"},
	})
	_, err := c.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: s.Name, Filter: "state:BOGUS"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: project + "/secrets/absent"})
	wantCode(t, err, codes.NotFound)
}

func TestFaults(t *testing.T) {
	srv, c := start(t)
	s := create(t, c, "s", nil)
	add(t, c, s.Name, "payload")
	ctx := t.Context()
	access := func() (*secretmanagerpb.AccessSecretVersionResponse, error) {
		return c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: s.Name + "/versions/latest"})
	}

	before := srv.Calls("AccessSecretVersion")
	srv.SetUnavailable(true)
	_, err := access()
	wantCode(t, err, codes.Unavailable)
	_, err = c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: s.Name})
	wantCode(t, err, codes.Unavailable)
	srv.SetUnavailable(false)
	if _, err := access(); err != nil {
		t.Fatal(err)
	}
	if got := srv.Calls("AccessSecretVersion") - before; got != 2 {
		t.Errorf("AccessSecretVersion calls = %d, want 2 (failed calls count too)", got)
	}
	if got := srv.Calls("/google.cloud.secretmanager.v1.SecretManagerService/CreateSecret"); got != 1 {
		t.Errorf("CreateSecret calls by full name = %d, want 1", got)
	}

	srv.SetAccessFault(smserver.AccessBadCRC)
	resp, err := access()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Payload.DataCrc32C == nil || *resp.Payload.DataCrc32C == *crc(resp.Payload.Data) {
		t.Error("AccessBadCRC returned a consistent checksum")
	}
	srv.SetAccessFault(smserver.AccessNoCRC)
	if resp, err = access(); err != nil || resp.Payload.DataCrc32C != nil {
		t.Errorf("AccessNoCRC: %v, crc present: %v", err, resp.GetPayload().DataCrc32C != nil)
	}
	srv.SetAccessFault(smserver.AccessOK)
	if resp, err = access(); err != nil || string(resp.Payload.Data) != "payload" {
		t.Errorf("after reset: %v", err)
	}
}

func TestConcurrentAdds(t *testing.T) {
	_, c := start(t)
	s := create(t, c, "s", nil)
	const n = 32
	names := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := c.AddSecretVersion(context.Background(), &secretmanagerpb.AddSecretVersionRequest{
				Parent: s.Name, Payload: &secretmanagerpb.SecretPayload{Data: []byte(fmt.Sprint(i))},
			})
			if err != nil {
				t.Error(err)
				return
			}
			names <- v.Name
		})
	}
	wg.Wait()
	close(names)
	seen := map[string]bool{}
	for name := range names {
		if seen[name] {
			t.Errorf("version %s issued twice", name)
		}
		seen[name] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct versions, want %d", len(seen), n)
	}
}
