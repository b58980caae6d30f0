package gcsobjects_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/option"

	"connectors.dev/connectors/shared/objects"
	"connectors.dev/connectors/shared/objects/gcsobjects"
	"connectors.dev/connectors/shared/objects/objectservers"
	"connectors.dev/connectors/shared/objects/objecttest"
)

const signer = "signer@test-project.iam.gserviceaccount.com"

func key(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestConformance(t *testing.T) {
	k, pemKey := key(t)
	objecttest.Run(t, func(t *testing.T) objecttest.Harness {
		srv := objectservers.NewGCS(t, "test-bucket")
		c, err := gcsobjects.New(context.Background(), gcsobjects.Options{
			Endpoint:      srv.Endpoint(),
			Project:       "test-project",
			SignAs:        &gcsobjects.ServiceAccount{Email: signer, PrivateKey: pemKey},
			ClientOptions: []option.ClientOption{option.WithoutAuthentication()},
		})
		if err != nil {
			t.Fatal(err)
		}
		return objecttest.Harness{
			Client:    c,
			Scheme:    objects.SchemeGCS,
			Bucket:    "test-bucket",
			NewBucket: "new-bucket-1",
			Member:    "serviceAccount:" + signer,
			Members:   srv.Members,
			CheckSignedURL: func(t *testing.T, raw string, opts objects.SignOptions) {
				u, err := url.Parse(raw)
				if err != nil {
					t.Fatal(err)
				}
				q := u.Query()
				if q.Get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256" ||
					!strings.HasPrefix(q.Get("X-Goog-Credential"), signer+"/") ||
					q.Get("X-Goog-Expires") != strconv.Itoa(int(opts.Expires.Seconds())) ||
					q.Get("X-Goog-Signature") == "" {
					t.Fatalf("signed URL parameters: %s", raw)
				}
				if err := objectservers.VerifyGCSSignedURL(raw, opts.Method, opts.ContentType, &k.PublicKey); err != nil {
					t.Fatalf("%v: %s", err, raw)
				}
				// A tampered URL must not verify: the check is real.
				if objectservers.VerifyGCSSignedURL(strings.Replace(raw, "X-Goog-Expires=", "X-Goog-Expires=1", 1), opts.Method, opts.ContentType, &k.PublicKey) == nil {
					t.Fatal("a tampered URL verifies")
				}
			},
		}
	})
}

// Without a key and without credentials there is nobody to sign as.
func TestSignWithoutIdentity(t *testing.T) {
	srv := objectservers.NewGCS(t, "test-bucket")
	c, err := gcsobjects.New(context.Background(), gcsobjects.Options{Endpoint: srv.Endpoint(), ClientOptions: []option.ClientOption{option.WithoutAuthentication()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Sign(t.Context(), "test-bucket", "k", objects.SignOptions{Method: objects.MethodGet, Expires: time.Minute})
	if !errors.Is(err, objects.ErrCannotSign) {
		t.Fatalf("got %v", err)
	}
}

func TestCreateBucketNeedsProject(t *testing.T) {
	srv := objectservers.NewGCS(t)
	c, err := gcsobjects.New(context.Background(), gcsobjects.Options{Endpoint: srv.Endpoint(), ClientOptions: []option.ClientOption{option.WithoutAuthentication()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateBucket(t.Context(), "some-bucket", objects.BucketOptions{}); !errors.Is(err, objects.ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}

// The credentials given are the ones sent.
func TestSendsTheGivenToken(t *testing.T) {
	srv := objectservers.NewGCS(t, "test-bucket")
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "minted-token-1", TokenType: "Bearer"})
	c, err := gcsobjects.New(context.Background(), gcsobjects.Options{Endpoint: srv.Endpoint(), ClientOptions: []option.ClientOption{option.WithTokenSource(ts)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.List(t.Context(), "test-bucket", objects.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Authorizations(); len(got) != 1 || got[0] != "Bearer minted-token-1" {
		t.Fatalf("authorizations %q", got)
	}
}

func TestNormalizeEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4443":              "http://127.0.0.1:4443/storage/v1/",
		"http://127.0.0.1:4443/":             "http://127.0.0.1:4443/storage/v1/",
		"https://storage.example/storage/v1": "https://storage.example/storage/v1/",
	} {
		if got, err := gcsobjects.NormalizeEndpoint(in); err != nil || got != want {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:4443", "ftp://h/", "http:///x", "http://h/?q=1"} {
		if _, err := gcsobjects.NormalizeEndpoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
