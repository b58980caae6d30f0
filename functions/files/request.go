package files

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"slices"
	"strings"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/objects"
)

// request is one call's body, as decoded; validate checks it.
type request struct {
	Op        string `json:"op"`
	URI       string `json:"uri"`
	Agent     string `json:"agent"`
	Connector string `json:"connector"`

	PageSize    int    `json:"pageSize"`
	PageToken   string `json:"pageToken"`
	Data        b64    `json:"data"`
	ContentType string `json:"contentType"`
	Method      string `json:"method"`
	ExpiresIn   *int64 `json:"expiresIn"`
	Location    string `json:"location"`
	Member      string `json:"member"`
	Role        string `json:"role"`
}

// b64 is a JSON string of standard, padded base64 (RFC 4648 §4), decoded
// straight from the request buffer so the data is held once, not also as a
// string.
type b64 struct {
	set  bool
	data []byte
}

func (b *b64) UnmarshalJSON(raw []byte) error {
	if string(raw) == "null" {
		return nil
	}
	if len(raw) < 2 || raw[0] != '"' {
		return httpx.FieldError("data", "must be a string of base64")
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		// JSON escapes ("\/" from some encoders): unescape first.
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return httpx.FieldError("data", "must be a string of base64")
		}
		inner = []byte(s)
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(inner)))
	n, err := base64.StdEncoding.Decode(out, inner)
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return httpx.FieldError("data", "must be standard base64 with padding (RFC 4648 §4); invalid at character %d", int64(ce))
		}
		return httpx.FieldError("data", "must be standard base64 with padding (RFC 4648 §4)")
	}
	b.set, b.data = true, out[:n]
	return nil
}

// fieldsOf lists the op-specific fields a request sets.
func (r *request) fieldsOf() []string {
	var set []string
	add := func(name string, on bool) {
		if on {
			set = append(set, name)
		}
	}
	add("pageSize", r.PageSize != 0)
	add("pageToken", r.PageToken != "")
	add("data", r.Data.set)
	add("contentType", r.ContentType != "")
	add("method", r.Method != "")
	add("expiresIn", r.ExpiresIn != nil)
	add("location", r.Location != "")
	add("member", r.Member != "")
	add("role", r.Role != "")
	return set
}

// opFields returns the fields op takes besides op, uri, agent and
// connector, and whether op exists. Any other field is refused, so a
// misspelt op's fields do not pass silently.
func opFields(op string) ([]string, bool) {
	switch op {
	case OpList:
		return []string{"pageSize", "pageToken"}, true
	case OpRead, OpDelete:
		return nil, true
	case OpWrite:
		return []string{"data", "contentType"}, true
	case OpSign:
		return []string{"method", "expiresIn", "contentType"}, true
	case OpCreateBucket:
		return []string{"location"}, true
	case OpGrantAccess:
		return []string{"member", "role"}, true
	}
	return nil, false
}

// validate checks the request before anything is looked up or called.
func (s *Server) validate(req *request) (objects.URI, error) {
	allowed, known := opFields(req.Op)
	switch {
	case req.Op == "":
		return objects.URI{}, httpx.FieldError("op", "is required: one of list, read, write, delete, sign, createBucket, grantAccess")
	case !known:
		return objects.URI{}, httpx.FieldError("op", "must be one of list, read, write, delete, sign, createBucket, grantAccess")
	}
	if req.URI == "" {
		return objects.URI{}, httpx.FieldError("uri", "is required: gs://BUCKET/OBJECT or s3://BUCKET/KEY")
	}
	u, err := objects.ParseURI(req.URI)
	if err != nil {
		return objects.URI{}, err
	}
	switch req.Op {
	case OpRead, OpWrite, OpDelete, OpSign:
		if u.Key == "" {
			return objects.URI{}, httpx.FieldError("uri", "must name an object for %s: %s://%s/OBJECT", req.Op, u.Scheme, u.Bucket)
		}
	case OpCreateBucket, OpGrantAccess:
		if u.Key != "" {
			return objects.URI{}, httpx.FieldError("uri", "must name a bucket only for %s: %s://%s", req.Op, u.Scheme, u.Bucket)
		}
	}
	if req.Agent == "" {
		return objects.URI{}, httpx.FieldError("agent", "is required: the agent ID the operation is for")
	}
	if err := connector.ValidateAgent("agent", req.Agent); err != nil {
		return objects.URI{}, err
	}
	if req.Connector != "" {
		if err := connector.ValidateName(req.Connector); err != nil {
			return objects.URI{}, httpx.FieldError("connector", "is not a connector name")
		}
	}
	for _, f := range req.fieldsOf() {
		if !slices.Contains(allowed, f) {
			return objects.URI{}, httpx.FieldError(f, "is not a field of op %s", req.Op)
		}
	}
	return u, s.validateOp(req)
}

func (s *Server) validateOp(req *request) error {
	switch req.Op {
	case OpList:
		if req.PageSize < 0 || req.PageSize > objects.MaxPageSize {
			return httpx.FieldError("pageSize", "must be 1-%d (default %d)", objects.MaxPageSize, objects.DefaultPageSize)
		}
		if len(req.PageToken) > maxPageTokenLen {
			return httpx.FieldError("pageToken", "is not a token this function returned")
		}
	case OpWrite:
		if !req.Data.set {
			return httpx.FieldError("data", "is required: the object's content in base64")
		}
		if n := int64(len(req.Data.data)); n > s.maxWrite() {
			return &objects.Error{Op: "write", URI: req.URI, Kind: &objects.LimitError{Size: n, Limit: s.maxWrite()}}
		}
		return validContentType("contentType", req.ContentType)
	case OpSign:
		req.Method = strings.ToUpper(req.Method)
		if req.Method == "" {
			req.Method = objects.MethodGet
		}
		if req.Method != objects.MethodGet && req.Method != objects.MethodPut {
			return httpx.FieldError("method", "must be GET (download) or PUT (upload)")
		}
		if limit := int64(s.maxSignedExpiry() / time.Second); req.ExpiresIn != nil && (*req.ExpiresIn < 1 || *req.ExpiresIn > limit) {
			return httpx.FieldError("expiresIn", "must be 1-%d seconds, this deployment's cap (default %d)", limit, int64(s.signedTTL()/time.Second))
		}
		if req.ContentType != "" && req.Method != objects.MethodPut {
			return httpx.FieldError("contentType", "is only for PUT URLs: the Content-Type the upload must carry")
		}
		return validContentType("contentType", req.ContentType)
	case OpCreateBucket:
		if req.Location != "" && !isToken(req.Location) {
			return httpx.FieldError("location", "must be a GCS location or an AWS region, like US, europe-west1 or eu-west-1")
		}
	case OpGrantAccess:
		// The member is compared with the connector's
		// serviceAccountEmail once the connector is read; here only its
		// shape, so that nothing else is looked up for a stranger.
		return objects.CheckGrantRequest(req.Member, req.Role)
	}
	return nil
}

func validContentType(field, ct string) error {
	if ct == "" {
		return nil
	}
	if len(ct) > maxFieldLen {
		return httpx.FieldError(field, "must be at most %d characters", maxFieldLen)
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		return httpx.FieldError(field, "must be a media type like text/plain or application/json")
	}
	return nil
}

// isToken: letters, digits and "-", as every location and region name is.
func isToken(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
