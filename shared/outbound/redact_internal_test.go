package outbound

import "testing"

func TestReplaceFoldASCII(t *testing.T) {
	cases := []struct{ s, old, want string }{
		{"a%2Bb %2bc", "%2B", "a[redacted]b [redacted]c"},
		{"Ü%2B", "%2b", "Ü[redacted]"},
		{"none", "xyz", "none"},
		{"aaaa", "aa", "[redacted][redacted]"},
		{"short", "longer than s", "short"},
	}
	for _, tc := range cases {
		if got := replaceFoldASCII(tc.s, tc.old, redactedText); got != tc.want {
			t.Errorf("replaceFoldASCII(%q, %q) = %q, want %q", tc.s, tc.old, got, tc.want)
		}
	}
}
