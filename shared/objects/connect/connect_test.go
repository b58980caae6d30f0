package connect_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"
	"time"

	"connectors.dev/connectors/shared/objects"
	"connectors.dev/connectors/shared/objects/connect"
	"connectors.dev/connectors/shared/objects/objectservers"
)

const (
	defaultKeyID  = "AKIADEFAULTCHAIN"
	defaultSecret = "default-chain-secret"
)

// setup starts the loopback GCS and S3 servers, each with bucket "b", and
// gives the default AWS chain a key pair of its own and nothing else.
func setup(t *testing.T) (*objectservers.GCS, *objectservers.S3, *connect.Clients) {
	t.Helper()
	objectservers.IsolateAWS(t, defaultKeyID, defaultSecret)
	g, s := objectservers.NewGCS(t, "b"), objectservers.NewS3(t, "b")
	c := connect.New(connect.Options{GCSEndpoint: g.URL, S3Endpoint: s.URL, S3Region: "eu-west-1", GCSProject: "default-project"})
	return g, s, c
}

func list(t *testing.T, c objects.Client) {
	t.Helper()
	if _, err := c.List(context.Background(), "b", objects.ListOptions{}); err != nil {
		t.Fatalf("List: %v", err)
	}
}

// TestGCSCarriesTheMintedToken: a connector's client sends its minted
// access token, and nothing of the deployment's.
func TestGCSCarriesTheMintedToken(t *testing.T) {
	g, _, c := setup(t)
	cl, err := c.GCS(context.Background(), connect.GCSCredentials{AccessToken: "minted-token", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour), Project: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	list(t, cl)
	if got := g.Authorizations(); len(got) == 0 || slices.ContainsFunc(got, func(a string) bool { return a != "Bearer minted-token" }) {
		t.Fatalf("Authorization headers %q, want only %q", got, "Bearer minted-token")
	}
}

// TestGCSSignsAsTheKey: with SignAs, URLs are signed with that key, which
// the public half verifies; without it, a token-only client cannot sign.
func TestGCSSignsAsTheKey(t *testing.T) {
	_, _, c := setup(t)
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sa := &connect.ServiceAccount{Email: "rag@p.iam.gserviceaccount.com", PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}
	cl, err := c.GCS(context.Background(), connect.GCSCredentials{AccessToken: "t", TokenType: "Bearer", Project: "p", SignAs: sa})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	u, err := cl.Sign(context.Background(), "b", "k", objects.SignOptions{Method: objects.MethodGet, Expires: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := objectservers.VerifyGCSSignedURL(u, objects.MethodGet, "", &priv.PublicKey); err != nil {
		t.Fatalf("signed URL does not verify with the key's public half: %v", err)
	}
}

// TestS3SignsWithTheTemporaryCredentials: a connector's client signs with
// its STS credentials, never the default chain's key pair, and a second
// client with other credentials keeps its own.
func TestS3SignsWithTheTemporaryCredentials(t *testing.T) {
	_, s, c := setup(t)
	for _, key := range []string{"ASIAFIRST", "ASIASECOND"} {
		cl, err := c.S3(context.Background(), connect.AWSCredentials{AccessKeyID: key, SecretAccessKey: "sts-secret", SessionToken: "sts-session"})
		if err != nil {
			t.Fatal(err)
		}
		before := len(s.AccessKeys())
		list(t, cl)
		if got := s.AccessKeys()[before:]; len(got) == 0 || slices.ContainsFunc(got, func(k string) bool { return k != key }) {
			t.Fatalf("requests signed with %q, want only %q", got, key)
		}
		_ = cl.Close()
	}
}

// TestDefaultClients: the deployment's clients are made once and shared;
// S3's signs with the default chain, and GCS's sends no credentials to a
// plain-http endpoint (a developer's own Google account is not for an
// emulator).
func TestDefaultClients(t *testing.T) {
	g, s, c := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	s3a, err := c.DefaultS3(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gcsa, err := c.DefaultGCS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// They outlive the request that made them.
	cancel()
	s3b, err := c.DefaultS3(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	gcsb, err := c.DefaultGCS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s3a != s3b || gcsa != gcsb {
		t.Fatal("the default clients were made twice")
	}
	list(t, s3b)
	list(t, gcsb)
	if got := s.AccessKeys(); len(got) == 0 || slices.ContainsFunc(got, func(k string) bool { return k != defaultKeyID }) {
		t.Fatalf("default S3 requests signed with %q, want only %q", got, defaultKeyID)
	}
	if got := g.Authorizations(); len(got) == 0 || slices.ContainsFunc(got, func(a string) bool { return a != "" }) {
		t.Fatalf("default GCS requests carried Authorization %q, want none", got)
	}
}

// TestEndpointChecks: the checks a setting is read with refuse what the
// clients could not use.
func TestEndpointChecks(t *testing.T) {
	if err := connect.CheckGCSEndpoint("http://127.0.0.1:4443"); err != nil {
		t.Errorf("CheckGCSEndpoint(emulator) = %v, want nil", err)
	}
	if err := connect.CheckS3Endpoint("http://127.0.0.1:9000"); err != nil {
		t.Errorf("CheckS3Endpoint(emulator) = %v, want nil", err)
	}
	for _, bad := range []string{"ftp://x", "not a url", "http://"} {
		if connect.CheckGCSEndpoint(bad) == nil {
			t.Errorf("CheckGCSEndpoint(%q) = nil, want an error", bad)
		}
		if connect.CheckS3Endpoint(bad) == nil {
			t.Errorf("CheckS3Endpoint(%q) = nil, want an error", bad)
		}
	}
}
