package secret

import "testing"

func TestOlder(t *testing.T) {
	for _, c := range []struct {
		v, keep string
		want    bool
	}{
		{"1", "2", true},
		{"9", "10", true}, // numeric, not lexical
		{"10", "9", false},
		{"2", "2", false},
		{"3", "2", false},
		{"latest", "2", false}, // what cannot be ordered is kept
		{"1", "latest", false},
		{"", "2", false},
	} {
		if got := Older(c.v, c.keep); got != c.want {
			t.Errorf("Older(%q, %q) = %v, want %v", c.v, c.keep, got, c.want)
		}
	}
}
