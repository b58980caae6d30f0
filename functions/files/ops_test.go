package files_test

// The operations, end to end through the function: round trips, signed
// URLs, buckets and grants.

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/shared/objects/objectservers"
	"connectors.dev/connectors/shared/objects/objecttest"
	"connectors.dev/connectors/shared/testenv"
)

// TestRoundTrip: write, read, list, delete through the function, for both
// providers, with a connector's credentials and with the defaults.
func TestRoundTrip(t *testing.T) {
	for _, kind := range testenv.Kinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, envOptions{})
			e.connectors()
			for _, c := range []struct{ name, base, conn string }{
				{"gcs/connector", "gs://gcs-bucket", "GCS"},
				{"gcs/default", "gs://gcs-bucket", ""},
				{"s3/connector", "s3://s3-bucket", "S3"},
				{"s3/default", "s3://s3-bucket", ""},
			} {
				t.Run(c.name, func(t *testing.T) {
					roundTrip(t, e, c.base+"/"+strings.ReplaceAll(c.name, "/", "-"), c.conn)
				})
			}
			// The connector paths used minted credentials, and only them;
			// the defaults used the deployment's.
			if auths := e.gcs.Authorizations(); !slices.Contains(auths, "Bearer "+gcsAccessToken) || !slices.Contains(auths, "") {
				t.Errorf("GCS saw %q", slices.Compact(auths))
			}
			keys := slices.Compact(slices.Sorted(slices.Values(e.s3.AccessKeys())))
			if !slices.Equal(keys, []string{defaultAWSKeyID, stsKeyID}) {
				t.Errorf("S3 requests were signed with %q; want the STS key and the default chain's", keys)
			}
			if n := e.mints.Load(); n != 2 {
				t.Errorf("minted %d times, want once per connector (then cached)", n)
			}
		})
	}
}

func roundTrip(t *testing.T, e *env, prefix, conn string) {
	with := func(m map[string]any) map[string]any {
		if conn != "" {
			m["connector"] = conn
		}
		return m
	}
	obj := prefix + "/notes/hello.txt"
	r := e.files(with(op("write", obj, "data", b64("hello, files"), "contentType", "text/plain")))
	if r.code != 200 || r.json["uri"] != obj || r.json["size"] != 12.0 || r.json["contentType"] != "text/plain" || r.json["updated"] == "" {
		t.Fatalf("write: %d %s", r.code, r.raw)
	}
	e.files(with(op("write", prefix+"/notes/other.bin", "data", b64("\x00\x01\x02"))))
	e.files(with(op("write", prefix+"/elsewhere", "data", b64("x"))))

	r = e.files(with(op("read", obj)))
	if r.code != 200 || string(r.raw) != "hello, files" || r.header.Get("Content-Type") != "text/plain" ||
		r.header.Get("Content-Length") != "12" || r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Last-Modified") == "" {
		t.Fatalf("read: %d %v %q", r.code, r.header, r.raw)
	}

	r = e.files(with(op("list", prefix+"/notes/")))
	objs, _ := r.json["objects"].([]any)
	if r.code != 200 || len(objs) != 2 || r.json["nextPageToken"] != "" {
		t.Fatalf("list: %d %s", r.code, r.raw)
	}
	first := objs[0].(map[string]any)
	if first["uri"] != obj || first["size"] != 12.0 || first["updated"] == nil {
		t.Fatalf("list entry %v", first)
	}
	if ct, ok := first["contentType"]; ok && ct != "text/plain" {
		t.Fatalf("list content type %v", ct)
	}
	// Paging through the function.
	r = e.files(with(op("list", prefix+"/", "pageSize", 2)))
	token, _ := r.json["nextPageToken"].(string)
	if objs, _ := r.json["objects"].([]any); r.code != 200 || len(objs) != 2 || token == "" {
		t.Fatalf("page 1: %d %s", r.code, r.raw)
	}
	r = e.files(with(op("list", prefix+"/", "pageSize", 2, "pageToken", token)))
	if objs, _ := r.json["objects"].([]any); r.code != 200 || len(objs) != 1 || r.json["nextPageToken"] != "" {
		t.Fatalf("page 2: %d %s", r.code, r.raw)
	}

	if r = e.files(with(op("delete", obj))); r.code != 200 || r.json["deleted"] != obj {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	r = e.files(with(op("read", obj)))
	if r.code != 404 || r.err()["code"] != "not_found" || !strings.Contains(r.err()["message"].(string), obj) {
		t.Fatalf("read after delete: %d %s", r.code, r.raw)
	}
	if r = e.files(with(op("delete", obj))); r.code != 404 || !strings.Contains(r.err()["message"].(string), obj) {
		t.Fatalf("delete again: %d %s", r.code, r.raw)
	}
}

