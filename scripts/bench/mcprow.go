package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// Row 7: a tools/call of call_api through the local run's /mcp, with the
// connector's token cached, at one client: its p50 beside the p50 of the
// same GET through /proxy, alternating runs in the same process. The
// difference is what MCP costs over the proxy (JSON-RPC, a stateless
// session per POST, the arguments' schema, the result's JSON).

// mcpCall is the tools/call the row sends: call_api of the proxy rows' API.
const mcpCall = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"call_api","arguments":{"connector":"Bench","path":"item"}}}`

// mcpPost sends one JSON-RPC message to url as the agent "bench".
func mcpPost(ctx context.Context, c *http.Client, url, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Connectors-Agent", "bench")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// mcpRows measures rows 7 and 7c on a devserver of their own.
func (h *httpBench) mcpRows() []Row {
	row, cpu := h.mcpRow()
	return append([]Row{row}, cpu...)
}

// mcpRow is row 7 and, from the same devserver, 7c: CPU per request of the
// tools/call at 64 clients against the same GET through /proxy (both
// answered by the one devserver process, so its CPU per request of each).
func (h *httpBench) mcpRow() (row Row, cpu []Row) {
	row = Row{ID: "7", Measure: "MCP tools/call of call_api, cached token, 1 client (p50)",
		Goal: Goal{OnRatio: true, Op: "<=", Value: 2, Text: "≤ 2× the proxy's p50"}}
	api, stopAPI, err := apiServer()
	if err != nil {
		row.Err = err
		return row, nil
	}
	defer stopAPI()
	dev, _, err := startServer(h.cpus, "devserver-mcp", h.devserver, []string{"-data", filepath.Join(h.work, "mcp-data")}, h.work)
	if err != nil {
		row.Err = err
		return row, nil
	}
	defer dev.Stop()
	if err := dev.waitOK(http.MethodGet, "/", nil, 30*time.Second); err != nil {
		row.Err = err
		return row, nil
	}
	in, _ := json.Marshal(map[string]any{
		"name": "Bench", "url": h.provider.URL(), "clientId": "bench-client", "clientSecret": "bench-client-secret",
		"grantType": "client_credentials", "agents": []string{"bench"}, "apiBaseUrl": api + "/api/",
	})
	if status, body, err := post(context.Background(), newLoadClient(1), dev.base+"/connectors-create", in); err != nil || status != http.StatusCreated {
		row.Err = fmt.Errorf("connectors-create: %d %v %s", status, err, body)
		return row, nil
	}
	// Warm-up: mints the token (cached from then on) and checks that the
	// tool's result is the API's answer.
	proxied, mcpURL := dev.base+"/proxy/Bench/item", dev.base+"/mcp"
	if status, body, err := get(context.Background(), newLoadClient(1), proxied, agentHeader); err != nil || status != 200 || string(body) != apiAnswer {
		row.Err = fmt.Errorf("warm-up proxied call: %d %v %.200s", status, err, body)
		return row, nil
	}
	status, body, err := mcpPost(context.Background(), newLoadClient(1), mcpURL, mcpCall)
	want, _ := json.Marshal(apiAnswer)
	if err != nil || status != 200 || bytes.Contains(body, []byte(`"isError":true`)) || !bytes.Contains(body, want[1:len(want)-1]) {
		row.Err = fmt.Errorf("warm-up tools/call: %d %v %.300s", status, err, body)
		return row, nil
	}
	if err := h.cpus.pinGenerator(); err != nil {
		row.Err = err
		return row, nil
	}
	defer h.cpus.release()
	viaMCP := func(ctx context.Context, c *http.Client) (int, []byte, error) {
		return mcpPost(ctx, c, mcpURL, mcpCall)
	}
	runLoadFunc(viaMCP, 1, time.Second)
	var direct, through []time.Duration
	for i := range h.opts.runs {
		p := getLoad(proxied, agentHeader, 1, 2*time.Second)
		m := runLoadFunc(viaMCP, 1, 2*time.Second)
		h.note("row 7 run %d: proxy p50 %s (%d), mcp p50 %s (%d, %d errors)", i+1, ms(p.P50), p.Requests, ms(m.P50), m.Requests, m.Errors)
		if p.Requests == 0 || m.Requests == 0 || m.Errors > 0 {
			row.Err = fmt.Errorf("one-client runs: %d proxied, %d mcp answers, %d mcp errors, first: %s", p.Requests, m.Requests, m.Errors, m.FirstErr)
			return row, nil
		}
		direct, through = append(direct, p.P50), append(through, m.P50)
	}
	pm, mm := median(direct), median(through)
	row.Figure, row.FigureText = float64(mm), ms(mm)+" p50 ("+ms(mm-pm)+" over the proxy)"
	row.Baseline, row.BaselineText = float64(pm), ms(pm)+" p50 GET /proxy"

	host := strings.TrimPrefix(dev.base, "http://")
	cpu, _ = h.cpuCompare(cpuCase{ID: "7c", Measure: "MCP tools/call of call_api against the same GET through /proxy, cached token, CPU per request",
		Ours: loadTarget{Name: "mcp", PID: dev.cmd.Process.Pid, URL: mcpURL, Method: http.MethodPost, Body: []byte(mcpCall),
			Headers: map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "Connectors-Agent": "bench", "Host": host}},
		Base: loadTarget{Name: "proxy", PID: dev.cmd.Process.Pid, URL: proxied, Method: http.MethodGet,
			Headers: map[string]string{"Connectors-Agent": "bench", "Host": host}},
		Goal: 0.5})
	return row, cpu
}
