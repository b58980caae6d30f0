package faulttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Outcome is one request of a load as its client saw it.
type Outcome struct {
	Op    string
	Phase string // the Recorder's phase when the request started
	// EndPhase is the phase when the response came: a request started
	// during an outage may end after it.
	EndPhase string
	// Status is the HTTP status; 0 when no response came (a transport
	// error, or the client's own timeout: a hang).
	Status int
	Code   string // the error body's code, if any
	Took   time.Duration
	Err    error
}

// Recorder collects the outcomes of requests sent from many goroutines,
// each tagged with the phase (e.g. "before", "outage", "after") current
// when it started.
type Recorder struct {
	// Client sends the requests; its Timeout turns a hang into an outcome
	// with Status 0 instead of a stuck test. Nil: a client with a 60 s
	// timeout.
	Client *http.Client

	mu       sync.Mutex
	phase    string
	outcomes []Outcome
}

// SetPhase tags the requests that start from now on.
func (r *Recorder) SetPhase(p string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phase = p
}

// Phase is the current phase.
func (r *Recorder) Phase() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.phase
}

// Post sends body as JSON to url, records the outcome as op and returns
// the status (0 without a response) and the decoded body.
func (r *Recorder) Post(url, op string, body any) (int, map[string]any) {
	raw, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	o := Outcome{Op: op, Phase: r.Phase()}
	client := r.Client
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	start := time.Now()
	var out map[string]any
	resp, err := client.Post(url, "application/json", bytes.NewReader(raw))
	if err == nil {
		var data []byte
		data, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		o.Status = resp.StatusCode
		if jerr := json.Unmarshal(data, &out); jerr != nil && err == nil {
			err = fmt.Errorf("non-JSON response %d: %q", resp.StatusCode, data)
		}
		if e, ok := out["error"].(map[string]any); ok {
			o.Code, _ = e["code"].(string)
		}
	}
	o.Took, o.Err, o.EndPhase = time.Since(start), err, r.Phase()
	r.mu.Lock()
	r.outcomes = append(r.outcomes, o)
	r.mu.Unlock()
	return o.Status, out
}

// Outcomes returns every outcome recorded so far.
func (r *Recorder) Outcomes() []Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Outcome(nil), r.outcomes...)
}

// Count returns how many outcomes of phase (any phase when "") had status.
func (r *Recorder) Count(phase string, status int) int {
	n := 0
	for _, o := range r.Outcomes() {
		if (phase == "" || o.Phase == phase) && o.Status == status {
			n++
		}
	}
	return n
}

// Summary lists, per phase and operation, how many requests ended with
// each status and the slowest one, e.g.
// "outage token: 200×12 503×30 (max 2.004s)"; "outage>after" holds the
// requests that started during the outage and ended after it.
func (r *Recorder) Summary() string {
	type key struct{ start, end, op string }
	counts := map[key]map[int]int{}
	slowest := map[key]time.Duration{}
	var phases []string // in the order they began
	for _, o := range r.Outcomes() {
		k := key{o.Phase, o.EndPhase, o.Op}
		if counts[k] == nil {
			counts[k] = map[int]int{}
		}
		counts[k][o.Status]++
		slowest[k] = max(slowest[k], o.Took)
		for _, p := range []string{o.Phase, o.EndPhase} {
			if !slices.Contains(phases, p) {
				phases = append(phases, p)
			}
		}
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	order := func(p string) int { return slices.Index(phases, p) }
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.start != b.start {
			return order(a.start) < order(b.start)
		}
		if a.end != b.end {
			return order(a.end) < order(b.end)
		}
		return a.op < b.op
	})
	var b strings.Builder
	for _, k := range keys {
		statuses := make([]int, 0, len(counts[k]))
		for s := range counts[k] {
			statuses = append(statuses, s)
		}
		sort.Ints(statuses)
		phase := k.start
		if k.end != k.start {
			phase += ">" + k.end
		}
		fmt.Fprintf(&b, "%-13s %-17s", phase, k.op)
		for _, s := range statuses {
			fmt.Fprintf(&b, " %d×%d", s, counts[k][s])
		}
		fmt.Fprintf(&b, " (max %v)\n", slowest[k].Round(time.Millisecond))
	}
	return b.String()
}

// Check fails t for every outcome that took longer than maxTook, got no
// response, ended with a status outside allowed, or is a 503 whose code is
// not "unavailable".
func (r *Recorder) Check(t testing.TB, maxTook time.Duration, allowed ...int) {
	t.Helper()
	bad := 0
	for _, o := range r.Outcomes() {
		var why string
		switch {
		case o.Status == 0:
			why = fmt.Sprintf("no response: %v", o.Err)
		case !slices.Contains(allowed, o.Status):
			why = fmt.Sprintf("status %d (%s)", o.Status, o.Code)
		case o.Status == http.StatusServiceUnavailable && o.Code != "unavailable":
			why = fmt.Sprintf("503 with code %q", o.Code)
		case o.Took > maxTook:
			why = fmt.Sprintf("took %v, more than %v", o.Took, maxTook)
		default:
			continue
		}
		if bad++; bad <= 20 {
			t.Errorf("%s %s: %s", o.Phase, o.Op, why)
		}
	}
	if bad > 20 {
		t.Errorf("... and %d more bad outcomes", bad-20)
	}
}