func TestSign(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{})
	e.connectors()
	e.files(op("write", "gs://gcs-bucket/s/a.txt", "data", b64("signed gcs"), "connector", "GCS"))
	e.files(op("write", "s3://s3-bucket/s/a.txt", "data", b64("signed s3"), "connector", "S3"))

	// GCS: signed with the connector's key, verifiable with its public half.
	r := e.files(op("sign", "gs://gcs-bucket/s/a.txt", "connector", "GCS", "expiresIn", 600))
	signed, _ := r.json["url"].(string)
	if r.code != 200 || r.json["method"] != "GET" || r.json["expiresAt"] == "" {
		t.Fatalf("sign: %d %s", r.code, r.raw)
	}
	q := mustQuery(t, signed)
	if !strings.HasPrefix(q.Get("X-Goog-Credential"), saEmail+"/") || q.Get("X-Goog-Expires") != "600" || q.Get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256" {
		t.Fatalf("signed URL %s", signed)
	}
	if err := objectservers.VerifyGCSSignedURL(signed, "GET", "", e.saKey); err != nil {
		t.Fatal(err)
	}
	if code, body := fetch(t, "GET", signed, "", ""); code != 200 || body != "signed gcs" {
		t.Fatalf("GET %d %q", code, body)
	}
	// The key is read once per secret version, as minting reads it.
	reads := e.secretReads.Load()
	for range 3 {
		if r := e.files(op("sign", "gs://gcs-bucket/s/a.txt", "connector", "GCS")); r.code != 200 {
			t.Fatalf("sign: %d %s", r.code, r.raw)
		}
	}
	if n := e.secretReads.Load() - reads; n != 0 {
		t.Fatalf("3 more signs read the secret store %d times, want 0 (cached per version)", n)
	}
	r = e.files(op("sign", "gs://gcs-bucket/s/up.json", "connector", "GCS", "method", "PUT", "contentType", "application/json"))
	signed, _ = r.json["url"].(string)
	if r.code != 200 || r.json["headers"].(map[string]any)["Content-Type"] != "application/json" {
		t.Fatalf("sign PUT: %d %s", r.code, r.raw)
	}
	if err := objectservers.VerifyGCSSignedURL(signed, "PUT", "application/json", e.saKey); err != nil {
		t.Fatal(err)
	}
	if code, _ := fetch(t, "PUT", signed, "application/json", `{"up":1}`); code != 200 {
		t.Fatalf("PUT %d", code)
	}
	if r = e.files(op("read", "gs://gcs-bucket/s/up.json")); string(r.raw) != `{"up":1}` {
		t.Fatalf("uploaded %q", r.raw)
	}

	// S3: presigned with the temporary credentials, never the key pair.
	r = e.files(op("sign", "s3://s3-bucket/s/a.txt", "connector", "S3"))
	signed, _ = r.json["url"].(string)
	q = mustQuery(t, signed)
	if r.code != 200 || !strings.HasPrefix(q.Get("X-Amz-Credential"), stsKeyID+"/") || q.Get("X-Amz-Security-Token") != stsSession ||
		q.Get("X-Amz-Expires") != "900" || q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || q.Get("X-Amz-Signature") == "" {
		t.Fatalf("presigned %d %s", r.code, signed)
	}
	if code, body := fetch(t, "GET", signed, "", ""); code != 200 || body != "signed s3" {
		t.Fatalf("GET %d %q", code, body)
	}

	// The deployment's default GCS credentials here (none: an emulator)
	// have no identity to sign as.
	r = e.files(op("sign", "gs://gcs-bucket/s/a.txt"))
	if r.code != 409 || r.err()["code"] != "failed_precondition" {
		t.Fatalf("default sign: %d %s", r.code, r.raw)
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return u.Query()
}

func fetch(t *testing.T, method, rawURL, contentType, body string) (int, string) {
	t.Helper()
	code, out := objecttest.Fetch(t, method, rawURL, contentType, []byte(body))
	return code, string(out)
}

