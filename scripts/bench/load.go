package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// loadResult is one closed-loop load run against one URL.
type loadResult struct {
	Requests int64
	Errors   int64
	FirstErr string
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// RPS is completed (200) requests per second.
func (r loadResult) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

func (r loadResult) String() string {
	return fmt.Sprintf("%s req/s (p50 %s, p99 %s)", thousands(int64(r.RPS()+0.5)), ms(r.P50), ms(r.P99))
}

// percentile returns the p-th percentile (0..100) of sorted, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return sorted[i]
}

// median of unsorted values.
func median(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// newLoadClient is the one client shape every load run uses: keep-alive
// connections, enough idle ones for every worker, no compression.
func newLoadClient(workers int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        workers * 2,
			MaxIdleConnsPerHost: workers * 2,
			DisableCompression:  true,
			IdleConnTimeout:     30 * time.Second,
		},
		Timeout: 10 * time.Second,
	}
}

// post sends body to url and reads the whole answer.
func post(ctx context.Context, c *http.Client, url string, body []byte) (int, []byte, error) {
	return send(ctx, c, loadTarget{URL: url, Method: http.MethodPost, Body: body})
}

// send sends t's request (a JSON body, if any, as application/json unless
// t's headers say otherwise) and reads the whole answer.
func send(ctx context.Context, c *http.Client, t loadTarget) (int, []byte, error) {
	method := t.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if t.Body != nil {
		body = bytes.NewReader(t.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.URL, body)
	if err != nil {
		return 0, nil, err
	}
	if t.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range t.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// runLoadRequest keeps workers of t's requests in flight for d (closed loop:
// each worker sends its next request when the previous answer is read) and
// measures throughput and latency of the 200 answers. A fresh client per
// run, so no run inherits another's connections.
func runLoadRequest(t loadTarget, workers int, d time.Duration) loadResult {
	return runLoadFunc(func(ctx context.Context, c *http.Client) (int, []byte, error) { return send(ctx, c, t) }, workers, d)
}

// runLoadFunc is runLoadRequest with the request made by send.
func runLoadFunc(send func(ctx context.Context, c *http.Client) (int, []byte, error), workers int, d time.Duration) loadResult {
	client := newLoadClient(workers)
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu       sync.Mutex
		all      []time.Duration
		errs     int64
		firstErr string
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			var nerr int64
			var ferr string
			for ctx.Err() == nil {
				t0 := time.Now()
				status, b, err := send(ctx, client)
				if ctx.Err() != nil {
					break // cut off by the end of the run: not counted
				}
				if err != nil || status != http.StatusOK {
					nerr++
					if ferr == "" {
						ferr = fmt.Sprintf("status %d, err %v, body %.200s", status, err, b)
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			errs += nerr
			if firstErr == "" {
				firstErr = ferr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Only answers read before the deadline count, so the deadline ends
	// the measured period.
	deadline, _ := ctx.Deadline()
	elapsed := deadline.Sub(start)
	slices.Sort(all)
	return loadResult{
		Requests: int64(len(all)),
		Errors:   errs,
		FirstErr: firstErr,
		Elapsed:  elapsed,
		P50:      percentile(all, 50),
		P99:      percentile(all, 99),
	}
}
