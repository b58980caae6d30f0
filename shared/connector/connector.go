// Package connector defines the Connector — a named recipe for minting a
// short-lived credential — its validation rules, and the Store that keeps
// connector metadata. Secret values never live here: they are in a
// secret.Store, referenced by SecretID.
package connector

import (
	"context"
	"time"

	"connectors.dev/connectors/shared/errkind"
)

// Grant types with behaviour of their own. Any other RFC 6749 grant type is
// passed through to the token endpoint as grant_type.
const (
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
	GrantPassword          = "password"
	GrantGCSServiceAccount = "gcs_service_account"
	GrantAWSIAM            = "aws_iam"
)

// Token request encodings.
const (
	ContentTypeForm = "application/x-www-form-urlencoded"
	ContentTypeJSON = "application/json"
)

// Sentinel errors every Store returns, so callers never see a backend's error
// types.
var (
	ErrNotFound = errkind.New(errkind.NotFound, "connector not found", "", "connector not found")
	ErrExists   = errkind.New(errkind.AlreadyExists, "connector already exists", "name", "a connector with this name already exists")
	ErrConflict = errkind.New(errkind.Conflict, "connector revision is stale", "revision", "the connector was changed since it was read; get it again and retry")
)

// Connector is the stored, readable part of a connector. Its JSON form is the
// wire format of docs/api.md; SecretID and SecretVersion are internal and never
// leave the service.
type Connector struct {
	Name            string   `json:"name" firestore:"name"`
	Active          bool     `json:"active" firestore:"active"`
	HeaderAsPayload bool     `json:"headerAsPayload" firestore:"headerAsPayload"`
	Agents          []string `json:"agents" firestore:"agents"`
	URL             string   `json:"url,omitempty" firestore:"url"`
	// APIBaseURL is the origin and path prefix the proxy may send this
	// connector's credential to; empty means the connector cannot be used
	// through the proxy.
	APIBaseURL          string            `json:"apiBaseUrl,omitempty" firestore:"apiBaseUrl"`
	GrantType           string            `json:"grantType" firestore:"grantType"`
	ContentType         string            `json:"contentType" firestore:"contentType"`
	Scope               string            `json:"scope,omitempty" firestore:"scope"`
	ClientID            string            `json:"clientId,omitempty" firestore:"clientId"`
	Username            string            `json:"username,omitempty" firestore:"username"`
	ServiceAccountEmail string            `json:"serviceAccountEmail,omitempty" firestore:"serviceAccountEmail"`
	ExtraParams         map[string]string `json:"extraParams,omitempty" firestore:"extraParams"`
	// ClientAuthMethod is how the client authenticates at the token
	// endpoint (clientauth.go); "" means by HeaderAsPayload, as before.
	ClientAuthMethod string `json:"clientAuthMethod,omitempty" firestore:"clientAuthMethod"`
	// KeyID is the kid of private_key_jwt's client assertions.
	KeyID string `json:"keyId,omitempty" firestore:"keyId"`
	// AuthorizationURL, Issuer and AuthorizationParams serve the connect
	// flow (authorize.go): where an admin consents, the issuer whose
	// discovery document filled the endpoints, and the extras the
	// authorization request carries.
	AuthorizationURL    string            `json:"authorizationUrl,omitempty" firestore:"authorizationUrl"`
	Issuer              string            `json:"issuer,omitempty" firestore:"issuer"`
	AuthorizationParams map[string]string `json:"authorizationParams,omitempty" firestore:"authorizationParams"`

	// Presence of the write-only fields, kept with the metadata so that
	// reading a connector never needs secret access.
	HasClientSecret bool `json:"hasClientSecret" firestore:"hasClientSecret"`
	HasRefreshToken bool `json:"hasRefreshToken" firestore:"hasRefreshToken"`
	HasPassword     bool `json:"hasPassword" firestore:"hasPassword"`
	// HasNextClientSecret: a next client secret waits beside the current
	// one (lifecycle.go).
	HasNextClientSecret bool `json:"hasNextClientSecret" firestore:"hasNextClientSecret"`

	// MaxTokenLifetime caps a minted credential's lifetime, in seconds
	// (0: the provider's, or the default). NeedsReconnect and its Since
	// are set by minting when the provider refused the stored refresh
	// token as invalid_grant (lifecycle.go); read-only.
	MaxTokenLifetime    int       `json:"maxTokenLifetime,omitempty" firestore:"maxTokenLifetime"`
	NeedsReconnect      bool      `json:"needsReconnect" firestore:"needsReconnect"`
	NeedsReconnectSince time.Time `json:"needsReconnectSince,omitzero" firestore:"needsReconnectSince"`
	// Health is read-only and never stored with the connector: the
	// catalog fills it on list and get from its own record (health.go).
	Health `firestore:"-"`

	// SecretID names the connector's secret bundle; it is opaque and survives
	// renames. SecretVersion pins the bundle version that belongs to this
	// revision, so a half-finished write never mixes old metadata with new
	// secrets.
	SecretID      string `json:"-" firestore:"secretId"`
	SecretVersion string `json:"-" firestore:"secretVersion"`

	CreatedAt time.Time `json:"createdAt" firestore:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt" firestore:"updatedAt"`
	CreatedBy string    `json:"createdBy" firestore:"createdBy"`
	UpdatedBy string    `json:"updatedBy" firestore:"updatedBy"`
	Revision  string    `json:"revision" firestore:"revision"`
}

