package connector_test

import (
	"errors"
	"testing"

	"connectors.dev/connectors/shared/connector"
)

func TestPageToken(t *testing.T) {
	for _, tok := range []string{"!!", "====", "_w"} { // "_w" decodes to 0xff, not UTF-8
		if _, err := (connector.ListOptions{PageToken: tok}).After(); !errors.Is(err, connector.ErrInvalidPageToken) {
			t.Errorf("After(%q) = %v, want ErrInvalidPageToken", tok, err)
		}
	}
	name, err := connector.ListOptions{PageToken: connector.EncodePageToken("a/b c")}.After()
	if err != nil || name != "a/b c" {
		t.Errorf("token round trip = %q, %v", name, err)
	}
	if name, err := (connector.ListOptions{}).After(); name != "" || err != nil {
		t.Errorf("no token = %q, %v", name, err)
	}
}

func TestPageSize(t *testing.T) {
	for in, want := range map[int]int{-1: connector.DefaultPageSize, 0: connector.DefaultPageSize, 7: 7, connector.MaxPageSize + 1: connector.MaxPageSize} {
		if got := (connector.ListOptions{PageSize: in}).Size(); got != want {
			t.Errorf("Size(%d) = %d, want %d", in, got, want)
		}
	}
}
