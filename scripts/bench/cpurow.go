package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CPU time per request: what an instance's bill and its capacity follow,
// and a figure that moves far less with the neighbours' load on a shared
// machine than requests per second do. A row compares a measured server
// with a baseline server, both child processes pinned to the same CPU (see
// cpuSplit), loaded in turn with the same request by the same generator:
//
//	CPU per request = Δ(utime+stime of the server's PID, /proc/PID/stat)
//	                  ÷ requests it answered during the run
//
// over alternating runs (baseline, ours, baseline, ours, ...), each side's
// median kept. The row's figure is requests per CPU-second (1 ÷ CPU per
// request), so that the table's ratio, figure ÷ baseline, is the baseline's
// CPU per request ÷ ours: 1.0 is "costs what the bare server costs", 0.87 is
// "costs 1.15× as much".
//
// Adding a row (the proxy, say):
//
//  1. start both servers with startServer(h.cpus, ...) (each on the
//     servers' CPU) and wait until each answers (waitOK);
//  2. describe the request with a loadTarget per side: its URL, method,
//     body and headers (a loopback Host is what wrk sends by default);
//  3. call h.cpuCompare(cpuCase{ID: "6", Measure: "...", Ours: ..., Base:
//     ..., Goal: 1/1.2}) with the generator pinned (h.cpus.pinGenerator()):
//     it returns one Row per load generator (the Go one, then wrk when it is
//     installed), each with its notes, and the Go generator's best req/s
//     per side for a throughput row if the row wants one;
//  4. add the rows to run()'s table in main.go.

// loadTarget is one server and the request to load it with.
type loadTarget struct {
	Name    string
	PID     int // the process whose CPU time is read
	URL     string
	Method  string
	Body    []byte
	Headers map[string]string
}

// cpuCase is one CPU-per-request comparison.
type cpuCase struct {
	ID, Measure string
	Ours, Base  loadTarget
	// Goal is the least ratio (baseline CPU per request ÷ ours) that passes.
	Goal float64
}

// cpuSample is one load run's outcome on one server.
type cpuSample struct {
	Requests int64
	Errors   int64
	FirstErr string
	Elapsed  time.Duration
	CPU      time.Duration // the server's utime+stime over the run
	Load     loadResult    // the Go generator's detail (latencies)
}

// PerRequest is CPU time per answered request.
func (s cpuSample) PerRequest() time.Duration {
	if s.Requests <= 0 {
		return 0
	}
	return s.CPU / time.Duration(s.Requests)
}

func (s cpuSample) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Elapsed.Seconds()
}

// generator drives one load run against t for d with clients connections.
type generator interface {
	Name() string
	Run(t loadTarget, clients int, d time.Duration) (cpuSample, error)
}

// cpuResult is a comparison's outcome for one generator.
type cpuResult struct {
	Gen        string
	Ours, Base []cpuSample
}

// cpuCompare runs c with every available generator, alternating the two
// sides, h.opts.runs times each after one unmeasured second per side, and
// returns a Row per generator with the results behind them.
func (h *httpBench) cpuCompare(c cpuCase) ([]Row, []cpuResult) {
	gens := []generator{goGenerator{}}
	if w, err := newWrk(h.work); err == nil {
		gens = append(gens, w)
	} else {
		h.note("row %s: no wrk (%v), so only the Go load generator: `apt-get install wrk` (Debian/Ubuntu) adds a second, outside the Go runtime", c.ID, err)
	}
	var rows []Row
	var results []cpuResult
	for _, g := range gens {
		row := Row{ID: c.ID, Measure: c.Measure + ", " + g.Name(),
			Goal: Goal{OnRatio: true, Op: ">=", Value: c.Goal,
				Text: fmt.Sprintf("CPU ratio ≥ %.2f", c.Goal)}}
		res := cpuResult{Gen: g.Name()}
		err := func() error {
			for _, t := range []loadTarget{c.Base, c.Ours} {
				if _, err := g.Run(t, h.opts.clients, time.Second); err != nil {
					return fmt.Errorf("warm-up of %s: %w", t.Name, err)
				}
			}
			for i := range h.opts.runs {
				for _, side := range []struct {
					t   loadTarget
					out *[]cpuSample
				}{{c.Base, &res.Base}, {c.Ours, &res.Ours}} {
					s, err := g.Run(side.t, h.opts.clients, h.opts.duration)
					if err != nil {
						return fmt.Errorf("%s: %w", side.t.Name, err)
					}
					if s.Requests == 0 || s.Errors*100 > s.Requests+s.Errors {
						return fmt.Errorf("%s load run: %d ok, %d failed, first: %s", side.t.Name, s.Requests, s.Errors, s.FirstErr)
					}
					h.note("row %s run %d %-7s %-9s: %s CPU/request, %s req/s, %d requests, %d errors",
						c.ID, i+1, g.Name(), side.t.Name, us(s.PerRequest()), thousands(int64(s.RPS())), s.Requests, s.Errors)
					*side.out = append(*side.out, s)
				}
			}
			return nil
		}()
		if err != nil {
			row.Err = err
			rows = append(rows, row)
			continue
		}
		ours, base := medianPerRequest(res.Ours), medianPerRequest(res.Base)
		row.Figure, row.FigureText = perCPUSecond(ours), us(ours)+" CPU/request (median)"
		row.Baseline, row.BaselineText = perCPUSecond(base), us(base)+" CPU/request"
		rows = append(rows, row)
		results = append(results, res)
	}
	if len(results) == 2 {
		a, b := medianPerRequest(results[0].Ours), medianPerRequest(results[1].Ours)
		h.note("row %s: the generators agree on %s's CPU per request within %.1f%% (%s %s, %s %s)",
			c.ID, c.Ours.Name, 100*absDiff(a, b)/float64(min(a, b)), results[0].Gen, us(a), results[1].Gen, us(b))
	}
	return rows, results
}

