package faulttest

import "fmt"

// Writer is one load goroutine's connector writes, each recorded in a
// History: it creates connectors of its own, rewrites their client secret
// and scope, and deletes them, so that every name is written by this
// goroutine only and with values never written before, as History needs.
type Writer struct {
	// G numbers the goroutine; its connectors are named L<G>n<i>.
	G int
	// Post sends one admin request ("create", "update" or "delete") and
	// returns its HTTP status.
	Post func(op string, body any) int
	// New returns a create body for a connector called name, without its
	// client secret (the Writer sets it).
	New func(name string) map[string]any
	H   *History

	own []string // created with 201, not deleted yet
}

// Create creates connector number i.
func (w *Writer) Create(i int) {
	name := fmt.Sprintf("L%dn%d", w.G, i)
	secret := "cs-" + name + "-0"
	in := w.New(name)
	in[FieldClientSecret] = secret
	status := w.Post("create", in)
	w.H.Create(name, secret, "", status)
	if status == 201 {
		w.own = append(w.own, name)
	}
}

// Update gives the newest of the Writer's connectors a new scope, and a
// new client secret with it when secret is set: one request that must show
// in both fields or neither.
func (w *Writer) Update(i int, secret bool) {
	name, ok := w.Newest()
	if !ok {
		return
	}
	changes := map[string]string{FieldScope: fmt.Sprintf("scope-%d", i)}
	if secret {
		changes[FieldClientSecret] = fmt.Sprintf("cs-%s-%d", name, i)
	}
	w.H.Update(name, changes, w.Post("update", map[string]any{"name": name, "changes": changes}))
}

// DeleteOldest deletes the oldest of the Writer's connectors, keeping the
// newest for Update; whatever the answer, it is not written to again.
func (w *Writer) DeleteOldest() {
	if len(w.own) < 2 {
		return
	}
	name := w.own[0]
	w.own = w.own[1:]
	w.H.Delete(name, w.Post("delete", map[string]any{"name": name}))
}

// Newest is the Writer's most recently created connector.
func (w *Writer) Newest() (string, bool) {
	if len(w.own) == 0 {
		return "", false
	}
	return w.own[len(w.own)-1], true
}
