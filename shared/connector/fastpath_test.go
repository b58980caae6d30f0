package connector

import (
	"strings"
	"testing"
	"unicode"
)

// The fast paths of validateName and validateAgentID (checked first, for
// the common shapes) must agree with the rules they skip.
func TestValidateFastPathsAgreeWithRules(t *testing.T) {
	agents := []string{"bench", "agent-1@example.com", "a b", "a\tb", "a\x7fb", "a\u00a0b", "a\u2028b", "ünïcode", "", strings.Repeat("a", MaxAgentLen), strings.Repeat("a", MaxAgentLen+1), "~!", "x\x00"}
	for _, a := range agents {
		want := a != "" && len(a) <= MaxAgentLen && !strings.ContainsFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
		if got := validateAgentID(a) == nil; got != want {
			t.Errorf("validateAgentID(%q) accepted = %v, want %v", a, got, want)
		}
	}
	names := []string{"Bench", "_x", "x1", "1x", "a b", "a-b", "ä", "", strings.Repeat("a", MaxNameLen), strings.Repeat("a", MaxNameLen+1), "a\u00a0"}
	for _, n := range names {
		want := n != "" && len(n) <= MaxNameLen && isIdentifier(n)
		if got := validateName(n) == nil; got != want {
			t.Errorf("validateName(%q) accepted = %v, want %v", n, got, want)
		}
	}
}
