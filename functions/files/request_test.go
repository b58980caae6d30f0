package files_test

// Requests refused before any storage call, and the settings that bound
// them.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/auth/authtest"
	"connectors.dev/connectors/shared/testenv"
)

func TestBadRequests(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{})
	e.connectors()
	cases := []struct {
		name  string
		req   any
		code  int
		ecode string
		field string
	}{
		{"no op", map[string]any{"uri": "gs://gcs-bucket/k", "agent": "agent-1"}, 400, "invalid_argument", "op"},
		{"unknown op", op("copy", "gs://gcs-bucket/k"), 400, "invalid_argument", "op"},
		{"no uri", map[string]any{"op": "read", "agent": "agent-1"}, 400, "invalid_argument", "uri"},
		{"http uri", op("read", "https://storage.googleapis.com/b/k"), 400, "invalid_argument", "uri"},
		{"uppercase bucket", op("read", "gs://Bucket/k"), 400, "invalid_argument", "uri"},
		{"s3 underscore", op("read", "s3://my_bucket/k"), 400, "invalid_argument", "uri"},
		{"dot-dot key", op("read", "gs://gcs-bucket/a/../b"), 400, "invalid_argument", "uri"},
		{"read a bucket", op("read", "gs://gcs-bucket"), 400, "invalid_argument", "uri"},
		{"create with key", op("createBucket", "gs://gcs-bucket/k"), 400, "invalid_argument", "uri"},
		{"no agent", map[string]any{"op": "read", "uri": "gs://gcs-bucket/k"}, 400, "invalid_argument", "agent"},
		{"bad connector name", op("read", "gs://gcs-bucket/k", "connector", "no spaces"), 400, "invalid_argument", "connector"},
		{"gs with aws connector", op("read", "gs://gcs-bucket/k", "connector", "S3"), 400, "invalid_argument", "connector"},
		{"s3 with gcs connector", op("read", "s3://s3-bucket/k", "connector", "GCS"), 400, "invalid_argument", "connector"},
		{"gs with oauth connector", op("list", "gs://gcs-bucket", "connector", "OAuth"), 400, "invalid_argument", "connector"},
		{"unknown connector", op("read", "gs://gcs-bucket/k", "connector", "Nope"), 404, "not_found", ""},
		{"agent not allowed", map[string]any{"op": "read", "uri": "gs://gcs-bucket/k", "agent": "intruder", "connector": "GCS"}, 403, "permission_denied", "agent"},
		{"inactive connector", op("read", "s3://s3-bucket/k", "connector", "Off"), 409, "failed_precondition", ""},
		{"field of another op", op("read", "gs://gcs-bucket/k", "pageSize", 3), 400, "invalid_argument", "pageSize"},
		{"data on list", op("list", "gs://gcs-bucket", "data", b64("x")), 400, "invalid_argument", "data"},
		{"unknown field", op("read", "gs://gcs-bucket/k", "colour", "red"), 400, "invalid_argument", "colour"},
		{"write without data", op("write", "gs://gcs-bucket/k"), 400, "invalid_argument", "data"},
		{"data not base64", op("write", "gs://gcs-bucket/k", "data", "not base64!"), 400, "invalid_argument", "data"},
		{"data not a string", op("write", "gs://gcs-bucket/k", "data", 12), 400, "invalid_argument", "data"},
		{"bad content type", op("write", "gs://gcs-bucket/k", "data", b64("x"), "contentType", "text/"), 400, "invalid_argument", "contentType"},
		{"page size", op("list", "gs://gcs-bucket", "pageSize", 5000), 400, "invalid_argument", "pageSize"},
		{"sign method", op("sign", "gs://gcs-bucket/k", "method", "DELETE"), 400, "invalid_argument", "method"},
		{"sign expiry zero", op("sign", "gs://gcs-bucket/k", "expiresIn", 0), 400, "invalid_argument", "expiresIn"},
		{"sign expiry long", op("sign", "gs://gcs-bucket/k", "expiresIn", 604801), 400, "invalid_argument", "expiresIn"},
		{"sign GET content type", op("sign", "gs://gcs-bucket/k", "contentType", "text/plain"), 400, "invalid_argument", "contentType"},
		{"bad location", op("createBucket", "gs://new-bucket", "location", "eu west"), 400, "invalid_argument", "location"},
		{"not json", []byte(`{"op":`), 400, "invalid_argument", ""},
		{"missing object", op("read", "gs://gcs-bucket/nothing/here", "connector", "GCS"), 404, "not_found", ""},
		{"missing bucket", op("list", "s3://no-such-bucket", "connector", "S3"), 404, "not_found", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.post(files.FnFiles, c.req, "")
			if r.code != c.code || r.err()["code"] != c.ecode || (c.field != "" && r.err()["field"] != c.field) {
				t.Fatalf("got %d %s; want %d %s field %q", r.code, r.raw, c.code, c.ecode, c.field)
			}
		})
	}
	// Not-found errors name the URI asked for.
	r := e.files(op("read", "gs://gcs-bucket/nothing/here", "connector", "GCS"))
	if msg, _ := r.err()["message"].(string); !strings.Contains(msg, "gs://gcs-bucket/nothing/here") {
		t.Fatalf("message %q", msg)
	}
	resp, err := http.Get(e.url + "/files")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}

