package faulttest

import (
	"net/http"
	"testing"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
)

// recorder is a testing.TB that keeps its errors.
type recorder struct {
	testing.TB
	errors int
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(string, ...any)     { r.errors++ }
func (r *recorder) Fatalf(f string, a ...any) { r.Errorf(f, a...) }

func TestHistory(t *testing.T) {
	state := func(name, clientSecret, scope string) map[string]State {
		return map[string]State{name: {Connector: &connector.Connector{Name: name, Scope: scope}, Bundle: secret.Bundle{ClientSecret: clientSecret}}}
	}
	const ok, down, bad = http.StatusOK, http.StatusServiceUnavailable, http.StatusInternalServerError
	// The histories, most of which start with A created with secret s0.
	created := func(h *History) { h.Create("A", "s0", "", http.StatusCreated) }
	then := func(more func(h *History)) func(h *History) {
		return func(h *History) {
			created(h)
			more(h)
		}
	}
	secretRewritten := then(func(h *History) {
		h.Write("A", FieldClientSecret, "s1", down)
		h.Write("A", FieldClientSecret, "s2", ok)
	})
	updatedInDoubt := then(func(h *History) { h.Update("A", map[string]string{FieldClientSecret: "s1", FieldScope: "x"}, down) })
	deleted := then(func(h *History) { h.Delete("A", ok) })
	createdDown := func(h *History) { h.Create("A", "s0", "", down) }
	cases := []struct {
		name   string
		writes func(h *History)
		state  map[string]State
		errors int
	}{
		{"created", created, state("A", "s0", ""), 0},
		{"created but missing", created, nil, 1},
		{"503 create that happened", createdDown, state("A", "s0", ""), 0},
		{"503 create that did not", createdDown, nil, 0},
		{"500 create that happened", func(h *History) { h.Create("A", "s0", "", bad) }, state("A", "s0", ""), 1},
		{"updates, last ok", secretRewritten, state("A", "s2", ""), 0},
		{"a 503 update undone by a later success", secretRewritten, state("A", "s1", ""), 1},
		{"a trailing 503 update that happened", then(func(h *History) { h.Write("A", FieldScope, "x", down) }), state("A", "s0", "x"), 0},
		{"a mix: scope from a 503 write, secret from the create", then(func(h *History) {
			h.Write("A", FieldScope, "x", down)
			h.Write("A", FieldClientSecret, "s1", down)
		}), state("A", "s0", "x"), 0},
		{"a request that happened half-way", updatedInDoubt, state("A", "s0", "x"), 1},
		{"a request that happened whole", updatedInDoubt, state("A", "s1", "x"), 0},
		{"a request that happened, one field overwritten since", then(func(h *History) {
			h.Update("A", map[string]string{FieldClientSecret: "s1", FieldScope: "x"}, down)
			h.Write("A", FieldScope, "y", ok)
		}), state("A", "s1", "y"), 0},
		{"a request that did not happen", updatedInDoubt, state("A", "s0", ""), 0},
		{"a value never written", created, state("A", "other", ""), 1},
		{"deleted", deleted, nil, 0},
		{"deleted but still there", deleted, state("A", "s0", ""), 1},
		{"a 503 delete either way", then(func(h *History) { h.Delete("A", down) }), state("A", "s0", ""), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h History
			c.writes(&h)
			r := &recorder{TB: t}
			h.Check(r, c.state)
			if r.errors != c.errors {
				t.Fatalf("%d errors, want %d", r.errors, c.errors)
			}
		})
	}
}
