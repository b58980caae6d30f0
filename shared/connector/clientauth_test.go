package connector_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
)

func pemOf(t *testing.T, k any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// TestValidateClientAuth: every rule of clientAuthMethod, keyId and their
// consistency with headerAsPayload, each naming its field.
func TestValidateClientAuth(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsaPEM := pemOf(t, rsaKey)
	jwt := func(in *connector.Input) {
		in.ClientAuthMethod = ptr("private_key_jwt")
		in.ClientSecret = ptr(rsaPEM)
	}
	tests := []struct {
		name      string
		edit      func(in *connector.Input)
		wantField string
	}{
		{"client_secret_post", func(in *connector.Input) { in.ClientAuthMethod = ptr("client_secret_post") }, ""},
		{"client_secret_basic", func(in *connector.Input) { in.ClientAuthMethod = ptr("client_secret_basic") }, ""},
		{"basic and headerAsPayload true", func(in *connector.Input) {
			in.ClientAuthMethod = ptr("client_secret_basic")
			in.HeaderAsPayload = ptr(true)
		}, ""},
		{"unknown method", func(in *connector.Input) { in.ClientAuthMethod = ptr("client_secret_jwt") }, "clientAuthMethod"},
		{"method for aws_iam", func(in *connector.Input) {
			*in = connector.Input{Name: ptr("S3"), GrantType: ptr("aws_iam"), ClientID: ptr("AKIAEXAMPLE123456"), ClientSecret: ptr("wJalrXUtnFEMI/K7MDENG"), ClientAuthMethod: ptr("client_secret_post")}
		}, "clientAuthMethod"},
		{"post with headerAsPayload true", func(in *connector.Input) {
			in.ClientAuthMethod = ptr("client_secret_post")
			in.HeaderAsPayload = ptr(true)
		}, "headerAsPayload"},
		{"basic with headerAsPayload false", func(in *connector.Input) {
			in.ClientAuthMethod = ptr("client_secret_basic")
			in.HeaderAsPayload = ptr(false)
		}, "headerAsPayload"},
		{"private_key_jwt RSA", jwt, ""},
		{"private_key_jwt with keyId", func(in *connector.Input) { jwt(in); in.KeyID = ptr("key-2026") }, ""},
		{"private_key_jwt EC P-256", func(in *connector.Input) { jwt(in); in.ClientSecret = ptr(pemOf(t, ec256)) }, ""},
		{"private_key_jwt PKCS#1", func(in *connector.Input) {
			jwt(in)
			in.ClientSecret = ptr(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})))
		}, ""},
		{"private_key_jwt with headerAsPayload", func(in *connector.Input) { jwt(in); in.HeaderAsPayload = ptr(true) }, "headerAsPayload"},
		{"private_key_jwt needs clientId", func(in *connector.Input) { jwt(in); in.ClientID = ptr("") }, "clientId"},
		{"private_key_jwt needs the key", func(in *connector.Input) { jwt(in); in.ClientSecret = nil }, "clientSecret"},
		{"private_key_jwt not PEM", func(in *connector.Input) { jwt(in); in.ClientSecret = ptr("GOCSPX-plain-secret") }, "clientSecret"},
		{"private_key_jwt small RSA", func(in *connector.Input) { jwt(in); in.ClientSecret = ptr(pemOf(t, small)) }, "clientSecret"},
		{"private_key_jwt P-521", func(in *connector.Input) { jwt(in); in.ClientSecret = ptr(pemOf(t, ec521)) }, "clientSecret"},
		{"keyId without private_key_jwt", func(in *connector.Input) { in.KeyID = ptr("k1") }, "keyId"},
		{"keyId control character", func(in *connector.Input) { jwt(in); in.KeyID = ptr("k\n1") }, "keyId"},
		{"keyId too long", func(in *connector.Input) { jwt(in); in.KeyID = ptr(strings.Repeat("k", connector.MaxKeyIDLen+1)) }, "keyId"},
		{"none public refresh", func(in *connector.Input) {
			in.ClientAuthMethod = ptr("none")
			in.ClientSecret = nil
		}, ""},
		{"none with a secret", func(in *connector.Input) { in.ClientAuthMethod = ptr("none") }, "clientSecret"},
		{"none needs clientId", func(in *connector.Input) {
			in.ClientAuthMethod = ptr("none")
			in.ClientSecret = nil
			in.ClientID = nil
		}, "clientId"},
		{"none with client_credentials", func(in *connector.Input) {
			in.ClientAuthMethod = ptr("none")
			in.ClientSecret = nil
			in.GrantType = ptr("client_credentials")
		}, "clientAuthMethod"},
		{"client_assertion in extraParams", func(in *connector.Input) {
			in.ExtraParams = ptr(map[string]string{"client_assertion": "x"})
		}, "extraParams.client_assertion"},
		{"code_verifier in extraParams", func(in *connector.Input) {
			in.ExtraParams = ptr(map[string]string{"Code_Verifier": "x"})
		}, "extraParams.Code_Verifier"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := gmail()
			tc.edit(&in)
			err := validate(in, connector.Options{})
			checkField(t, err, tc.wantField)
			if err != nil && in.ClientSecret != nil && len(*in.ClientSecret) > 60 && strings.Contains(err.Error(), (*in.ClientSecret)[30:60]) {
				t.Fatalf("error quotes the key: %v", err)
			}
		})
	}
}

func checkField(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var fe *connector.FieldError
	if !errors.As(err, &fe) || fe.Field != want {
		t.Fatalf("err = %v, want a field error on %s", err, want)
	}
}

// TestClientAuthSameSwitch: headerAsPayload and clientAuthMethod stay one
// switch across updates, and moving to or from private_key_jwt must give
// clientSecret again.
func TestClientAuthSameSwitch(t *testing.T) {
	c := connector.Defaults()
	var b secret.Bundle
	in := gmail()
	in.ClientAuthMethod = ptr("client_secret_basic")
	in.Apply(c, &b)
	if !c.HeaderAsPayload || c.EffectiveClientAuthMethod() != "client_secret_basic" {
		t.Fatalf("basic: headerAsPayload %v, method %s", c.HeaderAsPayload, c.EffectiveClientAuthMethod())
	}
	(&connector.Input{HeaderAsPayload: ptr(false)}).Apply(c, &b)
	if c.ClientAuthMethod != "client_secret_post" {
		t.Fatalf("headerAsPayload=false moved the method to %q, want client_secret_post", c.ClientAuthMethod)
	}
	(&connector.Input{HeaderAsPayload: ptr(true)}).Apply(c, &b)
	if c.ClientAuthMethod != "client_secret_basic" {
		t.Fatalf("headerAsPayload=true moved the method to %q, want client_secret_basic", c.ClientAuthMethod)
	}
	legacy := &connector.Connector{HeaderAsPayload: true}
	if legacy.EffectiveClientAuthMethod() != "client_secret_basic" {
		t.Fatal("a connector stored before clientAuthMethod with headerAsPayload=true is not Basic")
	}
	c.HasClientSecret = true
	err := (&connector.Input{ClientAuthMethod: ptr("private_key_jwt")}).CheckRebind(c)
	checkField(t, err, "clientSecret")
	err = (&connector.Input{ClientAuthMethod: ptr("private_key_jwt"), ClientSecret: ptr("-----BEGIN…")}).CheckRebind(c)
	checkField(t, err, "")
	err = (&connector.Input{ClientAuthMethod: ptr("client_secret_post")}).CheckRebind(c)
	checkField(t, err, "")
}
