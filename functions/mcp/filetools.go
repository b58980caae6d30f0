package mcp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"connectors.dev/connectors/functions/files"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/objects"
)

// maxJSONAnswer bounds what a list, write or sign answer may take in
// memory: a page of objects is far smaller.
const maxJSONAnswer = 4 << 20

const uriHelp = "gs://BUCKET/PATH with a gcs connector, s3://BUCKET/KEY with an aws connector"

type listFilesIn struct {
	Connector string `json:"connector" jsonschema:"a gcs or aws connector's name, from list_connectors"`
	URI       string `json:"uri" jsonschema:"a bucket, or a folder prefix in it: gs://BUCKET/PREFIX or s3://BUCKET/PREFIX"`
	PageSize  int    `json:"pageSize,omitempty" jsonschema:"most objects returned (default 100)"`
	PageToken string `json:"pageToken,omitempty" jsonschema:"nextPageToken of the previous call, for the next page"`
}

type objectOut struct {
	URI         string `json:"uri"`
	Size        int64  `json:"size"`
	Updated     string `json:"updated,omitempty"`
	ContentType string `json:"contentType,omitempty"`
}

type listFilesOut struct {
	Objects       []objectOut `json:"objects"`
	NextPageToken string      `json:"nextPageToken" jsonschema:"pass as pageToken for the next page; empty on the last page"`
}

type readFileIn struct {
	Connector string `json:"connector" jsonschema:"a gcs or aws connector's name, from list_connectors"`
	URI       string `json:"uri" jsonschema:"the object: gs://BUCKET/PATH or s3://BUCKET/KEY"`
}

type readFileOut struct {
	URI         string `json:"uri"`
	ContentType string `json:"contentType,omitempty"`
	Content     string `json:"content" jsonschema:"the object's content, cut when truncated"`
	Encoding    string `json:"encoding" jsonschema:"text, or base64 when the content is not text"`
	Truncated   bool   `json:"truncated" jsonschema:"true when content was cut at the service's size limit (use sign_url to fetch it whole)"`
}

type writeFileIn struct {
	Connector   string `json:"connector" jsonschema:"a gcs or aws connector's name, from list_connectors"`
	URI         string `json:"uri" jsonschema:"the object to create or replace: gs://BUCKET/PATH or s3://BUCKET/KEY"`
	Content     string `json:"content" jsonschema:"the object's content"`
	Encoding    string `json:"encoding,omitempty" jsonschema:"how content is written: text (default) or base64 for binary data"`
	ContentType string `json:"contentType,omitempty" jsonschema:"the object's media type, e.g. text/plain or application/json"`
}

type signURLIn struct {
	Connector   string `json:"connector" jsonschema:"a gcs or aws connector's name, from list_connectors"`
	URI         string `json:"uri" jsonschema:"the object: gs://BUCKET/PATH or s3://BUCKET/KEY"`
	Method      string `json:"method,omitempty" jsonschema:"GET to download (default), PUT to upload"`
	ExpiresIn   *int64 `json:"expiresIn,omitempty" jsonschema:"the URL's lifetime in seconds (default 15 minutes, at most the deployment's cap)"`
	ContentType string `json:"contentType,omitempty" jsonschema:"PUT only: the Content-Type the upload must carry"`
}

type signURLOut struct {
	URL       string            `json:"url" jsonschema:"the signed URL: anyone holding it may use it until expiresAt"`
	Method    string            `json:"method"`
	ExpiresAt string            `json:"expiresAt"`
	Headers   map[string]string `json:"headers,omitempty" jsonschema:"headers the request must carry"`
}

func (s *Server) addFileTools(srv *mcp.Server) {
	example := func(p map[string]*jsonschema.Schema, uris ...any) {
		p["connector"].Examples = []any{"ReportsBucket"}
		p["uri"].Examples = uris
	}
	addTool(s, srv, &mcp.Tool{
		Name:  ToolListFiles,
		Title: "List files",
		Description: "Lists objects under a bucket or folder (" + uriHelp + "), a page at a time. " +
			`Example: {"connector":"ReportsBucket","uri":"gs://acme-reports/2026/"}.`,
		InputSchema: schemaFor[listFilesIn](func(p map[string]*jsonschema.Schema) {
			example(p, "gs://acme-reports/2026/", "s3://acme-logs/")
			p["pageSize"].Minimum, p["pageSize"].Maximum = ptr(1.0), ptr(float64(objects.MaxPageSize))
		}),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(true)},
	}, s.listFiles)
	addTool(s, srv, &mcp.Tool{
		Name:  ToolReadFile,
		Title: "Read a file",
		Description: "Reads an object (" + uriHelp + "): text, or base64 when binary; cut with truncated=true past the size limit. " +
			`Example: {"connector":"ReportsBucket","uri":"gs://acme-reports/2026/summary.txt"}.`,
		InputSchema: schemaFor[readFileIn](func(p map[string]*jsonschema.Schema) {
			example(p, "gs://acme-reports/2026/summary.txt", "s3://acme-logs/app.log")
		}),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(true)},
	}, s.readFile)
	addTool(s, srv, &mcp.Tool{
		Name:  ToolWriteFile,
		Title: "Write a file",
		Description: "Creates or replaces an object (" + uriHelp + ") with the given content. For large uploads use sign_url with PUT. " +
			`Example: {"connector":"ReportsBucket","uri":"gs://acme-reports/2026/notes.md","content":"# Notes","contentType":"text/markdown"}.`,
		InputSchema: schemaFor[writeFileIn](func(p map[string]*jsonschema.Schema) {
			example(p, "gs://acme-reports/2026/notes.md", "s3://acme-logs/summary.json")
			p["encoding"].Enum = []any{encText, encBase64}
			p["encoding"].Default = []byte(`"text"`)
		}),
		// Replacing an object loses its old content; the same call twice
		// leaves the same object.
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(true)},
	}, s.writeFile)
	addTool(s, srv, &mcp.Tool{
		Name:  ToolSignURL,
		Title: "Sign a file URL",
		Description: "Makes a time-limited URL to download (GET) or upload (PUT) one object (" + uriHelp + ") without credentials, " +
			"e.g. to hand a large file to another program. Anyone holding the URL may use it until it expires. " +
			`Example: {"connector":"ReportsBucket","uri":"gs://acme-reports/2026/video.mp4","method":"GET","expiresIn":600}.`,
		InputSchema: schemaFor[signURLIn](func(p map[string]*jsonschema.Schema) {
			example(p, "gs://acme-reports/2026/video.mp4")
			p["method"].Enum = []any{objects.MethodGet, objects.MethodPut}
			p["method"].Default = []byte(`"GET"`)
			p["expiresIn"].Minimum = ptr(1.0)
		}),
		// Signing changes nothing by itself, but a PUT URL lets its
		// holder replace the object: not read-only, not destructive.
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(false), IdempotentHint: false, OpenWorldHint: ptr(true)},
	}, s.signURL)
}

