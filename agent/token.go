package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxAnswer bounds the token function's answer read into memory; a token
// response is a few KiB at most.
const maxAnswer = 1 << 20

// TokenSource returns the access tokens of connector for agentID, minted
// by the token function at tokenURL, each reused until shortly before it
// expires (oauth2.ReuseTokenSource). ctx is used for every request of the
// source, as oauth2.Config.TokenSource does. The tokens are a live
// credential: prefer ProxyClient, which keeps them out of the agent.
func TokenSource(ctx context.Context, tokenURL, connector, agentID string, opts *Options) (oauth2.TokenSource, error) {
	u, err := parseFunctionURL("token URL", tokenURL)
	if err != nil {
		return nil, err
	}
	if connector == "" || agentID == "" {
		return nil, fmt.Errorf("agent: connector %q and agent %q are both required", connector, agentID)
	}
	idts, err := opts.idTokenSource(ctx, u)
	if err != nil {
		return nil, err
	}
	return oauth2.ReuseTokenSource(nil, &tokenSource{
		ctx: ctx, url: u.String(), connector: connector, agent: agentID,
		idToken: idts, client: &http.Client{Transport: opts.transport()},
	}), nil
}

type tokenSource struct {
	ctx              context.Context
	url              string
	connector, agent string
	idToken          oauth2.TokenSource
	client           *http.Client
}

// tokenResponse is the token function's answer: RFC 6749 §5.1, with
// expires_at beside expires_in, or AWS credentials.
type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   int64           `json:"expires_in"`
	ExpiresAt   string          `json:"expires_at"`
	Scope       string          `json:"scope"`
	Credentials json.RawMessage `json:"credentials"`
}

// errorResponse is the functions' error body.
type errorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *tokenSource) Token() (*oauth2.Token, error) {
	body, err := json.Marshal(map[string]string{"connector": s.connector, "agent": s.agent})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("agent: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if err := authorize(req.Header, s.idToken); err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent: token function: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("agent: token function: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, answerError(resp.StatusCode, raw)
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		// Never quote the body: it may hold the token.
		return nil, fmt.Errorf("agent: token function: the answer is not a token response (%d bytes of %s)", len(raw), resp.Header.Get("Content-Type"))
	}
	if len(tr.Credentials) > 0 && tr.AccessToken == "" {
		return nil, ErrNotBearer
	}
	if tr.AccessToken == "" {
		return nil, fmt.Errorf("agent: token function: the answer has no access_token")
	}
	tok := &oauth2.Token{AccessToken: tr.AccessToken, TokenType: tr.TokenType}
	// expires_at is absolute, so a slow answer does not stretch the
	// token's life; expires_in counts from when the request was sent.
	if at, err := time.Parse(time.RFC3339, tr.ExpiresAt); err == nil {
		tok.Expiry = at
	} else if tr.ExpiresIn > 0 {
		tok.Expiry = start.Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	if tr.Scope != "" {
		tok = tok.WithExtra(map[string]any{"scope": tr.Scope})
	}
	return tok, nil
}

// answerError reads a function's error answer: its JSON error body, or,
// from Cloud Run's front end, a page of its own (not quoted: only its
// status).
func answerError(status int, raw []byte) *Error {
	var er errorResponse
	if err := json.Unmarshal(raw, &er); err == nil && er.Error.Code != "" {
		return &Error{Status: status, Code: er.Error.Code, Message: er.Error.Message}
	}
	msg := "no error of the function's own"
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		msg += " (Cloud Run's front end refused the ID token: its audience must be the function's URL, and its principal needs roles/run.invoker)"
	}
	return &Error{Status: status, Message: strings.TrimSpace(msg)}
}
