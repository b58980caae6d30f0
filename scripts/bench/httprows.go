package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// mintBody is the token request every load run and start-up poll sends.
var mintBody = []byte(`{"connector":"Bench","agent":"bench"}`)

// httpBench holds what rows 1 and 4 share: the two binaries, the loopback
// provider and the devserver's data directory (a connector and its cached
// token, left there by row 1 for row 4's cold starts).
type httpBench struct {
	devserver, baseline string
	work                string
	dataDir             string
	provider            *provider
	opts                options
	cpus                cpuSplit
	notes               *[]string
}

func (h *httpBench) note(format string, args ...any) {
	*h.notes = append(*h.notes, fmt.Sprintf(format, args...))
}

// throughput is row 1 (token mint over HTTP vs the constant handler: req/s
// from the Go generator's runs, and 1c: CPU per request from the same runs
// and from wrk's when it is installed) and row 4b (peak RSS of both
// processes under that load).
func (h *httpBench) throughput() (Row, []Row, Row) {
	row := Row{ID: "1", Measure: fmt.Sprintf("token mint, cache hit, HTTP, %d clients, req/s", h.opts.clients),
		Goal: Goal{OnRatio: true, Op: ">=", Value: 0.8, Text: "ratio ≥ 0.8"}}
	cpu := []Row{{ID: "1c", Measure: "token mint, cache hit, CPU per request"}}
	rss := Row{ID: "4b", Measure: "peak RSS (VmHWM) under the row-1 load",
		Goal: Goal{Op: "<=", Value: 64 << 20, Text: "≤ 64 MiB"}}
	fail := func(err error) (Row, []Row, Row) {
		row.Err, rss.Err, cpu[0].Err = err, err, err
		return row, cpu, rss
	}

	args := []string{"-data", h.dataDir}
	if h.opts.cpuProfile != "" {
		args = append(args, "-cpuprofile", h.opts.cpuProfile)
	}
	dev, _, err := startServer(h.cpus, "devserver", h.devserver, args, h.work)
	if err != nil {
		return fail(err)
	}
	defer dev.Stop()
	if err := dev.waitOK(http.MethodGet, "/", nil, 30*time.Second); err != nil {
		return fail(err)
	}
	if err := h.createConnector(dev); err != nil {
		return fail(err)
	}
	// One warm-up mint: the provider is called once; every later request
	// is a cache hit.
	client := newLoadClient(1)
	status, body, err := post(context.Background(), client, dev.base+"/token", mintBody)
	if err != nil || status != http.StatusOK {
		return fail(fmt.Errorf("warm-up mint: status %d, %v: %s", status, err, body))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return fail(fmt.Errorf("warm-up mint: no access_token in %s", body))
	}
	callsAfterWarmup := h.provider.calls.Load()

	base, _, err := startServer(h.cpus, "baseline", h.baseline, nil, h.work)
	if err != nil {
		return fail(err)
	}
	defer base.Stop()
	if err := base.waitOK(http.MethodPost, "/token", mintBody, 30*time.Second); err != nil {
		return fail(err)
	}

	if err := h.cpus.pinGenerator(); err != nil {
		return fail(err)
	}
	defer h.cpus.release()
	// The request is the same for both: a POST with a JSON body to a
	// loopback Host (the local run answers no other).
	target := func(name string, s *server) loadTarget {
		return loadTarget{Name: name, PID: s.cmd.Process.Pid, URL: s.base + "/token", Method: http.MethodPost, Body: mintBody,
			Headers: map[string]string{"Content-Type": "application/json", "Host": strings.TrimPrefix(s.base, "http://")}}
	}
	cpu, results := h.cpuCompare(cpuCase{ID: "1c", Measure: "token mint, cache hit, CPU per request, audit line included",
		Ours: target("mint", dev), Base: target("baseline", base), Goal: 0.87})
	if len(results) == 0 || results[0].Gen != (goGenerator{}).Name() {
		return fail(fmt.Errorf("no run of the Go load generator: %v", cpu[0].Err))
	}
	// Row 1, requests per second, from the Go generator's runs: each side's
	// best (background work on a shared machine only lowers throughput).
	var bestBase, bestMint loadResult
	var sumBase, sumMint float64
	for i := range results[0].Ours {
		o, b := results[0].Ours[i].Load, results[0].Base[i].Load
		sumMint, sumBase = sumMint+o.RPS(), sumBase+b.RPS()
		if o.RPS() > bestMint.RPS() {
			bestMint = o
		}
		if b.RPS() > bestBase.RPS() {
			bestBase = b
		}
	}
	h.note("row 1: ratio of the best runs %.2f (shown); of the means %.2f (%s vs %s req/s)",
		bestMint.RPS()/bestBase.RPS(), sumMint/sumBase,
		thousands(int64(sumMint/float64(h.opts.runs))), thousands(int64(sumBase/float64(h.opts.runs))))
	if n := h.provider.calls.Load() - callsAfterWarmup; n != 0 {
		h.note("row 1: the provider was called %d more times during the load (expected 0: cache hits)", n)
	}
	row.Figure, row.FigureText = bestMint.RPS(), bestMint.String()
	row.Baseline, row.BaselineText = bestBase.RPS(), bestBase.String()

	devRSS, err := peakRSS(dev.cmd.Process.Pid)
	if err != nil {
		rss.Err = err
		return row, cpu, rss
	}
	baseRSS, err := peakRSS(base.cmd.Process.Pid)
	if err != nil {
		rss.Err = err
		return row, cpu, rss
	}
	rss.Figure, rss.FigureText = float64(devRSS), mib(devRSS)+" devserver"
	rss.Baseline, rss.BaselineText = float64(baseRSS), mib(baseRSS)+" constant handler"
	return row, cpu, rss
}

