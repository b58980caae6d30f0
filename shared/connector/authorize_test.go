package connector_test

import (
	"fmt"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/connector"
)

// TestValidateAuthorization: every rule of authorizationUrl, issuer and
// authorizationParams, each naming its field.
func TestValidateAuthorization(t *testing.T) {
	connect := func(in *connector.Input) {
		in.RefreshToken = nil
		in.AuthorizationURL = ptr("https://accounts.google.com/o/oauth2/v2/auth")
	}
	tests := []struct {
		name      string
		edit      func(in *connector.Input)
		opts      connector.Options
		wantField string
	}{
		{"refresh_token connector waiting to be connected", connect, connector.Options{}, ""},
		{"with authorization extras", func(in *connector.Input) {
			connect(in)
			in.AuthorizationParams = ptr(map[string]string{"access_type": "offline", "prompt": "consent"})
		}, connector.Options{}, ""},
		{"authorizationUrl for client_credentials", func(in *connector.Input) {
			in.AuthorizationURL = ptr("https://auth.example.com/authorize")
			in.GrantType = ptr("client_credentials")
		}, connector.Options{}, "authorizationUrl"},
		{"authorizationUrl http", func(in *connector.Input) {
			connect(in)
			in.AuthorizationURL = ptr("http://auth.example.com/authorize")
		}, connector.Options{}, "authorizationUrl"},
		{"authorizationUrl http loopback locally", func(in *connector.Input) {
			connect(in)
			in.AuthorizationURL = ptr("http://127.0.0.1:9000/authorize")
		}, connector.Options{AllowInsecureURLs: true}, ""},
		{"authorizationUrl fragment", func(in *connector.Input) {
			connect(in)
			in.AuthorizationURL = ptr("https://auth.example.com/authorize#x")
		}, connector.Options{}, "authorizationUrl"},
		{"authorizationUrl with the flow's own parameter", func(in *connector.Input) {
			connect(in)
			in.AuthorizationURL = ptr("https://auth.example.com/authorize?response_mode=form_post")
		}, connector.Options{}, "authorizationUrl"},
		{"authorizationUrl with a query of its own", func(in *connector.Input) {
			connect(in)
			in.AuthorizationURL = ptr("https://auth.example.com/authorize?tenant=acme")
		}, connector.Options{}, ""},
		{"authorizationUrl needs clientId", func(in *connector.Input) {
			connect(in)
			in.ClientID = nil
		}, connector.Options{}, "clientId"},
		{"authorizationUrl too long", func(in *connector.Input) {
			connect(in)
			in.AuthorizationURL = ptr("https://auth.example.com/" + strings.Repeat("a", connector.MaxURLLen))
		}, connector.Options{}, "authorizationUrl"},
		{"authorizationParams without authorizationUrl", func(in *connector.Input) {
			in.AuthorizationParams = ptr(map[string]string{"prompt": "consent"})
		}, connector.Options{}, "authorizationParams"},
		{"authorizationParams overriding state", func(in *connector.Input) {
			connect(in)
			in.AuthorizationParams = ptr(map[string]string{"State": "x"})
		}, connector.Options{}, "authorizationParams.State"},
		{"authorizationParams overriding redirect_uri", func(in *connector.Input) {
			connect(in)
			in.AuthorizationParams = ptr(map[string]string{"redirect_uri": "https://evil.example"})
		}, connector.Options{}, "authorizationParams.redirect_uri"},
		{"authorizationParams bad name", func(in *connector.Input) {
			connect(in)
			in.AuthorizationParams = ptr(map[string]string{"a b": "x"})
		}, connector.Options{}, "authorizationParams"},
		{"authorizationParams control character", func(in *connector.Input) {
			connect(in)
			in.AuthorizationParams = ptr(map[string]string{"prompt": "a\nb"})
		}, connector.Options{}, "authorizationParams.prompt"},
		{"authorizationParams value too long", func(in *connector.Input) {
			connect(in)
			in.AuthorizationParams = ptr(map[string]string{"prompt": strings.Repeat("a", connector.MaxExtraValueLen+1)})
		}, connector.Options{}, "authorizationParams.prompt"},
		{"authorizationParams too many", func(in *connector.Input) {
			connect(in)
			m := map[string]string{}
			for i := 0; i <= connector.MaxExtraParams; i++ {
				m[fmt.Sprintf("p%d", i)] = "v"
			}
			in.AuthorizationParams = &m
		}, connector.Options{}, "authorizationParams"},
		{"issuer", func(in *connector.Input) { in.Issuer = ptr("https://accounts.google.com") }, connector.Options{}, ""},
		{"issuer too long", func(in *connector.Input) {
			in.Issuer = ptr("https://login.example.com/" + strings.Repeat("a", connector.MaxURLLen))
		}, connector.Options{}, "issuer"},
		{"issuer with a fragment", func(in *connector.Input) { in.Issuer = ptr("https://login.example.com/#x") }, connector.Options{}, "issuer"},
		{"issuer with query", func(in *connector.Input) { in.Issuer = ptr("https://login.example.com/?tenant=x") }, connector.Options{}, "issuer"},
		{"issuer http", func(in *connector.Input) { in.Issuer = ptr("http://login.example.com") }, connector.Options{}, "issuer"},
		{"issuer metadata host", func(in *connector.Input) { in.Issuer = ptr("https://metadata.google.internal") }, connector.Options{}, "issuer"},
		{"issuer for aws_iam", func(in *connector.Input) {
			*in = connector.Input{Name: ptr("S3"), GrantType: ptr("aws_iam"), ClientID: ptr("AKIAEXAMPLE123456"), ClientSecret: ptr("wJalrXUtnFEMI/K7MDENG"), Issuer: ptr("https://login.example.com")}
		}, connector.Options{}, "issuer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := gmail()
			tc.edit(&in)
			checkField(t, validate(in, tc.opts), tc.wantField)
		})
	}
}
