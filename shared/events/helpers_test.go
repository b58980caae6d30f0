package events_test

import "connectors.dev/connectors/shared/connector"

func connectorNamed(name string) *connector.Connector {
	return &connector.Connector{Name: name, GrantType: "client_credentials", Active: true}
}
