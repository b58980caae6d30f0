// Package proxy makes an agent's API call through a connector, so that the
// agent never holds the credential: the call goes to the connector's
// apiBaseUrl plus the caller's path, with the credential minted from the
// connector (shared/mint, through its caches) added on the way out, and the
// answer comes back as the API gave it. It is the core the proxy function
// (functions/proxy) and the MCP function's call_api share: the same path
// rules, header rules, limits, 401 renewal and audit line.
//
// Every call to an API goes through the guarded client (shared/outbound):
// the address guard is applied where each connection is made, no redirect
// is followed, and only the wait for the answer's headers is bounded
// (Limits.Timeout), never the streaming of its body.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"connectors.dev/connectors/shared/errkind"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
)

// Defaults of Limits.
const (
	DefaultMaxBody     = 32 << 20
	DefaultTimeout     = 60 * time.Second
	DefaultMaxDuration = 55 * time.Minute
	// ReplayBody is the largest request body kept for a replay after a 401.
	ReplayBody = 1 << 20
)

// Limits bound a call.
type Limits struct {
	// MaxBody is the largest request body; beyond it 413, read as a stream.
	MaxBody int64
	// Timeout bounds the wait for the API's answer headers (504 past it).
	Timeout time.Duration
	// MaxDuration bounds the whole call, streaming the answer included.
	MaxDuration time.Duration
}

// Errors of the proxy's own, beside the mint's and the path's.
var (
	ErrNoAPIBase = errkind.New(errkind.FailedPrecondition, "connector has no apiBaseUrl", "apiBaseUrl",
		"the connector has no apiBaseUrl, so it cannot be used through the proxy; an admin must set one")
	ErrTimeout = errkind.New(errkind.UpstreamTimeout, "API did not answer in time", "",
		"the API did not answer within the proxy's timeout")
	ErrUnreachable = errkind.New(errkind.Upstream, "API unreachable", "",
		"the API could not be reached (connection refused, reset, DNS or TLS failure)")
	ErrForbidden = errkind.New(errkind.FailedPrecondition, "API destination not allowed", "apiBaseUrl",
		"the connector's apiBaseUrl is not an allowed destination (link-local, metadata, private or loopback address)")
)

// Service makes calls. Fields are set once, before use.
type Service struct {
	Mint *mint.Service
	// Client is the guarded client (outbound.NewClient with Streaming);
	// its Timeout-free transport bounds the time to first byte.
	Client *http.Client
	Log    *slog.Logger
	Limits Limits
	Now    func() time.Time
}

// Call is one API call an agent asks for.
type Call struct {
	// Principal is the authenticated caller's name, for the audit line.
	Principal string
	Agent     string
	Connector string
	Method    string
	// Path is the caller's path below the connector's apiBaseUrl, escaped,
	// as sent ("" for the base itself).
	Path     string
	RawQuery string
	// Header is the caller's request headers; Do sends only those that may
	// travel (OutboundHeader).
	Header http.Header
	// Body is the request body, nil for none; ContentLength its length,
	// -1 when unknown.
	Body          io.Reader
	ContentLength int64
	// Op names the caller in the audit line: "proxy", "mcp.call_api".
	Op string
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) limits() Limits {
	l := s.Limits
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultMaxBody
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxDuration <= 0 {
		l.MaxDuration = DefaultMaxDuration
	}
	return l
}

// Do sends c and returns the API's answer, whatever its status; the caller
// must close its body, and closing it writes the call's audit line (with
// the bytes read). A refusal of the proxy's own (the path, the connector,
// the agent, minting, the body's size, the API's silence) is an error with
// a kind (httpx.Map gives its status), and its audit line is written
// before Do returns.
//
// The checks come in an order that tells a caller nothing it may not know:
// the path's syntax, then the connector and whether the agent may use it,
// only then its apiBaseUrl and state.
func (s *Service) Do(ctx context.Context, c *Call) (*http.Response, error) {
	a := &audit{s: s, call: c, start: s.now()}
	resp, err := s.do(ctx, c, a)
	if err != nil {
		a.fail(err)
		return nil, err
	}
	resp.Body = &auditedBody{rc: resp.Body, a: a, status: resp.StatusCode}
	return resp, nil
}

// Refused writes the audit line of a call refused before Do (the caller
// may not act for the agent, say).
func (s *Service) Refused(c *Call, err error) {
	(&audit{s: s, call: c, start: s.now()}).fail(err)
}