func absDiff(a, b time.Duration) float64 {
	if a > b {
		return float64(a - b)
	}
	return float64(b - a)
}

// medianPerRequest is the median of the runs' CPU per request.
func medianPerRequest(ss []cpuSample) time.Duration {
	v := make([]time.Duration, len(ss))
	for i, s := range ss {
		v[i] = s.PerRequest()
	}
	return median(v)
}

// perCPUSecond is requests per second of CPU time.
func perCPUSecond(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(time.Second) / float64(d)
}

// us shows a duration in microseconds.
func us(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64) + " µs"
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports (sysconf(_SC_CLK_TCK)).
const clockTick = 10 * time.Millisecond

// processCPU is utime+stime of pid (every thread), from /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads fields 14 and 15 (utime, stime) of a /proc/PID/stat
// line. The command name, field 2, is in parentheses and may hold spaces
// and parentheses itself, so fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the name", len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// goGenerator is the bench's own closed-loop generator (runLoadRequest).
type goGenerator struct{}

func (goGenerator) Name() string { return "Go client" }

func (goGenerator) Run(t loadTarget, clients int, d time.Duration) (cpuSample, error) {
	before, err := processCPU(t.PID)
	if err != nil {
		return cpuSample{}, err
	}
	r := runLoadRequest(t, clients, d)
	after, err := processCPU(t.PID)
	if err != nil {
		return cpuSample{}, err
	}
	return cpuSample{Requests: r.Requests, Errors: r.Errors, FirstErr: r.FirstErr, Elapsed: r.Elapsed, CPU: after - before, Load: r}, nil
}

// runtimeCPUs is how many CPUs this thread may run on (the generator's
// share once pinGenerator ran).
func runtimeCPUs() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() == 0 {
		return 1
	}
	return set.Count()
}

// wrk drives the load from outside the Go runtime: wrk (Debian package
// wrk), one thread per generator CPU, the request set by a Lua script
// written at run time.
type wrk struct {
	bin, dir string
}

func newWrk(dir string) (*wrk, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return nil, err
	}
	return &wrk{bin: bin, dir: dir}, nil
}

func (*wrk) Name() string { return "wrk" }

// wrkScript sets the method, body and headers of every request.
func wrkScript(t loadTarget) string {
	var b strings.Builder
	method := t.Method
	if method == "" {
		method = "GET"
	}
	fmt.Fprintf(&b, "wrk.method = %s\n", luaString(method))
	if t.Body != nil {
		fmt.Fprintf(&b, "wrk.body = %s\n", luaString(string(t.Body)))
	}
	keys := make([]string, 0, len(t.Headers))
	for k := range t.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "wrk.headers[%s] = %s\n", luaString(k), luaString(t.Headers[k]))
	}
	return b.String()
}

// luaString quotes s as a Lua string literal (decimal escapes for every
// byte outside printable ASCII, the quote and the backslash).
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			fmt.Fprintf(&b, "\\%03d", c)
			continue
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}

var (
	wrkTotal = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m),`)
	wrkNon2x = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
	wrkSock  = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func (w *wrk) Run(t loadTarget, clients int, d time.Duration) (cpuSample, error) {
	script, err := os.CreateTemp(w.dir, "wrk-*.lua")
	if err != nil {
		return cpuSample{}, err
	}
	defer os.Remove(script.Name())
	if _, err := script.WriteString(wrkScript(t)); err != nil {
		script.Close()
		return cpuSample{}, err
	}
	if err := script.Close(); err != nil {
		return cpuSample{}, err
	}
	// One wrk thread per CPU this process may run on (the generator's
	// share after pinGenerator: wrk inherits the affinity).
	threads := max(1, min(clients, runtimeCPUs()))
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(clients),
		"-d", strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))+"s", "-s", filepath.Base(script.Name()), t.URL)
	cmd.Dir = w.dir
	before, err := processCPU(t.PID)
	if err != nil {
		return cpuSample{}, err
	}
	out, err := cmd.CombinedOutput()
	after, cerr := processCPU(t.PID)
	if err != nil {
		return cpuSample{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	if cerr != nil {
		return cpuSample{}, cerr
	}
	return parseWrk(out, after-before)
}

// parseWrk reads the totals of wrk's report.
func parseWrk(out []byte, cpu time.Duration) (cpuSample, error) {
	m := wrkTotal.FindSubmatch(out)
	if m == nil {
		return cpuSample{}, fmt.Errorf("wrk: no totals in its output: %s", out)
	}
	total, _ := strconv.ParseInt(string(m[1]), 10, 64)
	v, _ := strconv.ParseFloat(string(m[2]), 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[string(m[3])]
	s := cpuSample{Elapsed: time.Duration(v * float64(unit)), CPU: cpu}
	if m := wrkNon2x.FindSubmatch(out); m != nil {
		s.Errors, _ = strconv.ParseInt(string(m[1]), 10, 64)
		s.FirstErr = fmt.Sprintf("%d non-2xx answers", s.Errors)
	}
	// Non-2xx answers are among the total; failed sockets are not.
	s.Requests = max(0, total-s.Errors)
	if m := wrkSock.FindSubmatch(out); m != nil {
		for _, f := range m[1:] {
			n, _ := strconv.ParseInt(string(f), 10, 64)
			s.Errors += n
		}
		if s.FirstErr == "" {
			s.FirstErr = strings.TrimSpace(string(m[0]))
		}
	}
	return s, nil
}
