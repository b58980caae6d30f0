// Package objecttest is the conformance suite every objects.Client backend
// passes, against a real server: what the files function relies on —
// round trips, streaming, listing order and paging, not-found and
// already-exists errors that carry the URI, signed URLs that work with a
// plain HTTP client, bucket creation and grants — is checked once, here,
// for all of them.
package objecttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/objects"
)

// Harness is one backend under test, on a fresh server.
type Harness struct {
	Client objects.Client
	// Scheme is the backend's URI scheme (objects.SchemeGCS, SchemeS3).
	Scheme string
	// Bucket exists and is empty.
	Bucket string
	// NewBucket is a valid bucket name that does not exist yet.
	NewBucket string
	// CheckSignedURL, when set, checks a signed URL beyond its working:
	// its parameters, its signature.
	CheckSignedURL func(t *testing.T, rawURL string, opts objects.SignOptions)
	// Members returns who holds role on bucket, as the server sees it.
	// Nil means the backend does not support grants: GrantAccess must
	// fail with objects.ErrUnsupported.
	Members func(bucket, role string) []string
	// Member is a valid member for grants.
	Member string
}

// Run runs the suite; newHarness is called once per test.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"WriteRead", testWriteRead},
		{"DefaultContentType", testDefaultContentType},
		{"Overwrite", testOverwrite},
		{"StreamUnknownSize", testStreamUnknownSize},
		{"LargeObject", testLargeObject},
		{"FailedBodyLeavesPrevious", testFailedBody},
		{"SpecialKeys", testSpecialKeys},
		{"ReadNotFound", testReadNotFound},
		{"List", testList},
		{"ListPaging", testListPaging},
		{"ListMissingBucket", testListMissingBucket},
		{"Delete", testDelete},
		{"SignGet", testSignGet},
		{"SignPut", testSignPut},
		{"CreateBucket", testCreateBucket},
		{"GrantAccess", testGrantAccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			t.Cleanup(func() { _ = h.Client.Close() })
			tt.fn(t, h)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func write(t *testing.T, h Harness, key, body, contentType string) *objects.Attrs {
	t.Helper()
	a, err := h.Client.Write(ctx(t), h.Bucket, key, strings.NewReader(body), objects.WriteOptions{ContentType: contentType, Size: int64(len(body))})
	if err != nil {
		t.Fatalf("write %s: %v", key, err)
	}
	return a
}

func read(t *testing.T, h Harness, bucket, key string) (*objects.Reader, []byte) {
	t.Helper()
	r, err := h.Client.Read(ctx(t), bucket, key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	defer r.Body.Close()
	data, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("read %s body: %v", key, err)
	}
	return r, data
}

// wantErr checks err wraps kind and names uri.
func wantErr(t *testing.T, err, kind error, uri string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("got %v, want %v", err, kind)
	}
	var oe *objects.Error
	if !errors.As(err, &oe) || oe.URI != uri {
		t.Fatalf("error %v does not carry URI %s", err, uri)
	}
}

func uri(h Harness, bucket, key string) string {
	return objects.URI{Scheme: h.Scheme, Bucket: bucket, Key: key}.String()
}

func testWriteRead(t *testing.T, h Harness) {
	before := time.Now().Add(-time.Minute)
	a := write(t, h, "docs/hello.txt", "hello, world", "text/plain; charset=utf-8")
	if a.Key != "docs/hello.txt" || a.Bucket != h.Bucket || a.Size != 12 || a.ContentType != "text/plain; charset=utf-8" {
		t.Fatalf("write attrs %+v", a)
	}
	if a.Updated.Before(before) || a.Updated.After(time.Now().Add(time.Minute)) {
		t.Fatalf("updated %v is not now", a.Updated)
	}
	r, data := read(t, h, h.Bucket, "docs/hello.txt")
	if string(data) != "hello, world" {
		t.Fatalf("read %q", data)
	}
	if r.Attrs.ContentType != "text/plain; charset=utf-8" || r.Attrs.Size != 12 || (r.Length != 12 && r.Length != -1) {
		t.Fatalf("read attrs %+v length %d", r.Attrs, r.Length)
	}
	if r.Attrs.Updated.IsZero() {
		t.Fatal("read attrs lack the update time")
	}
}

func testDefaultContentType(t *testing.T, h Harness) {
	a := write(t, h, "blob", "\x00\x01", "")
	if a.ContentType != objects.DefaultContentType {
		t.Fatalf("write content type %q", a.ContentType)
	}
	r, _ := read(t, h, h.Bucket, "blob")
	if r.Attrs.ContentType != objects.DefaultContentType {
		t.Fatalf("read content type %q", r.Attrs.ContentType)
	}
}

func testOverwrite(t *testing.T, h Harness) {
	write(t, h, "k", "first", "text/plain")
	write(t, h, "k", "second version", "application/json")
	r, data := read(t, h, h.Bucket, "k")
	if string(data) != "second version" || r.Attrs.ContentType != "application/json" {
		t.Fatalf("after overwrite: %q %+v", data, r.Attrs)
	}
}