func (s *Server) listFiles(ctx context.Context, c *caller, in *listFilesIn) (*listFilesOut, error) {
	out := &listFilesOut{}
	err := s.runFiles(ctx, c, &files.Call{Op: files.OpList, URI: in.URI, Connector: in.Connector, PageSize: in.PageSize, PageToken: in.PageToken}, out)
	if out.Objects == nil {
		out.Objects = []objectOut{}
	}
	return out, err
}

func (s *Server) readFile(ctx context.Context, c *caller, in *readFileIn) (*readFileOut, error) {
	if err := needConnector(in.Connector); err != nil {
		return nil, err
	}
	w := &capture{limit: s.Options.maxResult()}
	if err := s.Files.Do(ctx, w, c.principal, &files.Call{Op: files.OpRead, URI: in.URI, Agent: c.agent, Connector: in.Connector, Via: FnMCP}); err != nil {
		return nil, err
	}
	ct := w.Header().Get("Content-Type")
	out := &readFileOut{URI: in.URI, ContentType: ct, Truncated: w.cut}
	out.Content, out.Encoding = renderBody(w.body.Bytes(), ct, w.cut)
	return out, nil
}

func (s *Server) writeFile(ctx context.Context, c *caller, in *writeFileIn) (*objectOut, error) {
	var data []byte
	switch in.Encoding {
	case "", encText:
		data = []byte(in.Content)
	case encBase64:
		b, err := base64.StdEncoding.DecodeString(in.Content)
		if err != nil {
			return nil, httpx.FieldError("content", "is not standard base64 (RFC 4648 §4, padded)")
		}
		data = b
	default:
		return nil, httpx.FieldError("encoding", "must be text or base64")
	}
	out := &objectOut{}
	return out, s.runFiles(ctx, c, &files.Call{Op: files.OpWrite, URI: in.URI, Connector: in.Connector, Data: data, ContentType: in.ContentType}, out)
}

func (s *Server) signURL(ctx context.Context, c *caller, in *signURLIn) (*signURLOut, error) {
	out := &signURLOut{}
	return out, s.runFiles(ctx, c, &files.Call{Op: files.OpSign, URI: in.URI, Connector: in.Connector, Method: in.Method, ExpiresIn: in.ExpiresIn, ContentType: in.ContentType}, out)
}

// needConnector: the tools always use a connector. The mcp function's
// own identity holds no storage role, so the files function's
// default-identity mode has no place here.
func needConnector(name string) error {
	if name == "" {
		return httpx.FieldError("connector", "is required: a gcs or aws connector's name from list_connectors")
	}
	return nil
}

// runFiles runs a JSON-answering files operation for the caller and
// decodes its answer into out.
func (s *Server) runFiles(ctx context.Context, c *caller, call *files.Call, out any) error {
	if err := needConnector(call.Connector); err != nil {
		return err
	}
	call.Agent, call.Via = c.agent, FnMCP
	w := &capture{limit: maxJSONAnswer}
	if err := s.Files.Do(ctx, w, c.principal, call); err != nil {
		return err
	}
	if w.cut || json.Unmarshal(w.body.Bytes(), out) != nil {
		return fmt.Errorf("mcp: files %s answered %d bytes that do not decode", call.Op, w.body.Len())
	}
	return nil
}

// capture is the http.ResponseWriter files.Server.Do answers into: the
// headers, and the body up to limit; past it, Write takes what fits and
// says files.ErrEnough, which ends a read without reading the rest.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
	limit  int64
	cut    bool
}

func (w *capture) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *capture) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *capture) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	room := w.limit - int64(w.body.Len())
	if int64(len(p)) <= room {
		return w.body.Write(p)
	}
	w.body.Write(p[:room])
	w.cut = true
	return int(room), files.ErrEnough
}
