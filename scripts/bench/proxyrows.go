package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The proxy rows (6, 6b, 6c, 6d): a proxied GET of a small JSON answer
// from a loopback API, through the devserver's /proxy against baseproxy (a
// bare httputil.ReverseProxy adding a constant header), both pinned like
// row 1: requests per second (6) and CPU per request (6d, cpuCompare); the
// latency the proxy adds at one client (6b); and the devserver's peak RSS
// while 1 GiB streams through it (6c).

// apiAnswer is the loopback API's small JSON answer.
const apiAnswer = `{"id":"msg-1842","threadId":"t-77","labelIds":["INBOX","UNREAD"],"snippet":"Lunch on Friday?","sizeEstimate":2048}` + "\n"

// apiServer is the loopback API the proxy rows call: /item answers
// apiAnswer, /bytes?n=N streams N bytes. It runs in the bench process, on
// the generator's CPUs, for both sides alike.
func apiServer() (base string, stop func(), err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/item", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, apiAnswer)
	})
	mux.HandleFunc("/api/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		buf := make([]byte, 256<<10)
		for n > 0 {
			m := min(int64(len(buf)), n)
			if _, err := w.Write(buf[:m]); err != nil {
				return
			}
			n -= m
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(lis)
	return "http://" + lis.Addr().String(), func() { srv.Close() }, nil
}

// get sends a GET with header to url and reads the whole answer.
func get(ctx context.Context, c *http.Client, url string, header http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func getLoad(url string, header http.Header, workers int, d time.Duration) loadResult {
	return runLoadFunc(func(ctx context.Context, c *http.Client) (int, []byte, error) { return get(ctx, c, url, header) }, workers, d)
}

var agentHeader = http.Header{"Connectors-Agent": {"bench"}}

// proxyRows measures rows 6, 6b, 6c and 6d on a devserver of their own.
func (h *httpBench) proxyRows(baseproxy string) []Row {
	r6 := Row{ID: "6", Measure: fmt.Sprintf("proxied GET, small JSON, cache hit, %d clients", h.opts.clients),
		Goal: Goal{OnRatio: true, Op: ">=", Value: 0.8, Text: "ratio ≥ 0.8"}}
	r6b := Row{ID: "6b", Measure: "latency the proxy adds at 1 client (p50 proxied − p50 direct)",
		Goal: Goal{Op: "<=", Value: float64(300 * time.Microsecond), Text: "≤ 0.3 ms"}}
	r6c := Row{ID: "6c", Measure: "peak RSS (VmHWM) streaming 1 GiB through the proxy",
		Goal: Goal{Op: "<=", Value: 64 << 20, Text: "≤ 64 MiB"}}
	fail := func(err error) []Row {
		r6.Err, r6b.Err, r6c.Err = err, err, err
		return []Row{r6, r6b, r6c}
	}
	api, stopAPI, err := apiServer()
	if err != nil {
		return fail(err)
	}
	defer stopAPI()
	dev, _, err := startServer(h.cpus, "devserver-proxy", h.devserver, []string{"-data", filepath.Join(h.work, "proxy-data")}, h.work)
	if err != nil {
		return fail(err)
	}
	defer dev.Stop()
	if err := dev.waitOK(http.MethodGet, "/", nil, 30*time.Second); err != nil {
		return fail(err)
	}
	in, _ := json.Marshal(map[string]any{
		"name": "Bench", "url": h.provider.URL(), "clientId": "bench-client", "clientSecret": "bench-client-secret",
		"grantType": "client_credentials", "agents": []string{"bench"}, "apiBaseUrl": api + "/api/",
	})
	if status, body, err := post(context.Background(), newLoadClient(1), dev.base+"/connectors-create", in); err != nil || status != http.StatusCreated {
		return fail(fmt.Errorf("connectors-create: %d %v %s", status, err, body))
	}
	proxied := dev.base + "/proxy/Bench/item"
	if status, body, err := get(context.Background(), newLoadClient(1), proxied, agentHeader); err != nil || status != 200 || string(body) != apiAnswer {
		return fail(fmt.Errorf("warm-up proxied call: %d %v %.200s", status, err, body))
	}
	r6c = streamRSS(r6c, dev)
	base, _, err := startServer(h.cpus, "baseproxy", baseproxy, []string{"-target", api + "/api/"}, h.work)
	if err != nil {
		return fail(err)
	}
	defer base.Stop()
	if err := base.waitOK(http.MethodGet, "/token", nil, 30*time.Second); err != nil {
		return fail(err)
	}
	bare := base.base + "/item"
	if err := h.cpus.pinGenerator(); err != nil {
		return fail(err)
	}
	defer h.cpus.release()

	// 6d, CPU per request, and 6 from the same runs: both servers loaded
	// in turn with the same GET by each generator (cpuCompare).
	hostOf := func(s *server) string { return strings.TrimPrefix(s.base, "http://") }
	cpu, results := h.cpuCompare(cpuCase{ID: "6d", Measure: "proxied GET, small JSON, cache hit, CPU per request, audit line included",
		Ours: loadTarget{Name: "proxy", PID: dev.cmd.Process.Pid, URL: proxied, Method: http.MethodGet,
			Headers: map[string]string{"Connectors-Agent": "bench", "Host": hostOf(dev)}},
		Base: loadTarget{Name: "baseproxy", PID: base.cmd.Process.Pid, URL: bare, Method: http.MethodGet,
			Headers: map[string]string{"Host": hostOf(base)}},
		Goal: 1 / 1.2})
	if len(results) == 0 || results[0].Gen != (goGenerator{}).Name() {
		r6.Err = fmt.Errorf("no run of the Go load generator: %v", cpu[0].Err)
	} else {
		var bestBase, bestProxy loadResult
		for i := range results[0].Ours {
			if o := results[0].Ours[i].Load; o.RPS() > bestProxy.RPS() {
				bestProxy = o
			}
			if b := results[0].Base[i].Load; b.RPS() > bestBase.RPS() {
				bestBase = b
			}
		}
		r6.Figure, r6.FigureText = bestProxy.RPS(), bestProxy.String()
		r6.Baseline, r6.BaselineText = bestBase.RPS(), bestBase.String()+" ReverseProxy"
	}

	// 6b: one client, alternating direct and proxied runs; the medians of
	// each side's p50s.
	var direct, through []time.Duration
	for range h.opts.runs {
		d := getLoad(api+"/api/item", nil, 1, 2*time.Second)
		p := getLoad(proxied, agentHeader, 1, 2*time.Second)
		if d.Requests == 0 || p.Requests == 0 {
			r6b.Err = fmt.Errorf("one-client runs: %d direct, %d proxied answers", d.Requests, p.Requests)
			break
		}
		direct, through = append(direct, d.P50), append(through, p.P50)
	}
	if r6b.Err == nil {
		dm, pm := median(direct), median(through)
		r6b.Figure, r6b.FigureText = float64(pm-dm), ms(pm-dm)+" added (p50 "+ms(pm)+" proxied)"
		r6b.Baseline, r6b.BaselineText = float64(dm), ms(dm)+" p50 direct"
	}

	return append([]Row{r6, r6b, r6c}, cpu...)
}

// streamRSS is row 6c: the devserver's peak RSS (VmHWM) after 1 GiB was
// read through it, measured before any other load on the process, beside
// its RSS before the download.
func streamRSS(row Row, dev *server) Row {
	before, err := peakRSS(dev.cmd.Process.Pid)
	if err != nil {
		row.Err = err
		return row
	}
	// 6c: 1 GiB through the proxy, read and discarded as it comes.
	const gib = 1 << 30
	client := newLoadClient(1)
	client.Timeout = 5 * time.Minute
	req, _ := http.NewRequest(http.MethodGet, dev.base+"/proxy/Bench/bytes?n="+strconv.Itoa(gib), nil)
	req.Header = agentHeader.Clone()
	resp, err := client.Do(req)
	if err != nil {
		row.Err = err
		return row
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != gib {
		row.Err = fmt.Errorf("1 GiB download: %d bytes, %v", n, err)
		return row
	}
	devRSS, err := peakRSS(dev.cmd.Process.Pid)
	if err != nil {
		row.Err = err
		return row
	}
	row.Figure, row.FigureText = float64(devRSS), mib(devRSS)+" devserver"
	row.Baseline, row.BaselineText = float64(before), mib(before)+" before the download"
	return row
}
