package mcp

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"connectors.dev/connectors/shared/connector"
)

// maxListedConnectors bounds list_connectors: an agent with more cannot
// use a list that long anyway.
const maxListedConnectors = 1000

type listConnectorsIn struct{}

type connectorOut struct {
	Name       string `json:"name" jsonschema:"the connector's name: pass it as connector to the other tools"`
	Kind       string `json:"kind" jsonschema:"oauth (use call_api), gcs (gs:// files, call_api) or aws (s3:// files, call_api)"`
	APIBaseURL string `json:"apiBaseUrl,omitempty" jsonschema:"where call_api sends requests: path is appended to it; absent: call_api cannot use this connector"`
	Scope      string `json:"scope,omitempty" jsonschema:"the OAuth scopes the credential carries"`
}

type listConnectorsOut struct {
	Connectors []connectorOut `json:"connectors"`
}

// kindOf is a connector's kind as list_connectors tells it.
func kindOf(grantType string) string {
	switch grantType {
	case connector.GrantGCSServiceAccount:
		return "gcs"
	case connector.GrantAWSIAM:
		return "aws"
	}
	return "oauth"
}

func (s *Server) addConnectorTools(srv *mcp.Server) {
	addTool(s, srv, &mcp.Tool{
		Name:  ToolListConnectors,
		Title: "List connectors",
		Description: "Lists the connectors this agent may use: name, kind (oauth, gcs, aws), apiBaseUrl and scope. " +
			"Call it first; pass a name as connector to call_api or the file tools. Nothing secret is shown.",
		InputSchema: schemaFor[listConnectorsIn](nil),
		// Reads the service's own catalog: nothing outside is touched.
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(false)},
	}, s.listConnectors)
}

// listConnectors lists the agent's active connectors through the catalog's
// agent index, a page at a time.
func (s *Server) listConnectors(ctx context.Context, c *caller, _ *listConnectorsIn) (*listConnectorsOut, error) {
	out := &listConnectorsOut{Connectors: []connectorOut{}}
	opts := connector.ListOptions{Agent: c.agent, PageSize: connector.MaxPageSize}
	for n := 0; n < maxListedConnectors; {
		page, err := s.Mint.Catalog.List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("mcp: list connectors: %w", err)
		}
		for _, conn := range page.Connectors {
			n++
			if !conn.Active || !conn.HasAgent(c.agent) {
				continue
			}
			out.Connectors = append(out.Connectors, connectorOut{Name: conn.Name, Kind: kindOf(conn.GrantType), APIBaseURL: conn.APIBaseURL, Scope: conn.Scope})
		}
		if page.NextPageToken == "" {
			break
		}
		opts.PageToken = page.NextPageToken
	}
	s.Log.LogAttrs(ctx, slog.LevelInfo, "mcp "+ToolListConnectors+" ok", slog.Bool("audit", true), slog.String("principal", c.principal.Name()),
		slog.String("agent", c.agent), slog.String("op", "mcp."+ToolListConnectors), slog.String("outcome", "ok"),
		slog.Int("count", len(out.Connectors)))
	return out, nil
}
