// Command bench measures the product against a baseline measured in the
// same run and prints one table: each figure, its baseline, the ratio, the
// goal and PASS or MISS.
//
//	go run ./scripts/bench
//
// Rows:
//
//  1. token mint (cache hit) over loopback HTTP at 64 concurrent clients:
//     the devserver binary against a constant-JSON handler binary
//     (scripts/bench/baseline) with the same http.Server settings, both
//     child processes pinned to one CPU, driven by the same load generator.
//     One unmeasured second each, then baseline and mint alternate (-runs,
//     default 3, of -duration, default 5 s). 1c, the goal: each server's
//     CPU time per request (utime+stime from /proc/PID/stat over the
//     requests it answered; median), with the bench's Go generator and with
//     wrk when installed (cpurow.go, the reusable harness); 1: requests per
//     second from the Go generator's runs, each side's best;
//  2. provider calls for 4 instances × 250 concurrent mints of an expired
//     token (Firestore emulator), against the naive one-request-per-call
//     loop run on the same provider;
//  3. Secret Manager accesses for 10,000 mints on one instance with ~100
//     re-mints (in-process Secret Manager server), against reading the
//     secret on every mint;
//  4. cold start, exec to the first 200 on /token, and 4b: peak RSS under
//     row 1's load, devserver against the constant handler;
//  5. connectors-list by agent with 10,000 against 100 connectors stored
//     (Firestore emulator), and 5b: the same on the embedded store;
//  6. a proxied GET of a small JSON answer from a loopback API through the
//     devserver's /proxy, against a bare httputil.ReverseProxy adding a
//     constant header (scripts/bench/baseproxy), pinned and alternated like
//     row 1; 6b: the latency the proxy adds at one client (p50 proxied −
//     p50 direct); 6c: the devserver's peak RSS streaming 1 GiB through it;
//     6d: CPU per proxied request against the ReverseProxy's (cpurow.go);
//  7. a tools/call of call_api through the devserver's /mcp, cached token,
//     one client: its p50 beside the same GET through /proxy (mcprow.go);
//     7c: CPU per request of each at 64 clients, same devserver.
//  8. Firestore metadata reads per instance per TTL, 4 instances × 200 busy
//     connectors over 60 s of fake time: the catalog version against one
//     read per connector per TTL (readsrow.go).
//
// The Firestore emulator named by FIRESTORE_EMULATOR_HOST is used, else one
// is started (gcloud) and stopped at the end. A missed goal is reported, not
// fatal: the exit status is 1 only when a row could not be measured.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/secret/smserver"
	"connectors.dev/connectors/shared/testenv/emulator"
)

type options struct {
	duration   time.Duration
	runs       int
	clients    int
	coldStarts int
	mints      int
	remints    int
	big, small int
	mine       int
	listRuns   int
	pin        bool
	cpuProfile string
	only       map[string]bool // row groups to run; nil: all
}

