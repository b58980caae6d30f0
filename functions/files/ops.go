package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/objects"
)

// run performs the operation and writes its response.
func (s *Server) run(ctx context.Context, w http.ResponseWriter, req *request, u objects.URI, t *target) error {
	switch req.Op {
	case OpList:
		page, err := t.client.List(ctx, u.Bucket, objects.ListOptions{Prefix: u.Key, PageSize: req.PageSize, PageToken: req.PageToken})
		if err != nil {
			return err
		}
		out := listResponse{Objects: make([]objectJSON, 0, len(page.Objects)), NextPageToken: page.NextPageToken}
		for _, o := range page.Objects {
			out.Objects = append(out.Objects, wireAttrs(u, o))
		}
		httpx.WriteJSON(w, http.StatusOK, out)
	case OpRead:
		return s.read(ctx, w, u, t)
	case OpWrite:
		data := req.Data.data
		a, err := t.client.Write(ctx, u.Bucket, u.Key, bytes.NewReader(data), objects.WriteOptions{ContentType: req.ContentType, Size: int64(len(data))})
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, wireAttrs(u, *a))
	case OpDelete:
		if err := t.client.Delete(ctx, u.Bucket, u.Key); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"deleted": u.String()})
	case OpSign:
		ttl := s.signedTTL()
		if req.ExpiresIn != nil {
			ttl = time.Duration(*req.ExpiresIn) * time.Second
		}
		start := s.now()
		signed, err := t.client.Sign(ctx, u.Bucket, u.Key, objects.SignOptions{Method: req.Method, Expires: ttl, ContentType: req.ContentType})
		if err != nil {
			return err
		}
		out := signResponse{URL: signed, Method: req.Method, ExpiresAt: start.Add(ttl).UTC().Format(time.RFC3339)}
		if req.ContentType != "" {
			out.Headers = map[string]string{"Content-Type": req.ContentType}
		}
		httpx.WriteJSON(w, http.StatusOK, out)
	case OpCreateBucket:
		if u.Scheme == objects.SchemeGCS && t.project == "" {
			return httpx.Errorf(http.StatusConflict, httpx.CodeFailedPrecondition,
				"creating a GCS bucket needs a project: set the connector's clientId to the project ID (or use a key with project_id); without a connector, set GOOGLE_CLOUD_PROJECT")
		}
		if err := t.client.CreateBucket(ctx, u.Bucket, objects.BucketOptions{Location: req.Location}); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusCreated, map[string]string{"created": u.String()})
	case OpGrantAccess:
		if u.Scheme == objects.SchemeS3 {
			// Said before any credential is used: S3 has nothing to grant
			// through (see s3objects.Client.GrantAccess).
			return httpx.FieldError("op", "grantAccess is for gs:// buckets only: S3 buckets are shared through IAM or bucket policies, which an admin edits")
		}
		// connectorTarget has decided the grant (t.grant); the default
		// identity never gets here.
		g := t.grant
		if g.Member == "" {
			return httpx.Errorf(http.StatusForbidden, httpx.CodePermissionDenied, "grantAccess needs a connector")
		}
		if err := t.client.GrantAccess(ctx, u.Bucket, g); err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"uri": u.String(), "member": g.Member, "role": g.Role})
	}
	return nil
}

// read streams the object: nothing is buffered beyond io.Copy's buffer.
// The request deadline bounds opening the object (an unreachable storage
// service still ends as 503 in time); the body then streams under the
// read timeout, because a large object outlasts the request deadline.
// Once the status is sent an error can only cut the body short, so the
// connection is dropped rather than letting a truncated body end cleanly.
func (s *Server) read(ctx context.Context, w http.ResponseWriter, u objects.URI, t *target) error {
	streamCtx, cancel := httpx.StreamContext(ctx, s.readTimeout())
	defer cancel()
	// The reader keeps the context it was opened with for the whole body,
	// so it is opened with streamCtx, which the request deadline cancels
	// until the object is open.
	stop := context.AfterFunc(ctx, cancel)
	rd, err := t.client.Read(streamCtx, u.Bucket, u.Key)
	if !stop() {
		// ctx ended first: report its cause (a deadline is 503), not the
		// cancellation it caused.
		if err == nil {
			rd.Body.Close()
		}
		return fmt.Errorf("files: read: %w", context.Cause(ctx))
	}
	if err != nil {
		return err
	}
	defer rd.Body.Close()
	h := w.Header()
	h.Set("Content-Type", rd.Attrs.ContentType)
	if rd.Length >= 0 {
		h.Set("Content-Length", strconv.FormatInt(rd.Length, 10))
	}
	if !rd.Attrs.Updated.IsZero() {
		h.Set("Last-Modified", rd.Attrs.Updated.UTC().Format(http.TimeFormat))
	}
	h.Set("Cache-Control", "no-store")
	// Stored content is the agents' data, not this service's page: never
	// sniffed, never run as a document of the function's origin.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rd.Body); err != nil && !errors.Is(err, ErrEnough) {
		s.Log.Warn("files: read cut short", "uri", u.String(), "error", err.Error())
		if conn, _, herr := http.NewResponseController(w).Hijack(); herr == nil {
			_ = conn.Close()
		}
	}
	return nil
}

type objectJSON struct {
	URI         string `json:"uri"`
	Size        int64  `json:"size"`
	Updated     string `json:"updated,omitempty"`
	ContentType string `json:"contentType,omitempty"`
}

type listResponse struct {
	Objects       []objectJSON `json:"objects"`
	NextPageToken string       `json:"nextPageToken"`
}

type signResponse struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	ExpiresAt string            `json:"expiresAt"`
	Headers   map[string]string `json:"headers,omitempty"`
}

func wireAttrs(u objects.URI, a objects.Attrs) objectJSON {
	o := objectJSON{URI: u.Object(a.Key).String(), Size: a.Size, ContentType: a.ContentType}
	if !a.Updated.IsZero() {
		o.Updated = a.Updated.UTC().Format(time.RFC3339Nano)
	}
	return o
}