// onlyReader hides every interface but io.Reader (no Seek, no WriterTo).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func testStreamUnknownSize(t *testing.T, h Harness) {
	body := random(t, 300<<10)
	a, err := h.Client.Write(ctx(t), h.Bucket, "stream", onlyReader{bytes.NewReader(body)}, objects.WriteOptions{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	if a.Size != int64(len(body)) {
		t.Fatalf("size %d", a.Size)
	}
	if _, data := read(t, h, h.Bucket, "stream"); !bytes.Equal(data, body) {
		t.Fatal("content differs")
	}
}

// testLargeObject writes more than one upload chunk (16 MiB for GCS), so a
// multi-request upload is exercised, and reads it back in small pieces.
func testLargeObject(t *testing.T, h Harness) {
	body := random(t, 17<<20)
	if _, err := h.Client.Write(ctx(t), h.Bucket, "large.bin", onlyReader{bytes.NewReader(body)}, objects.WriteOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	r, err := h.Client.Read(ctx(t), h.Bucket, "large.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	got := make([]byte, 0, len(body))
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("large object differs (%d bytes read)", len(got))
	}
}

// failingReader yields some bytes, then an error.
type failingReader struct{ n int }

var errBody = errors.New("body broke")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errBody
	}
	n := min(len(p), f.n)
	for i := range p[:n] {
		p[i] = 'x'
	}
	f.n -= n
	return n, nil
}

func testFailedBody(t *testing.T, h Harness) {
	write(t, h, "kept", "original", "text/plain")
	_, err := h.Client.Write(ctx(t), h.Bucket, "kept", &failingReader{n: 1000}, objects.WriteOptions{Size: -1})
	if err == nil {
		t.Fatal("write with a failing body succeeded")
	}
	if _, data := read(t, h, h.Bucket, "kept"); string(data) != "original" {
		t.Fatalf("a failed write replaced the object: %q", data)
	}
	_, err = h.Client.Write(ctx(t), h.Bucket, "never", &failingReader{n: 10}, objects.WriteOptions{Size: -1})
	if err == nil {
		t.Fatal("write with a failing body succeeded")
	}
	_, err = h.Client.Read(ctx(t), h.Bucket, "never")
	wantErr(t, err, objects.ErrNotFound, uri(h, h.Bucket, "never"))
}

