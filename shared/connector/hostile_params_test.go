package connector_test

import (
	"errors"
	"testing"

	"connectors.dev/connectors/shared/connector"
)

// TestHostileReservedParamCase: a reserved token-request parameter under
// another case would reach the provider next to (or, for a provider reading
// names case-insensitively, instead of) the one minting sets. Each was
// accepted before.
func TestHostileReservedParamCase(t *testing.T) {
	for _, params := range []map[string]string{
		{"Client_ID": "other-client"},
		{"GRANT_TYPE": "password"},
		{"Client_Secret": "x"},
		{"Refresh_Token": "x"},
		{"USERNAME": "admin"},
		{"Password": "x"},
		{"SCOPE": "admin"},
		{"audience": "a", "AUDIENCE": "b"}, // one parameter, two values
	} {
		in := gmail()
		in.ExtraParams = ptr(params)
		err := validate(in, connector.Options{})
		var fe *connector.FieldError
		if !errors.As(err, &fe) || len(fe.Field) < len("extraParams.") || fe.Field[:len("extraParams.")] != "extraParams." {
			t.Errorf("extraParams %v: err = %v, want a FieldError on extraParams.NAME", params, err)
		}
	}
	for _, name := range []string{"Client_ID", "GRANT_TYPE", "scope", "Refresh_token"} {
		if !connector.IsReservedParam(name) {
			t.Errorf("IsReservedParam(%q) = false", name)
		}
	}
	if connector.IsReservedParam("audience") {
		t.Error("IsReservedParam(audience) = true")
	}
}
