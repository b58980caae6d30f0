package connector

import (
	"regexp"
	"testing"
)

// TestIsIdentifier keeps the hand-written check equal to the rule it
// replaces.
func TestIsIdentifier(t *testing.T) {
	rule := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	for _, s := range []string{"", "_", "a", "Z9", "GmailAPI", "my_service_2", "1a", "9", "a-b", "a b", "a.b",
		"É", "aé", "a\x00", "a\n", "_1", "`", "@", "[", "{", "/", ":"} {
		if got, want := isIdentifier(s), rule.MatchString(s); got != want {
			t.Errorf("isIdentifier(%q) = %v, want %v", s, got, want)
		}
	}
}
