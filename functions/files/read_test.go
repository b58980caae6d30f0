package files_test

// Streaming reads against the request deadline and the read timeout.

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/shared/testenv"
)

// TestReadOutlastsRequestDeadline: the request deadline bounds reaching the
// storage service, not streaming the body. A large object read by a slow
// client takes several request deadlines and arrives whole; a stalled
// storage service still ends as 503 unavailable within one.
func TestReadOutlastsRequestDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	e := newEnv(t, testenv.Embedded, envOptions{requestTimeout: deadline, proxied: true})
	e.connectors()
	// More than the loopback socket buffers hold, so the server cannot
	// finish writing before the slow client has read most of it.
	data := make([]byte, 32<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	e.gcs.Put(t, "gcs-bucket", "big.bin", "application/octet-stream", data)
	e.s3.Put(t, "s3-bucket", "big.bin", "application/octet-stream", data)

	for _, c := range []struct{ uri, conn string }{
		{"gs://gcs-bucket/big.bin", "GCS"},
		{"s3://s3-bucket/big.bin", "S3"},
	} {
		t.Run(c.uri, func(t *testing.T) {
			resp := e.postStream(files.FnFiles, op("read", c.uri, "connector", c.conn))
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("read: %d", resp.StatusCode)
			}
			start := time.Now()
			got, err := slowRead(resp.Body, 1<<20, 40*time.Millisecond)
			took := time.Since(start)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d of %d bytes in %v: %v", len(got), len(data), took, err)
			}
			if took < 2*deadline {
				t.Fatalf("the slow read took %v: it did not outlast the request deadline, so it tests nothing", took)
			}
		})
	}

	t.Run("stalled", func(t *testing.T) {
		e.gcsProxy.Stall()
		start := time.Now()
		r := e.files(op("read", "gs://gcs-bucket/big.bin", "connector", "GCS"))
		took := time.Since(start)
		e.gcsProxy.Restore()
		if r.code != 503 || r.err()["code"] != "unavailable" || took > deadline+2*time.Second {
			t.Fatalf("read from a stalled service: %d %s after %v; want 503 unavailable at the deadline", r.code, r.raw, took)
		}
	})
}

// TestReadTimeout: the read timeout cuts a body streaming too long, and the
// connection is dropped so the client cannot take the short body as whole.
func TestReadTimeout(t *testing.T) {
	e := newEnv(t, testenv.Embedded, envOptions{requestTimeout: time.Minute, readTimeout: 300 * time.Millisecond})
	data := make([]byte, 32<<20)
	e.gcs.Put(t, "gcs-bucket", "big.bin", "application/octet-stream", data)
	resp := e.postStream(files.FnFiles, op("read", "gs://gcs-bucket/big.bin"))
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("read: %d", resp.StatusCode)
	}
	got, err := slowRead(resp.Body, 1<<20, 40*time.Millisecond)
	if err == nil || len(got) >= len(data) {
		t.Fatalf("read %d of %d bytes, error %v: the read timeout did not cut the body", len(got), len(data), err)
	}
}

// postStream posts to fn and returns the response unread.
func (e *env) postStream(fn string, body any) *http.Response {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(e.url+"/"+fn, "application/json", bytes.NewReader(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// slowRead reads r a chunk at a time, pausing between chunks; a nil error
// means r ended cleanly.
func slowRead(r io.Reader, chunk int, pause time.Duration) ([]byte, error) {
	var out bytes.Buffer
	for {
		n, err := out.ReadFrom(io.LimitReader(r, int64(chunk)))
		if err != nil || n == 0 {
			return out.Bytes(), err
		}
		time.Sleep(pause)
	}
}