// testSpecialKeys: names are taken literally, through every operation and
// through signed URLs.
func testSpecialKeys(t *testing.T, h Harness) {
	keys := []string{"dir with space/ü.txt", "q?a=b#frag", "100% sure+plus", "a//double", "émoji-🙂"}
	for _, k := range keys {
		write(t, h, k, "v:"+k, "text/plain")
	}
	for _, k := range keys {
		if _, data := read(t, h, h.Bucket, k); string(data) != "v:"+k {
			t.Fatalf("%q read %q", k, data)
		}
	}
	page, err := h.Client.List(ctx(t), h.Bucket, objects.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range page.Objects {
		got = append(got, o.Key)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("list %q, want %q", got, want)
	}
	for _, k := range keys {
		signed, err := h.Client.Sign(ctx(t), h.Bucket, k, objects.SignOptions{Method: objects.MethodGet, Expires: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if code, body := Fetch(t, http.MethodGet, signed, "", nil); code != 200 || string(body) != "v:"+k {
			t.Fatalf("%q via signed URL: %d %q", k, code, body)
		}
	}
	for _, k := range keys {
		if err := h.Client.Delete(ctx(t), h.Bucket, k); err != nil {
			t.Fatal(err)
		}
	}
}

func testReadNotFound(t *testing.T, h Harness) {
	_, err := h.Client.Read(ctx(t), h.Bucket, "missing/object")
	wantErr(t, err, objects.ErrNotFound, uri(h, h.Bucket, "missing/object"))
	_, err = h.Client.Read(ctx(t), h.NewBucket, "x")
	wantErr(t, err, objects.ErrNotFound, uri(h, h.NewBucket, "x"))
}

func testList(t *testing.T, h Harness) {
	for _, k := range []string{"b/1", "a/2", "a/1", "c", "a/3/deep"} {
		write(t, h, k, "data-"+k, "text/plain")
	}
	page, err := h.Client.List(ctx(t), h.Bucket, objects.ListOptions{Prefix: "a/"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range page.Objects {
		keys = append(keys, o.Key)
		if o.Bucket != h.Bucket || o.Size != int64(len("data-"+o.Key)) || o.Updated.IsZero() {
			t.Fatalf("attrs %+v", o)
		}
		if o.ContentType != "" && o.ContentType != "text/plain" {
			t.Fatalf("content type %q", o.ContentType)
		}
	}
	if !slices.Equal(keys, []string{"a/1", "a/2", "a/3/deep"}) || page.NextPageToken != "" {
		t.Fatalf("list a/: %q next %q", keys, page.NextPageToken)
	}
	page, err = h.Client.List(ctx(t), h.Bucket, objects.ListOptions{Prefix: "nothing-here/"})
	if err != nil || len(page.Objects) != 0 || page.NextPageToken != "" {
		t.Fatalf("empty list: %+v %v", page, err)
	}
}

func testListPaging(t *testing.T, h Harness) {
	var want []string
	for i := range 7 {
		k := "p/" + string(rune('a'+i))
		want = append(want, k)
		write(t, h, k, "x", "")
	}
	var got []string
	token := ""
	pages := 0
	for {
		page, err := h.Client.List(ctx(t), h.Bucket, objects.ListOptions{Prefix: "p/", PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Objects) > 3 {
			t.Fatalf("page of %d objects, asked for 3", len(page.Objects))
		}
		for _, o := range page.Objects {
			got = append(got, o.Key)
		}
		pages++
		if token = page.NextPageToken; token == "" || pages > 10 {
			break
		}
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("paged %q in %d pages, want %q in 3", got, pages, want)
	}
}

func testListMissingBucket(t *testing.T, h Harness) {
	_, err := h.Client.List(ctx(t), h.NewBucket, objects.ListOptions{})
	wantErr(t, err, objects.ErrNotFound, uri(h, h.NewBucket, ""))
}

func testDelete(t *testing.T, h Harness) {
	write(t, h, "gone", "x", "")
	if err := h.Client.Delete(ctx(t), h.Bucket, "gone"); err != nil {
		t.Fatal(err)
	}
	_, err := h.Client.Read(ctx(t), h.Bucket, "gone")
	wantErr(t, err, objects.ErrNotFound, uri(h, h.Bucket, "gone"))
	err = h.Client.Delete(ctx(t), h.Bucket, "gone")
	wantErr(t, err, objects.ErrNotFound, uri(h, h.Bucket, "gone"))
}

// Fetch sends method to rawURL with a plain client (no credentials but the
// URL's, as a presigned URL is used) and returns the status and body.
func Fetch(t *testing.T, method, rawURL, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	// A plain client: no credentials but the URL's.
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func testSignGet(t *testing.T, h Harness) {
	write(t, h, "shared/report.csv", "a,b\n1,2\n", "text/csv")
	opts := objects.SignOptions{Method: objects.MethodGet, Expires: 10 * time.Minute}
	signed, err := h.Client.Sign(ctx(t), h.Bucket, "shared/report.csv", opts)
	if err != nil {
		t.Fatal(err)
	}
	if h.CheckSignedURL != nil {
		h.CheckSignedURL(t, signed, opts)
	}
	if code, body := Fetch(t, http.MethodGet, signed, "", nil); code != 200 || string(body) != "a,b\n1,2\n" {
		t.Fatalf("GET signed URL: %d %q", code, body)
	}
}

func testSignPut(t *testing.T, h Harness) {
	opts := objects.SignOptions{Method: objects.MethodPut, Expires: time.Hour, ContentType: "application/json"}
	signed, err := h.Client.Sign(ctx(t), h.Bucket, "uploads/in.json", opts)
	if err != nil {
		t.Fatal(err)
	}
	if h.CheckSignedURL != nil {
		h.CheckSignedURL(t, signed, opts)
	}
	if code, body := Fetch(t, http.MethodPut, signed, "application/json", []byte(`{"ok":true}`)); code != 200 {
		t.Fatalf("PUT signed URL: %d %q", code, body)
	}
	if _, data := read(t, h, h.Bucket, "uploads/in.json"); string(data) != `{"ok":true}` {
		t.Fatalf("uploaded %q", data)
	}
}

func testCreateBucket(t *testing.T, h Harness) {
	if err := h.Client.CreateBucket(ctx(t), h.NewBucket, objects.BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Client.Write(ctx(t), h.NewBucket, "first", strings.NewReader("1"), objects.WriteOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	if _, data := read(t, h, h.NewBucket, "first"); string(data) != "1" {
		t.Fatalf("read %q", data)
	}
	err := h.Client.CreateBucket(ctx(t), h.NewBucket, objects.BucketOptions{})
	wantErr(t, err, objects.ErrExists, uri(h, h.NewBucket, ""))
}

func testGrantAccess(t *testing.T, h Harness) {
	g := objects.Grant{Member: h.Member, Role: "roles/storage.objectViewer"}
	err := h.Client.GrantAccess(ctx(t), h.Bucket, g)
	if h.Members == nil {
		wantErr(t, err, objects.ErrUnsupported, uri(h, h.Bucket, ""))
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	// Twice, and a second member: no duplicates, nothing lost.
	if err := h.Client.GrantAccess(ctx(t), h.Bucket, g); err != nil {
		t.Fatal(err)
	}
	other := objects.Grant{Member: "group:readers@example.com", Role: g.Role}
	if err := h.Client.GrantAccess(ctx(t), h.Bucket, other); err != nil {
		t.Fatal(err)
	}
	if got := h.Members(h.Bucket, g.Role); !slices.Equal(got, []string{g.Member, other.Member}) {
		t.Fatalf("members %q", got)
	}
	err = h.Client.GrantAccess(ctx(t), h.NewBucket, g)
	wantErr(t, err, objects.ErrNotFound, uri(h, h.NewBucket, ""))
}
