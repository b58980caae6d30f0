package files

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/objects"
	"connectors.dev/connectors/shared/objects/connect"
)

// target is the storage client one request uses.
type target struct {
	client objects.Client
	owned  bool // made for this request: closed after it
	// project is where GCS buckets are created; grant is what grantAccess
	// may grant (to the connector's serviceAccountEmail), set only for a
	// grantAccess with a connector.
	project string
	grant   objects.Grant
}

func (t *target) close() {
	if t.owned {
		_ = t.client.Close()
	}
}

// grantFor is the grant type whose credentials a scheme's storage takes.
func grantFor(scheme string) string {
	if scheme == objects.SchemeS3 {
		return connector.GrantAWSIAM
	}
	return connector.GrantGCSServiceAccount
}

// storage returns the maker of storage clients, made on first use from
// Options, which are set before the first request.
func (s *Server) storage() *connect.Clients {
	s.clientsOnce.Do(func() { s.clients = connect.New(s.Options.connect()) })
	return s.clients
}

func (s *Server) target(ctx context.Context, req *request, u objects.URI) (*target, error) {
	if req.Connector == "" {
		return s.defaultTarget(ctx, u.Scheme)
	}
	return s.connectorTarget(ctx, req, u)
}

// connectorTarget authorizes the agent on the connector and makes a client
// with the connector's credentials. The grant type is checked against the
// URI before minting, so a mismatch costs no provider call; the agent is
// checked before that, so a stranger learns nothing about the connector.
func (s *Server) connectorTarget(ctx context.Context, req *request, u objects.URI) (*target, error) {
	// The minting service's view: cached, as Token below reads it anyway.
	conn, err := s.Mint.Connector(ctx, req.Connector)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	if !conn.HasAgent(req.Agent) {
		return nil, fmt.Errorf("files: %s for agent %s: %w", conn.Name, req.Agent, mint.ErrAgentNotAllowed)
	}
	if want := grantFor(u.Scheme); conn.GrantType != want {
		return nil, httpx.FieldError("connector", "%s has grant type %s; %s:// URIs need a %s connector", conn.Name, conn.GrantType, u.Scheme, want)
	}
	// A grant outlives the minted credential: only to the connector's own
	// account, decided before anything is minted or called.
	var grant objects.Grant
	if req.Op == OpGrantAccess && u.Scheme == objects.SchemeGCS {
		if grant, err = objects.GrantFor(req.Member, req.Role, conn.ServiceAccountEmail); err != nil {
			return nil, err
		}
	}
	// Token is the authority: it checks agent and activity again on its
	// own view of the connector, and mints.
	cred, err := s.Mint.Token(ctx, req.Connector, req.Agent)
	if err != nil {
		return nil, err
	}
	changed := httpx.Errorf(http.StatusConflict, httpx.CodeConflict, "the connector changed during the request; retry")
	if u.Scheme == objects.SchemeS3 {
		if cred.AWS == nil {
			return nil, changed
		}
		c, err := s.storage().S3(ctx, connect.AWSCredentials{
			AccessKeyID: cred.AWS.AccessKeyID, SecretAccessKey: cred.AWS.SecretAccessKey, SessionToken: cred.AWS.SessionToken,
		})
		if err != nil {
			return nil, fmt.Errorf("files: %w", err)
		}
		return &target{client: c, owned: true}, nil
	}
	if cred.AccessToken == "" {
		return nil, changed
	}
	gcs := connect.GCSCredentials{
		AccessToken: cred.AccessToken, TokenType: cred.TokenType, Expiry: cred.Expiry,
		Project: conn.ClientID, // the project ID, for gcs_service_account
	}
	// Only signing needs the key itself (and bucket creation its project
	// when the connector names none): other operations never read it.
	if req.Op == OpSign || (req.Op == OpCreateBucket && gcs.Project == "") {
		key, err := s.serviceAccountKey(ctx, conn)
		if err != nil {
			return nil, err
		}
		if req.Op == OpSign {
			gcs.SignAs = &connect.ServiceAccount{Email: key.ClientEmail, PrivateKey: []byte(key.PrivateKey)}
		}
		if gcs.Project == "" {
			gcs.Project = key.ProjectID
		}
	}
	c, err := s.storage().GCS(ctx, gcs)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return &target{client: c, owned: true, project: gcs.Project, grant: grant}, nil
}

// serviceAccountKey reads the connector's key from its pinned secret
// version, through the minting service's per-version cache. Its errors say
// nothing about the key's content.
func (s *Server) serviceAccountKey(ctx context.Context, conn *connector.Connector) (*connector.ServiceAccountKey, error) {
	b, err := s.Mint.Bundle(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	var key connector.ServiceAccountKey
	if json.Unmarshal([]byte(b.ClientSecret), &key) != nil || key.ClientEmail == "" || key.PrivateKey == "" {
		return nil, &httpx.Error{Status: http.StatusConflict, Code: httpx.CodeFailedPrecondition, Field: "connector",
			Message: "the connector's clientSecret is not a usable service-account key"}
	}
	return &key, nil
}

// defaultTarget returns the deployment's shared client for the scheme.
func (s *Server) defaultTarget(ctx context.Context, scheme string) (*target, error) {
	if scheme == objects.SchemeS3 {
		c, err := s.storage().DefaultS3(ctx)
		if err != nil {
			return nil, fmt.Errorf("files: %w", err)
		}
		return &target{client: c}, nil
	}
	c, err := s.storage().DefaultGCS(ctx)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return &target{client: c, project: s.Options.GCSProject}, nil
}
