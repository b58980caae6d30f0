package oauth_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
)

// provider is a hand-made token endpoint on loopback that records what it
// received and counts requests.
type provider struct {
	*httptest.Server
	hits atomic.Int64

	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	header http.Header
	body   []byte
}

func newProvider(t *testing.T, h http.HandlerFunc) *provider {
	t.Helper()
	p := &provider{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		p.mu.Lock()
		p.reqs = append(p.reqs, recorded{header: r.Header.Clone(), body: body})
		p.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

// last returns the last request received.
func (p *provider) last(t *testing.T) recorded {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) == 0 {
		t.Fatal("provider received no request")
	}
	return p.reqs[len(p.reqs)-1]
}

// respond answers every request with a canned response.
func respond(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

const okJSON = `{"access_token":"at-123","token_type":"bearer","expires_in":3600}`

// testClient reaches loopback providers with short timeouts and a fixed
// clock.
func testClient(timeout time.Duration) *oauth.Client {
	return &oauth.Client{
		HTTP: outbound.NewClient(outbound.Options{
			Policy:         netguard.Policy{AllowLoopback: true},
			ConnectTimeout: timeout,
			Timeout:        timeout,
		}),
		DefaultLifetime: 42 * time.Minute,
		Now:             testNow,
	}
}

// testNow is the fixed clock of testClient.
func testNow() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }

func ccConnector(url string) *connector.Connector {
	return &connector.Connector{
		Name: "Test", URL: url, GrantType: connector.GrantClientCredentials,
		ContentType: connector.ContentTypeForm, ClientID: "client-1",
	}
}
