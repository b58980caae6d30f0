package connector

import (
	"context"
	"time"

	"connectors.dev/connectors/shared/errkind"
)

// AuthState is one pending authorization (the connect flow): what the
// callback needs to finish it, kept server-side under the hash of the
// state value the browser carries. Verifier is the PKCE code verifier,
// which never leaves the service.
type AuthState struct {
	ID          string    `json:"id" firestore:"-"` // hex SHA-256 of the state value
	Connector   string    `json:"connector" firestore:"connector"`
	Revision    string    `json:"revision" firestore:"revision"`
	Principal   string    `json:"principal" firestore:"principal"`
	Verifier    string    `json:"verifier" firestore:"verifier"`
	RedirectURI string    `json:"redirectUri" firestore:"redirectUri"`
	ReturnTo    string    `json:"returnTo" firestore:"returnTo"`
	ExpiresAt   time.Time `json:"expiresAt" firestore:"expiresAt"`
}

// String leaves the verifier out, so a stray %v never logs it.
func (s AuthState) String() string {
	return "AuthState{connector: " + s.Connector + ", principal: " + s.Principal + ", expires: " + s.ExpiresAt.Format(time.RFC3339) + "}"
}

// GoString leaves the verifier out.
func (s AuthState) GoString() string { return s.String() }

// ErrStateNotFound: no pending authorization has this state: never
// issued, already used, or swept after expiry.
var ErrStateNotFound = errkind.New(errkind.InvalidArgument, "authorization state not found", "state",
	"is not a pending authorization: it was never issued, was already used, or expired; press Connect again")

// AuthStates keeps pending authorizations beside the connectors. Take is
// atomic: of concurrent takers of one state exactly one gets it, so a
// state is single use.
type AuthStates interface {
	// PutAuthState stores s (s.ID set); stores may drop states past
	// their ExpiresAt at any time.
	PutAuthState(ctx context.Context, s *AuthState) error
	// TakeAuthState returns and removes the state with id, or
	// ErrStateNotFound. It returns an expired state that is still there:
	// the caller checks ExpiresAt.
	TakeAuthState(ctx context.Context, id string) (*AuthState, error)
}