func TestBucketsAndGrants(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{})
	e.connectors()
	if r := e.files(op("createBucket", "gs://made-by-agent", "connector", "GCS", "location", "EU")); r.code != 201 || r.json["created"] != "gs://made-by-agent" {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	if r := e.files(op("createBucket", "gs://made-by-agent", "connector", "GCS")); r.code != 409 || r.err()["code"] != "already_exists" {
		t.Fatalf("create again: %d %s", r.code, r.raw)
	}
	// The project comes from the key when the connector names none.
	if r := e.files(op("createBucket", "gs://made-by-key-project", "connector", "GCSNoProject")); r.code != 201 {
		t.Fatalf("create with the key's project: %d %s", r.code, r.raw)
	}
	if r := e.files(op("write", "gs://made-by-agent/x", "data", b64("in new bucket"), "connector", "GCS")); r.code != 200 {
		t.Fatalf("write to new bucket: %d %s", r.code, r.raw)
	}

	// Default member: the connector's serviceAccountEmail; default role.
	r := e.files(op("grantAccess", "gs://made-by-agent", "connector", "GCS"))
	if r.code != 200 || r.json["member"] != "serviceAccount:"+grantEmail || r.json["role"] != files.DefaultGrantRole {
		t.Fatalf("grant: %d %s", r.code, r.raw)
	}
	// Named: the same account (any case of its email, granted as the
	// connector spells it) and another object role.
	r = e.files(op("grantAccess", "gs://made-by-agent", "connector", "GCS", "member", "serviceAccount:"+strings.ToUpper(grantEmail), "role", "roles/storage.objectCreator"))
	if r.code != 200 || r.json["member"] != "serviceAccount:"+grantEmail {
		t.Fatalf("grant named: %d %s", r.code, r.raw)
	}
	if got := e.gcs.Members("made-by-agent", "roles/storage.objectViewer"); !slices.Equal(got, []string{"serviceAccount:" + grantEmail}) {
		t.Fatalf("objectViewer members %q", got)
	}
	if got := e.gcs.Members("made-by-agent", "roles/storage.objectCreator"); !slices.Equal(got, []string{"serviceAccount:" + grantEmail}) {
		t.Fatalf("objectCreator members %q", got)
	}
	for _, c := range []struct {
		req   map[string]any
		code  int
		field string
	}{
		{op("grantAccess", "gs://made-by-agent", "connector", "GCSNoProject"), 400, "member"}, // no serviceAccountEmail
		{op("grantAccess", "gs://made-by-agent", "connector", "GCS", "member", "allUsers"), 400, "member"},
		{op("grantAccess", "gs://made-by-agent", "connector", "GCS", "member", "allAuthenticatedUsers"), 400, "member"},
		{op("grantAccess", "gs://made-by-agent", "connector", "GCS", "member", "someone@example.com"), 400, "member"},
		{op("grantAccess", "gs://made-by-agent", "connector", "GCS", "role", "roles/owner"), 400, "role"},
		{op("grantAccess", "gs://no-such-bucket", "connector", "GCS"), 404, ""},
		{op("grantAccess", "gs://gcs-bucket"), 403, ""}, // never with the default identity
		{op("grantAccess", "s3://s3-bucket", "connector", "S3"), 400, "op"},
		{op("grantAccess", "gs://made-by-agent/key"), 400, "uri"},
	} {
		if r := e.files(c.req); r.code != c.code || (c.field != "" && r.err()["field"] != c.field) {
			t.Errorf("%v: %d %s", c.req, r.code, r.raw)
		}
	}

	if r := e.files(op("createBucket", "s3://made-by-agent", "connector", "S3", "location", "eu-west-1")); r.code != 201 {
		t.Fatalf("create s3: %d %s", r.code, r.raw)
	}
	if r := e.files(op("createBucket", "s3://made-by-agent", "connector", "S3")); r.code != 409 || !strings.Contains(r.err()["message"].(string), "s3://made-by-agent") {
		t.Fatalf("create s3 again: %d %s", r.code, r.raw)
	}
	if r := e.files(op("write", "s3://made-by-agent/x", "data", b64("y"), "connector", "S3")); r.code != 200 {
		t.Fatalf("write to new s3 bucket: %d %s", r.code, r.raw)
	}
}