// want reports whether row group id (1, 2, 3, 4, 5, 6, 7, 8) was asked for.
func (o options) want(id string) bool { return o.only == nil || o.only[id] }

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "row 1: length of each load run")
	flag.IntVar(&o.runs, "runs", 3, "row 1: load runs per side, alternating baseline and mint; the best of each is kept")
	flag.IntVar(&o.clients, "clients", 64, "row 1: concurrent clients")
	flag.IntVar(&o.coldStarts, "starts", 10, "row 4: cold starts per binary")
	flag.IntVar(&o.mints, "mints", 10000, "row 3: Token calls")
	flag.IntVar(&o.remints, "remints", 100, "row 3: token expiries during those calls")
	flag.IntVar(&o.big, "connectors", 10000, "row 5: connectors in the big store")
	flag.IntVar(&o.small, "small", 100, "row 5: connectors in the small store")
	flag.IntVar(&o.mine, "mine", 20, "row 5: connectors of the measured agent in each store")
	flag.IntVar(&o.listRuns, "listruns", 30, "row 5: List calls per store")
	flag.BoolVar(&o.pin, "pin", true, "rows 1, 4, 4b: run each server on a CPU of its own (taskset) and the load generator on the others")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "row 1: write the devserver's CPU profile (go tool pprof) to this file")
	only := flag.String("rows", "", "run only these row groups, comma-separated (1 is 1, 1c and 4b; 4 needs 1; 5 is 5 and 5b), e.g. -rows 1,6; default all")
	flag.Parse()
	if *only != "" {
		o.only = map[string]bool{}
		for _, id := range strings.Split(*only, ",") {
			o.only[strings.TrimSpace(id)] = true
		}
	}
	if o.cpuProfile != "" {
		if abs, err := filepath.Abs(o.cpuProfile); err == nil {
			o.cpuProfile = abs
		}
	}
	os.Exit(run(o))
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(o options) int {
	began := time.Now()
	ctx := context.Background()
	fmt.Println(machine())
	fmt.Println()
	var notes []string
	rows := map[string][]Row{}
	setupFailed := func(ids []string, measures []string, err error) {
		for i, id := range ids {
			rows[id] = append(rows[id], Row{ID: id, Measure: measures[i], Err: err})
		}
	}

	// Build the binaries while the Firestore emulator starts (neither is
	// measured), then measure with both ready.
	type started struct {
		stop func()
		err  error
	}
	emu := make(chan started, 1)
	go func() {
		if h := os.Getenv(emulator.FirestoreEnv); h != "" {
			progress("using the Firestore emulator at %s", h)
			emu <- started{stop: func() {}}
			return
		}
		progress("starting the Firestore emulator")
		h, stop, err := emulator.Start()
		if err == nil {
			progress("Firestore emulator on %s", h)
		}
		emu <- started{stop: stop, err: err}
	}()

	work, err := os.MkdirTemp("", "connectors-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(work)
	progress("building functions/devserver and scripts/bench/baseline")
	// Both servers (and this generator) run with the deployment's collector
	// setting, so that the ratio compares handlers, not GC settings.
	if os.Getenv("GOGC") == "" {
		_ = os.Setenv("GOGC", strconv.Itoa(config.DefaultGCPercent))
	}
	notes = append(notes, "rows 1, 4, 4b: GOGC="+os.Getenv("GOGC")+" for both servers (terraform sets "+strconv.Itoa(config.DefaultGCPercent)+"; the devserver defaults to it)")
	cpus, split := newCPUSplit(o.pin)
	notes = append(notes, "rows 1, 4, 4b: "+split)
	hb := &httpBench{work: work, dataDir: filepath.Join(work, "data"), opts: o, notes: &notes, cpus: cpus}
	root, err := moduleRoot()
	if err == nil {
		hb.devserver, err = build(root, work, "devserver", "./functions/devserver")
	}
	if err == nil {
		hb.baseline, err = build(root, work, "baseline", "./scripts/bench/baseline")
	}
	var baseproxy string
	if err == nil {
		baseproxy, err = build(root, work, "baseproxy", "./scripts/bench/baseproxy")
	}
	em := <-emu
	if em.err == nil {
		defer em.stop()
	}
	if !(o.want("1") || o.want("4") || o.want("6") || o.want("7")) {
		// not asked for
	} else if err != nil {
		setupFailed([]string{"1", "1c", "4", "4b", "6", "6d", "7", "7c"}, []string{"token mint over HTTP", "token mint, CPU per request", "cold start", "peak RSS", "proxied GET", "proxied GET, CPU per request", "MCP call_api", "MCP call_api, CPU per request"}, err)
	} else {
		hb.provider = newProvider(3600)
		defer hb.provider.Close()
		if o.want("1") || o.want("4") {
			progress("row 1 and 4b: %d × %s of load per side", o.runs, o.duration)
			r1, r1c, r4b := hb.throughput()
			rows["1"], rows["1c"], rows["4b"] = []Row{r1}, r1c, []Row{r4b}
			if !o.want("4") {
				// not asked for
			} else if r1.Err == nil {
				progress("row 4: %d cold starts per binary", o.coldStarts)
				rows["4"] = []Row{hb.coldStart()}
			} else {
				setupFailed([]string{"4"}, []string{"cold start"}, fmt.Errorf("row 1 failed, no data directory"))
			}
		}
		if o.want("6") {
			progress("rows 6, 6b, 6c: the proxy against a bare ReverseProxy")
			rows["6"] = hb.proxyRows(baseproxy)
		}
		if o.want("7") {
			progress("row 7: MCP call_api against the proxy")
			rows["7"] = hb.mcpRows()
		}
	}

	if em.err != nil {
		setupFailed([]string{"2", "3", "5", "8"}, []string{"upstream calls", "Secret Manager accesses", "connectors-list by agent", "metadata reads"},
			fmt.Errorf("start the Firestore emulator: %w", em.err))
	} else {
		sm := smserver.New()
		addr, err := sm.Start("127.0.0.1:0")
		if err != nil {
			setupFailed([]string{"2", "3", "5", "8"}, []string{"upstream calls", "Secret Manager accesses", "connectors-list by agent", "metadata reads"}, err)
		} else {
			defer sm.Stop()
			c := &cloud{sm: sm, smAddr: addr, notes: &notes}
			if o.want("2") {
				progress("row 2: 4 × 250 concurrent mints after expiry")
				rows["2"] = []Row{c.singleUpstream(ctx)}
			}
			if o.want("3") {
				progress("row 3: %d mints, %d expiries", o.mints, o.remints)
				rows["3"] = []Row{c.secretAccesses(ctx, o.mints, o.remints)}
			}
			if o.want("8") {
				progress("row 8: metadata reads, 4 instances × 200 busy connectors, 60 s of fake time, both schemes")
				rows["8"] = []Row{c.metadataReads(ctx, 4, 200, time.Minute)}
			}
			if o.want("5") {
				progress("row 5: filling %d + %d connectors", o.big, o.small)
				rows["5"] = []Row{c.listScaling(ctx, o.big, o.small, o.mine, o.listRuns)}
			}
		}
	}

	if o.want("5") {
		progress("row 5b: the same on the embedded store")
		rows["5b"] = []Row{(&cloud{notes: &notes}).embeddedListScaling(ctx, o.big, o.small, o.mine, o.listRuns)}
	}

	var table []Row
	for _, id := range []string{"1", "1c", "2", "3", "4", "4b", "5", "5b", "6", "7", "8"} {
		table = append(table, rows[id]...)
	}
	if err := Render(os.Stdout, table); err != nil {
		return 1
	}
	fmt.Println()
	for _, n := range notes {
		fmt.Println("  " + n)
	}
	fmt.Printf("  load average at the end: %s; took %s\n", loadAvg(), time.Since(began).Round(time.Second))
	for _, r := range table {
		if r.Err != nil {
			return 1
		}
	}
	return 0
}

// machine describes where the numbers come from.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("machine: nproc %d, %s, %s %s/%s; load average at start: %s",
		runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH, loadAvg())
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