func (s *Service) do(ctx context.Context, c *Call, a *audit) (*http.Response, error) {
	lim := s.limits()
	p, err := CleanPath(c.Path)
	if err != nil {
		return nil, err
	}
	if m := strings.ToUpper(c.Method); m == http.MethodTrace || m == "TRACK" || m == http.MethodConnect {
		// TRACE would echo the request, the connector's credential
		// included, back to the caller.
		return nil, httpx.Errorf(http.StatusMethodNotAllowed, httpx.CodeInvalidArgument, "method %s is not proxied", m)
	}
	if c.ContentLength > lim.MaxBody {
		return nil, tooLarge(lim.MaxBody)
	}
	conn, err := s.Mint.Connector(ctx, c.Connector)
	if err != nil {
		return nil, err
	}
	a.known = true // a connector has the name: it may label the call's metrics
	if !conn.HasAgent(c.Agent) {
		return nil, fmt.Errorf("proxy: %s for agent %s: %w", c.Connector, c.Agent, mint.ErrAgentNotAllowed)
	}
	if conn.APIBaseURL == "" {
		return nil, fmt.Errorf("proxy: %s: %w", c.Connector, ErrNoAPIBase)
	}
	base, err := url.Parse(conn.APIBaseURL)
	if err != nil {
		return nil, fmt.Errorf("proxy: %s: stored apiBaseUrl: %w", c.Connector, err)
	}
	target := Join(base, p, c.RawQuery)
	a.host, a.path = target.Host, target.EscapedPath()

	// Keep a small body whole, for a replay after a 401 and for its SigV4
	// hash; stream a larger one, counted against MaxBody as it goes.
	var kept []byte
	var rest io.Reader
	if c.Body != nil && c.ContentLength != 0 {
		kept, rest, err = keepSmall(c.Body, ReplayBody)
		if err != nil {
			return nil, fmt.Errorf("proxy: read request body: %w", err)
		}
		if int64(len(kept)) > lim.MaxBody {
			return nil, tooLarge(lim.MaxBody)
		}
	}
	limit := &limitReader{max: lim.MaxBody}
	a.in = limit

	cred, layer, err := s.Mint.TokenLayer(ctx, c.Connector, c.Agent)
	if err != nil {
		return nil, err
	}
	a.layer = layer

	// The API's side of the call may outlast the request deadline (a long
	// download, an event stream), never the caller's presence.
	upCtx, cancel := httpx.StreamContext(ctx, lim.MaxDuration)
	send := func(cred *mint.Credential) (*http.Response, error) {
		var body io.Reader
		switch {
		case rest != nil:
			limit.r = io.MultiReader(bytes.NewReader(kept), rest)
			body = limit
		case kept != nil:
			// A limiter per attempt: a replay's must not share the count
			// of a refused attempt whose body may still be being sent.
			limit = &limitReader{r: bytes.NewReader(kept), max: lim.MaxBody}
			a.in = limit
			body = limit
		}
		req, err := http.NewRequestWithContext(upCtx, c.Method, target.String(), body)
		if err != nil {
			return nil, httpx.FieldError("method", "is not a valid HTTP method")
		}
		req.URL = target // keep the caller's escaping exactly
		req.Header = OutboundHeader(c.Header)
		switch {
		case rest == nil:
			req.ContentLength = int64(len(kept))
			if kept == nil {
				req.Body = http.NoBody
			}
		case c.ContentLength > 0:
			req.ContentLength = c.ContentLength
		default:
			req.ContentLength = -1
		}
		if err := authorize(ctx, req, conn, cred, kept, rest != nil, s.now()); err != nil {
			return nil, err
		}
		// The transport, not the client: redirects are never followed
		// (the guarded client's policy), and the client's per-request
		// header copying for them would be wasted.
		resp, err := s.Client.Transport.RoundTrip(req)
		if err != nil {
			return nil, s.transportError(upCtx, c, limit, err)
		}
		return resp, nil
	}
	resp, err := send(cred)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		// The API refused the token (revoked, or expired early): drop it
		// and mint one new one, whoever else saw the same refusal. The
		// call is replayed when its body was kept (or empty).
		a.renewed = true
		fresh, layer, rerr := s.Mint.Renew(ctx, c.Connector, c.Agent, cred)
		if rerr == nil && rest == nil {
			drain(resp.Body)
			a.layer = layer
			resp, err = send(fresh)
		} else if rerr != nil {
			s.log().Warn("proxy: renewing a refused credential failed", "connector", c.Connector, "error", rerr.Error())
		}
	}
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// transportError classifies a failure to get the API's answer.
func (s *Service) transportError(ctx context.Context, c *Call, limit *limitReader, err error) error {
	switch {
	case limit.over.Load():
		return tooLarge(limit.max)
	case errors.Is(err, netguard.ErrForbidden):
		return fmt.Errorf("proxy: %s: %w: %w", c.Connector, ErrForbidden, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("proxy: %s: %w", c.Connector, context.Canceled)
	case outbound.IsTimeout(err):
		return fmt.Errorf("proxy: %s: %w: %w", c.Connector, ErrTimeout, unwrapURL(err))
	default:
		return fmt.Errorf("proxy: %s: %w: %w", c.Connector, ErrUnreachable, unwrapURL(err))
	}
}

// unwrapURL drops a *url.Error's text, which repeats the request URL with
// its query (which may hold anything the caller put there).
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func tooLarge(max int64) error {
	return httpx.Errorf(http.StatusRequestEntityTooLarge, httpx.CodePayloadTooLarge, "the request body is larger than %d bytes (CONNECTORS_PROXY_MAX_BODY_BYTES)", max)
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// keepSmall reads r up to max bytes: all of it (rest nil) when it ends
// within max, else what was read and the unread remainder.
func keepSmall(r io.Reader, max int) (kept []byte, rest io.Reader, err error) {
	kept, err = io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, nil, err
	}
	if len(kept) <= max {
		return kept, nil, nil
	}
	return kept, r, nil
}

// limitReader fails a body past max bytes, and says so.
type limitReader struct {
	r io.Reader
	// n is read by the audit line, which may be written (the answer came
	// and was closed) while the transport is still sending the body.
	n    atomic.Int64
	max  int64
	over atomic.Bool
}

var errBodyTooLarge = errors.New("proxy: request body too large")

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.n.Add(int64(n)) > l.max {
		l.over.Store(true)
		return 0, errBodyTooLarge
	}
	return n, err
}