// Clone returns a deep copy, so stores never share slices or maps with
// callers.
func (c *Connector) Clone() *Connector {
	if c == nil {
		return nil
	}
	out := *c
	if c.Agents != nil {
		out.Agents = append([]string{}, c.Agents...)
	}
	out.ExtraParams = cloneMap(c.ExtraParams)
	out.AuthorizationParams = cloneMap(c.AuthorizationParams)
	return &out
}

// HasAgent reports whether agent may use the connector.
func (c *Connector) HasAgent(agent string) bool {
	for _, a := range c.Agents {
		if a == agent {
			return true
		}
	}
	return false
}

// ListOptions selects a page of connectors.
type ListOptions struct {
	// Agent, when set, keeps only connectors whose Agents contain it.
	Agent string
	// PageSize is the most connectors returned; stores apply
	// DefaultPageSize when it is zero and cap it at MaxPageSize.
	PageSize int
	// PageToken is the NextPageToken of the previous page.
	PageToken string
}

// Page sizes for List.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Page is one page of a listing, sorted by name.
type Page struct {
	Connectors    []*Connector
	NextPageToken string // empty on the last page
}

// Store keeps connector metadata. Implementations set Revision to a new
// opaque value on every write and return copies, never shared values.
type Store interface {
	// Create stores c; ErrExists if a connector of that name exists.
	Create(ctx context.Context, c *Connector) (*Connector, error)
	// Get returns the connector called name, or ErrNotFound.
	Get(ctx context.Context, name string) (*Connector, error)
	// List returns connectors sorted by name, filtered by agent through an
	// index, one page at a time.
	List(ctx context.Context, opts ListOptions) (*Page, error)
	// Update replaces the connector called name by c, atomically. When
	// c.Name differs from name it is a rename: ErrExists if c.Name is taken.
	// A non-empty revision must match the stored one, else ErrConflict and
	// nothing changes. ErrNotFound if name is absent.
	Update(ctx context.Context, name, revision string, c *Connector) (*Connector, error)
	// Delete removes the connector called name; revision as for Update.
	Delete(ctx context.Context, name, revision string) error

	Close() error
}

// ErrInvalidPageToken is returned by List for a token it did not issue.
var ErrInvalidPageToken = errkind.New(errkind.InvalidArgument, "invalid page token", "pageToken", "is not a token this service issued")
