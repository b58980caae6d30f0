package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/objects/objectservers"
)

// TestLocalFiles: the local run serves /files, and CONNECTORS_GCS_ENDPOINT
// and CONNECTORS_S3_ENDPOINT send it to storage servers on loopback (here
// fake-gcs-server and gofakes3, in process) with the deployment's default
// credentials — none for the GCS emulator, the AWS chain's for S3 — where
// CONNECTORS_FILES_DEFAULT_ACCESS maps the agent, and nowhere else.
func TestLocalFiles(t *testing.T) {
	gcs := objectservers.NewGCS(t, "local-gcs")
	s3 := objectservers.NewS3(t, "local-s3")
	t.Setenv("CONNECTORS_GCS_ENDPOINT", gcs.URL)
	t.Setenv("CONNECTORS_S3_ENDPOINT", s3.URL)
	t.Setenv("CONNECTORS_FILES_DEFAULT_ACCESS", "a1=gs://local-gcs/docs|s3://local-s3/docs")
	objectservers.IsolateAWS(t, "AKIALOCALDEV000001", "local-dev-secret")

	a, err := newApp(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	for _, obj := range []string{"gs://local-gcs/docs/a.txt", "s3://local-s3/docs/a.txt"} {
		data := base64.StdEncoding.EncodeToString([]byte("local " + obj))
		if code, out := post(t, srv.URL+"/files", fmt.Sprintf(`{"op":"write","uri":%q,"agent":"a1","data":%q,"contentType":"text/plain"}`, obj, data)); code != 200 || out["uri"] != obj {
			t.Fatalf("write %s: %d %v", obj, code, out)
		}
		resp, err := http.Post(srv.URL+"/files", "application/json", strings.NewReader(fmt.Sprintf(`{"op":"read","uri":%q,"agent":"a1"}`, obj)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "local "+obj || resp.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("read %s: %d %q", obj, resp.StatusCode, body)
		}
		dir := strings.TrimSuffix(obj, "a.txt")
		code, out := post(t, srv.URL+"/files", fmt.Sprintf(`{"op":"list","uri":%q,"agent":"a1"}`, dir))
		if objs, _ := out["objects"].([]any); code != 200 || len(objs) != 1 || objs[0].(map[string]any)["uri"] != obj {
			t.Fatalf("list %s: %d %v", dir, code, out)
		}
		if code, out := post(t, srv.URL+"/files", fmt.Sprintf(`{"op":"delete","uri":%q,"agent":"a1"}`, obj)); code != 200 || out["deleted"] != obj {
			t.Fatalf("delete %s: %d %v", obj, code, out)
		}
		if code, out := post(t, srv.URL+"/files", fmt.Sprintf(`{"op":"read","uri":%q,"agent":"a1"}`, obj)); code != 404 {
			t.Fatalf("read after delete %s: %d %v", obj, code, out)
		}
	}
	// Another agent, or another folder: refused before storage is asked.
	seen := len(gcs.Authorizations()) + len(s3.AccessKeys())
	for _, req := range []string{
		`{"op":"read","uri":"gs://local-gcs/docs/a.txt","agent":"a2"}`,
		`{"op":"list","uri":"s3://local-s3/","agent":"a1"}`,
		`{"op":"createBucket","uri":"gs://new-bucket","agent":"a1"}`,
	} {
		if code, out := post(t, srv.URL+"/files", req); code != 403 {
			t.Fatalf("%s: %d %v", req, code, out)
		}
	}
	if n := len(gcs.Authorizations()) + len(s3.AccessKeys()) - seen; n != 0 {
		t.Fatalf("refused requests reached storage %d times", n)
	}
	for _, auth := range gcs.Authorizations() {
		if auth != "" {
			t.Fatalf("credentials sent to the GCS emulator: %q", auth)
		}
	}
	for _, k := range s3.AccessKeys() {
		if k != "AKIALOCALDEV000001" {
			t.Fatalf("S3 request signed with %q", k)
		}
	}
	if !strings.Contains(strings.Join(a.Names(), " "), "files") {
		t.Fatalf("functions %v", a.Names())
	}
}