// createConnector creates the client_credentials connector Bench through
// the admin function, pointing at the loopback provider.
func (h *httpBench) createConnector(dev *server) error {
	in, _ := json.Marshal(map[string]any{
		"name":         "Bench",
		"url":          h.provider.URL(),
		"clientId":     "bench-client",
		"clientSecret": "bench-client-secret",
		"grantType":    "client_credentials",
		"contentType":  "application/x-www-form-urlencoded",
		"agents":       []string{"bench"},
	})
	status, body, err := post(context.Background(), newLoadClient(1), dev.base+"/connectors-create", in)
	if err != nil {
		return fmt.Errorf("connectors-create: %w", err)
	}
	if status != http.StatusCreated {
		return fmt.Errorf("connectors-create: status %d: %s", status, body)
	}
	return nil
}

// coldStart is row 4: process start to the first 200 on /token, the
// devserver over row 1's data directory (connector and cached token already
// there) against the constant handler's binary, alternating, median of n.
func (h *httpBench) coldStart() Row {
	row := Row{ID: "4", Measure: fmt.Sprintf("cold start: exec → first 200 on /token, median of %d", h.opts.coldStarts),
		Goal: Goal{Op: "<=", Value: float64(100 * time.Millisecond), Text: "≤ 100 ms"}}
	before := h.provider.calls.Load()
	var devTimes, baseTimes []time.Duration
	for range h.opts.coldStarts {
		for _, side := range []struct {
			name  string
			bin   string
			args  []string
			times *[]time.Duration
		}{
			{"devserver", h.devserver, []string{"-data", h.dataDir}, &devTimes},
			{"baseline", h.baseline, nil, &baseTimes},
		} {
			s, started, err := startServer(h.cpus, side.name, side.bin, side.args, h.work)
			if err != nil {
				row.Err = err
				return row
			}
			err = s.waitOK(http.MethodPost, "/token", mintBody, 20*time.Second)
			d := time.Since(started)
			s.Stop()
			if err != nil {
				row.Err = err
				return row
			}
			*side.times = append(*side.times, d)
		}
	}
	if n := h.provider.calls.Load() - before; n != 0 {
		h.note("row 4: the provider was called %d times during the cold starts (expected 0: the token comes from the cache in %s)", n, filepath.Base(h.dataDir))
	}
	h.note("row 4 devserver starts: %v", roundAll(devTimes))
	h.note("row 4 baseline  starts: %v", roundAll(baseTimes))
	dm, bm := median(devTimes), median(baseTimes)
	row.Figure, row.FigureText = float64(dm), ms(dm)+" devserver"
	row.Baseline, row.BaselineText = float64(bm), ms(bm)+" constant handler"
	return row
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(100 * time.Microsecond)
	}
	return out
}