// TestWriteCap: data over the configured cap gets 413, and so does a body
// too large to hold it; the cap does not apply to the other functions.
func TestWriteCap(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{maxWrite: 1000})
	if r := e.files(op("write", "s3://s3-bucket/fits", "data", b64(strings.Repeat("a", 1000)))); r.code != 200 {
		t.Fatalf("at the cap: %d %s\n%s", r.code, r.raw, e.logs.String())
	}
	r := e.files(op("write", "s3://s3-bucket/over", "data", b64(strings.Repeat("a", 1001))))
	if r.code != 413 || r.err()["code"] != "payload_too_large" || !strings.Contains(r.err()["message"].(string), "1000 bytes") {
		t.Fatalf("over the cap: %d %s", r.code, r.raw)
	}
	r = e.files(op("write", "s3://s3-bucket/way-over", "data", b64(strings.Repeat("a", 200<<10))))
	if r.code != 413 || r.err()["code"] != "payload_too_large" {
		t.Fatalf("over the request limit: %d %s", r.code, r.raw)
	}
	if r := e.files(op("read", "s3://s3-bucket/over")); r.code != 404 {
		t.Fatalf("a refused write left an object: %d", r.code)
	}
}

// TestDefaultCapFitsLargeWrites: the default cap takes a multi-megabyte
// write, well past the JSON limit of the other functions, and the read
// streams it back with its length.
func TestDefaultCapFitsLargeWrites(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{})
	data := make([]byte, 3<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	r := e.files(op("write", "gs://gcs-bucket/big.bin", "data", base64.StdEncoding.EncodeToString(data)))
	if r.code != 200 || r.json["size"] != float64(len(data)) {
		t.Fatalf("write: %d %.200s", r.code, r.raw)
	}
	r = e.files(op("read", "gs://gcs-bucket/big.bin"))
	if r.code != 200 || !bytes.Equal(r.raw, data) || r.header.Get("Content-Length") != strconv.Itoa(len(data)) || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("read: %d %v (%d bytes)", r.code, r.header, len(r.raw))
	}
	// JSON escapes in the data ("\/" from some encoders) are understood.
	escaped := []byte(`{"op":"write","uri":"gs://gcs-bucket/esc","agent":"agent-1","data":"` + strings.ReplaceAll(b64("\xff\xfe\xfd?>"), "/", `\/`) + `"}`)
	if r := e.post(files.FnFiles, escaped, ""); r.code != 200 {
		t.Fatalf("escaped: %d %s", r.code, r.raw)
	}
	if r := e.files(op("read", "gs://gcs-bucket/esc")); string(r.raw) != "\xff\xfe\xfd?>" {
		t.Fatalf("escaped read %q", r.raw)
	}
}

// TestAgentBindings: a runtime may use files only for its own agents, as
// with token.
func TestAgentBindings(t *testing.T) {
	iss := authtest.NewIssuer(t)
	const aud = "https://files.example.run.app"
	const runtimeA, admin = "a@p.iam.gserviceaccount.com", "admin@example.com"
	authn, err := auth.New(auth.Config{Audience: aud, Admins: []string{admin}, AgentBindings: map[string][]string{"agent-1": {runtimeA}, "agent-2": {"b@p.iam.gserviceaccount.com"}}}, iss.Client)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, testenv.Embedded, envOptions{authn: authn})
	tokA := iss.Token(t, runtimeA, aud)
	if r := e.post(files.FnFiles, op("write", "s3://s3-bucket/k", "data", b64("v")), tokA); r.code != 200 {
		t.Fatalf("own agent: %d %s", r.code, r.raw)
	}
	req := op("read", "s3://s3-bucket/k")
	req["agent"] = "agent-2"
	if r := e.post(files.FnFiles, req, tokA); r.code != 403 || r.err()["code"] != "permission_denied" {
		t.Fatalf("another runtime's agent: %d %s", r.code, r.raw)
	}
	if r := e.post(files.FnFiles, op("read", "s3://s3-bucket/k"), iss.Token(t, admin, aud)); r.code != 403 {
		t.Fatalf("admin: %d %s", r.code, r.raw)
	}
	if r := e.post(files.FnFiles, op("read", "s3://s3-bucket/k"), ""); r.code != 401 {
		t.Fatalf("anonymous: %d %s", r.code, r.raw)
	}
}

func TestOptionsFromEnv(t *testing.T) {
	env := map[string]string{
		"CONNECTORS_GCS_ENDPOINT":          "http://127.0.0.1:4443",
		"CONNECTORS_S3_ENDPOINT":           "http://127.0.0.1:9000",
		"AWS_REGION":                       "eu-west-1",
		"GOOGLE_CLOUD_PROJECT":             "p1",
		"CONNECTORS_FILES_MAX_WRITE_BYTES": "1048576",
		"CONNECTORS_FILES_READ_TIMEOUT":    "90s",
	}
	o, err := files.OptionsFromEnv(func(k string) string { return env[k] })
	if err != nil || o.GCSEndpoint != "http://127.0.0.1:4443" || o.S3Endpoint != "http://127.0.0.1:9000" || o.S3Region != "eu-west-1" || o.GCSProject != "p1" || o.MaxWriteBytes != 1<<20 || o.ReadTimeout != 90*time.Second {
		t.Fatalf("%+v %v", o, err)
	}
	env["CONNECTORS_S3_REGION"] = "ap-south-1"
	if o, _ := files.OptionsFromEnv(func(k string) string { return env[k] }); o.S3Region != "ap-south-1" {
		t.Fatalf("CONNECTORS_S3_REGION does not win: %q", o.S3Region)
	}
	for k, v := range map[string]string{
		"CONNECTORS_GCS_ENDPOINT":          "127.0.0.1:4443",
		"CONNECTORS_S3_ENDPOINT":           "ftp://x",
		"CONNECTORS_FILES_MAX_WRITE_BYTES": "lots",
		"CONNECTORS_FILES_READ_TIMEOUT":    "-1s",
		// Less than one largest write's request: no write could ever run.
		"CONNECTORS_FILES_WRITE_BUFFER_BYTES": "1048576",
	} {
		bad := map[string]string{k: v}
		if _, err := files.OptionsFromEnv(func(k string) string { return bad[k] }); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}
