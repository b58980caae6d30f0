package faulttest

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
)

// Fields History can judge, and how to read them from a State.
var fields = map[string]func(State) string{
	FieldClientSecret: func(s State) string { return s.Bundle.ClientSecret },
	FieldScope:        func(s State) string { return s.Connector.Scope },
}

// Field names for History.
const (
	FieldClientSecret = "clientSecret"
	FieldScope        = "scope"
	fieldExists       = "exists"
)

// attempt is one request's write to one field.
type attempt struct {
	value  string
	status int
	req    int // the request, numbered per connector in order
}

func (a attempt) String() string { return fmt.Sprintf("#%d %q→%d", a.req, a.value, a.status) }

// History records, per connector, the writes a load sent and how each
// ended, to judge the state an outage left behind: a write answered with
// success must have happened; one answered with 503 may have happened
// entirely or not at all, never in part; any other answer must have
// changed nothing. The requests to one connector must come from one
// goroutine, in order, and write values never written before.
type History struct {
	mu     sync.Mutex
	writes map[string]map[string][]attempt
	reqs   map[string]int
}

// Update records one request that wrote values (by field) to the connector
// called name and ended with status.
func (h *History) Update(name string, values map[string]string, status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.writes == nil {
		h.writes, h.reqs = map[string]map[string][]attempt{}, map[string]int{}
	}
	if h.writes[name] == nil {
		// Before its create, a connector does not exist.
		h.writes[name] = map[string][]attempt{fieldExists: {{value: "no", status: http.StatusOK}}}
	}
	h.reqs[name]++
	for field, v := range values {
		h.writes[name][field] = append(h.writes[name][field], attempt{v, status, h.reqs[name]})
	}
}

// Write records a request that wrote value to one field.
func (h *History) Write(name, field, value string, status int) {
	h.Update(name, map[string]string{field: value}, status)
}

// Create records a create of name with its client secret and scope.
func (h *History) Create(name, clientSecret, scope string, status int) {
	h.Update(name, map[string]string{fieldExists: "yes", FieldClientSecret: clientSecret, FieldScope: scope}, status)
}

// Delete records a delete of name.
func (h *History) Delete(name string, status int) {
	h.Update(name, map[string]string{fieldExists: "no"}, status)
}

func succeeded(status int) bool { return status >= 200 && status < 300 }

// allowed returns the writes whose value a field may hold after attempts:
// the last successful one, and any after it that ended in 503 (or, with no
// success, any that ended in 503).
func allowed(attempts []attempt) []attempt {
	last := -1
	for i, a := range attempts {
		if succeeded(a.status) {
			last = i
		}
	}
	var out []attempt
	for i, a := range attempts {
		if i == last || (i > last && a.status == http.StatusServiceUnavailable) {
			out = append(out, a)
		}
	}
	return out
}

// source finds the write among allowed that left v, if any.
func source(allowed []attempt, v string) (attempt, bool) {
	for i := len(allowed) - 1; i >= 0; i-- {
		if allowed[i].value == v {
			return allowed[i], true
		}
	}
	return attempt{}, false
}

// Check judges states (from Observe) against the history: every field of
// every connector written to must hold a value some write that may have
// happened left, and a request that wrote several fields must show in all
// of them or none (unless a later request overwrote a field). It returns
// how many connectors it checked and how many requests answered 503
// nevertheless happened.
func (h *History) Check(t testing.TB, states map[string]State) (checked, applied503 int) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, byField := range h.writes {
		checked++
		s, exists := states[name]
		observed := map[string]string{fieldExists: map[bool]string{true: "yes", false: "no"}[exists]}
		if exists {
			for field, read := range fields {
				observed[field] = read(s)
			}
		}
		if _, ok := source(allowed(byField[fieldExists]), observed[fieldExists]); !ok {
			t.Errorf("%s: exists=%s, which its creates and deletes do not allow (%v)", name, observed[fieldExists], byField[fieldExists])
			continue
		}
		// The request each observed value came from.
		from := map[string]attempt{}
		for field, attempts := range byField {
			v, ok := observed[field]
			if !ok {
				continue
			}
			ok2 := allowed(attempts)
			a, found := source(ok2, v)
			if !found {
				t.Errorf("%s: %s is %q, which no write that may have happened left (allowed %v; writes %v)", name, field, v, ok2, attempts)
				continue
			}
			from[field] = a
		}
		// A request seen in one field must be seen in every field it
		// wrote, or have been overwritten there by a later request.
		applied := map[int]bool{}
		for field, a := range from {
			if a.req == 0 { // the state before the first request
				continue
			}
			if a.status == http.StatusServiceUnavailable {
				applied[a.req] = true
			}
			for other, attempts := range byField {
				if other == field {
					continue
				}
				wrote := slices.IndexFunc(attempts, func(b attempt) bool { return b.req == a.req })
				seen, ok := from[other]
				if wrote < 0 || !ok {
					continue
				}
				if seen.req < a.req {
					t.Errorf("%s: request #%d happened half-way: its %s is there (%q) but its %s is not (%q is from request #%d)",
						name, a.req, field, a.value, other, attempts[wrote].value, seen.req)
				}
			}
		}
		applied503 += len(applied)
	}
	return checked, applied503
}
