package oauthtest

import (
	"context"
	"crypto"
	"fmt"
	"slices"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
)

// Client is a client to register, with any of the token endpoint
// authentication methods fosite implements.
type Client struct {
	ID string
	// Method is client_secret_basic, client_secret_post (the default),
	// private_key_jwt or none (a public client).
	Method string
	// Secret is the shared secret of the client_secret_* methods.
	Secret string
	// PublicKey verifies private_key_jwt assertions, signed with Alg
	// (RS256, ES256, ES384) and naming KeyID as kid when it is set.
	PublicKey crypto.PublicKey
	KeyID     string
	Alg       string
	// Scopes the client may ask for ("offline" for refresh tokens).
	Scopes []string
	// RedirectURIs are where the authorization endpoint may send its code.
	RedirectURIs []string
}

// Register registers c; it may be called while the server serves.
func (f *Fosite) Register(c Client) {
	method := c.Method
	if method == "" {
		method = "client_secret_post"
	}
	dc := &fosite.DefaultClient{
		ID:            c.ID,
		GrantTypes:    []string{"client_credentials", "password", "refresh_token", "authorization_code"},
		ResponseTypes: []string{"code"},
		Scopes:        slices.Clone(c.Scopes),
		RedirectURIs:  slices.Clone(c.RedirectURIs),
		Public:        method == "none",
	}
	if c.Secret != "" {
		hash, err := f.store.config.GetSecretsHasher(context.Background()).Hash(context.Background(), []byte(c.Secret))
		if err != nil {
			panic(fmt.Sprintf("oauthtest: hash client secret: %v", err))
		}
		dc.Secret = hash
	}
	oc := &fosite.DefaultOpenIDConnectClient{DefaultClient: dc, TokenEndpointAuthMethod: method}
	if method == "private_key_jwt" {
		oc.TokenEndpointAuthSigningAlgorithm = c.Alg
		oc.JSONWebKeys = &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: c.PublicKey, KeyID: c.KeyID, Algorithm: c.Alg, Use: "sig"}}}
	}
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	f.store.clients[c.ID] = &client{Client: oc, secret: c.Secret, basic: method == "client_secret_basic"}
}

// SetClientSecret changes the secret of the registered client id, as an
// admin rotating it at the provider would: from now on only secret
// authenticates it. Tokens already issued to it stay valid. It may be
// called while the server serves.
func (f *Fosite) SetClientSecret(id, secret string) {
	hash, err := f.store.config.GetSecretsHasher(context.Background()).Hash(context.Background(), []byte(secret))
	if err != nil {
		panic(fmt.Sprintf("oauthtest: hash client secret: %v", err))
	}
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	c, ok := f.store.clients[id]
	if !ok {
		panic(fmt.Sprintf("oauthtest: no client %q", id))
	}
	oc := *c.Client.(*fosite.DefaultOpenIDConnectClient)
	dc := *oc.DefaultClient
	dc.Secret = hash
	oc.DefaultClient = &dc
	f.store.clients[id] = &client{Client: &oc, secret: secret, basic: c.basic}
}