// drain reads a little of a body being discarded, so that its connection
// can be reused, and closes it.
func drain(rc io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, rc, 64<<10)
	rc.Close()
}

// cancelBody ends the API call's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// audit is one call's audit line in the making.
type audit struct {
	s       *Service
	call    *Call
	start   time.Time
	host    string
	path    string
	layer   mint.Layer
	renewed bool
	known   bool // the connector exists (else its name is a caller's word)
	in      *limitReader
	done    atomic.Bool
}

// auditedBody counts the answer's bytes and writes the audit line once,
// when it is closed.
type auditedBody struct {
	rc     io.ReadCloser
	a      *audit
	status int
	n      int64
	err    error
}

func (b *auditedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

func (b *auditedBody) Close() error {
	err := b.rc.Close()
	outcome := "ok"
	if b.err != nil {
		outcome = "cut"
	}
	b.a.write(b.status, outcome, b.n)
	return err
}

func (a *audit) fail(err error) {
	e := httpx.Map(err)
	a.write(e.Status, e.Code, 0)
}

// write logs the call's one audit line: who, for which agent and
// connector, what was asked of which host and path (never the query, whose
// values may be anything), the answer's status and bytes, the time taken,
// the credential's cache layer and whether it was renewed. Never a
// credential or a header value.
func (a *audit) write(status int, outcome string, bytesOut int64) {
	if a.done.Swap(true) {
		return
	}
	c := a.call
	op := c.Op
	if op == "" {
		op = "proxy"
	}
	labelled := ""
	if a.known {
		labelled = c.Connector
	}
	a.s.Mint.Metrics.ProxyCall(context.Background(), labelled, op, status) // the minting service's: one place to set them
	var bytesIn int64
	if a.in != nil {
		bytesIn = a.in.n.Load()
	}
	var buf [15]slog.Attr // on the stack: logging.LogAttrs keeps none
	attrs := append(buf[:0],
		slog.Bool("audit", true), slog.String("principal", c.Principal), slog.String("agent", c.Agent),
		slog.String("connector", c.Connector), slog.String("op", op), slog.String("method", c.Method),
		slog.String("host", a.host), slog.String("path", a.path), slog.Int("status", status),
		slog.String("outcome", outcome), slog.Int64("bytesIn", bytesIn), slog.Int64("bytesOut", bytesOut),
		slog.Int64("durationMs", a.s.now().Sub(a.start).Milliseconds()),
	)
	if a.layer != 0 {
		attrs = append(attrs, slog.String("cache", a.layer.String()))
	}
	if a.renewed {
		attrs = append(attrs, slog.Bool("renewed", true))
	}
	msg := op + " " + strings.ToLower(outcome)
	if op == "proxy" && outcome == "ok" {
		msg = "proxy ok" // the common line, without building its message
	}
	logging.LogAttrs(context.Background(), a.s.log(), slog.LevelInfo, msg, attrs...)
}
