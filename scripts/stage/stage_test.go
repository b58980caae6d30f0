package main

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/logging/logtest"
)

// The buildpack's names: the function source moves into fnSourceDir, and
// the generated main package goes into fnSourceDir/appModule.
const (
	fnSourceDir = "serverless_function_source_code"
	appModule   = "functions.local/app"
)

// mainTemplate is the Go buildpack's declarative main.go (used when the
// root package imports the framework's functions package); %q is the
// module path.
const mainTemplate = `// Binary main file implements an HTTP server that loads and runs user's code
// on incoming HTTP requests.
package main

import (
	"log"
	"net/http"
	"os"

	_ %q

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

func main() {
	http.HandleFunc("/robots.txt", http.NotFound)
	http.HandleFunc("/favicon.ico", http.NotFound)

	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.Start(port); err != nil {
		log.Fatalf("Function failed to start: %%v\n", err)
	}
}
`

func TestStageIsDeterministicAndMinimal(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	ma, err := Stage(".", a, DefaultGroups)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := Stage(".", b, DefaultGroups)
	if err != nil {
		t.Fatal(err)
	}
	if got := ma.GroupNames(); !slices.Equal(got, sortedCopy(DefaultGroups)) {
		t.Fatalf("staged groups %v, want %v", got, DefaultGroups)
	}
	for _, name := range ma.GroupNames() {
		ga, gb := ma.Groups[name], mb.Groups[name]
		if ga.SHA256 != gb.SHA256 {
			t.Errorf("%s: staging twice gave archives %s and %s", name, ga.SHA256, gb.SHA256)
		}
		if ga.Object != name+"-"+ga.SHA256+".zip" {
			t.Errorf("%s: object %q is not named by the archive hash", name, ga.Object)
		}
		if len(ga.Functions) == 0 {
			t.Errorf("%s: no functions found", name)
		}
		for _, p := range ga.Packages {
			// The local run's backends and test helpers (…test, …servers)
			// have no business in a deployed function.
			last := p[strings.LastIndex(p, "/")+1:]
			if strings.HasSuffix(last, "test") || strings.HasSuffix(last, "servers") ||
				slices.Contains([]string{"devserver", "testenv", "boltstore", "localfile", "smserver", "emulator"}, last) {
				t.Errorf("%s: stages %s, which production must not import", name, p)
			}
		}
		zr, err := zip.OpenReader(filepath.Join(a, ga.Zip))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
			if strings.HasSuffix(f.Name, "_test.go") {
				t.Errorf("%s: archive holds test file %s", name, f.Name)
			}
			if !f.Modified.Equal(zipTime) {
				t.Errorf("%s: %s has time %v", name, f.Name, f.Modified)
			}
		}
		zr.Close()
		for _, want := range []string{"go.mod", "go.sum", RootFile} {
			if !slices.Contains(names, want) {
				t.Errorf("%s: archive lacks %s", name, want)
			}
		}
		if !slices.IsSorted(names) {
			t.Errorf("%s: archive entries are not sorted", name)
		}
	}
	// The list/get functions ship in the connectors group, which must not
	// need the local backends either; and groups are independent.
	if ma.Groups["token"] != nil && slices.Contains(ma.Groups["token"].Packages, ma.Module+"/functions/connectors") {
		t.Error("the token group stages the admin functions")
	}
	// connectors-test, which mints, is staged apart from the catalog
	// functions, which do not.
	if ma.Groups["connectors"] != nil && slices.Contains(ma.Groups["connectors"].Packages, ma.Module+"/functions/probe") {
		t.Error("the connectors group stages connectors-test (functions/probe)")
	}
}

// TestRegisteredFunctionsAreFound: the default groups register every
// function terraform/main.tf deploys, each in its own group.
func TestRegisteredFunctionsAreFound(t *testing.T) {
	m, err := Stage(".", t.TempDir(), DefaultGroups)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"connectors":  {"connectors-create", "connectors-delete", "connectors-get", "connectors-list", "connectors-update"},
		"probe":       {"connectors-test"},
		"connect":     {"connectors-authorize", "oauth-callback"},
		"token":       {"token"},
		"proxy":       {"proxy"},
		"files":       {"files"},
		"mcp":         {"mcp"},
		"console":     {"console"},
		"maintenance": {"maintenance"},
	}
	for g, fns := range want {
		if m.Groups[g] == nil {
			t.Errorf("group %s is not staged by default", g)
			continue
		}
		if got := m.Groups[g].Functions; !slices.Equal(got, fns) {
			t.Errorf("%s registers %v, want %v", g, got, fns)
		}
	}
	if len(m.Groups) != len(want) {
		t.Errorf("staged groups %v, want those of %v", m.GroupNames(), want)
	}
}

// TestProxyIsItsOwnGroup: proxy links all that token links plus the
// forwarding (shared/proxy); staged apart (docs/performance.md, "Function
// groups"), token's binary does not carry the forwarding, and neither
// group carries the other's function.
func TestProxyIsItsOwnGroup(t *testing.T) {
	m, err := Stage(".", t.TempDir(), []string{"token", "proxy"})
	if err != nil {
		t.Fatal(err)
	}
	tok, px := m.Groups["token"], m.Groups["proxy"]
	if !slices.Contains(DefaultGroups, "proxy") {
		t.Error("DefaultGroups does not stage proxy")
	}
	for _, c := range []struct {
		g       *Group
		name    string
		without []string
	}{
		{tok, "token", []string{"/shared/proxy", "/functions/proxy"}},
		{px, "proxy", []string{"/functions/token"}},
	} {
		for _, p := range c.without {
			if slices.Contains(c.g.Packages, m.Module+p) {
				t.Errorf("the %s group stages %s", c.name, m.Module+p)
			}
		}
	}
	if !slices.Contains(px.Packages, m.Module+"/shared/mint") {
		t.Errorf("the proxy group does not stage the minting service: %v", px.Packages)
	}
}

func TestStageRefusesUnknownGroups(t *testing.T) {
	for _, g := range []string{"nope", "Bad_Name", "../shared"} {
		if _, err := Stage(".", t.TempDir(), []string{g}); err == nil {
			t.Errorf("group %q staged", g)
		}
	}
}

// TestStagedGroupsBuildLikeTheBuildpack unpacks every staged archive into
// the layout the Go buildpack makes (the source under
// serverless_function_source_code, its generated main package in
// functions.local/app inside it), runs the buildpack's go mod tidy and go
// build, and starts the binary once per function with FUNCTION_TARGET set:
// without GOOGLE_CLOUD_PROJECT the registered handler answers 503 with a
// JSON error (the console, which needs no backend, answers itself), which
// shows the target was found and routed. An unknown
// target must make the server fail to start.
func TestStagedGroupsBuildLikeTheBuildpack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function group")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("the go command is needed: ", err)
	}
	out := t.TempDir()
	m, err := Stage(".", out, DefaultGroups)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range m.GroupNames() {
		g := m.Groups[name]
		t.Run(name, func(t *testing.T) {
			app := t.TempDir()
			src := filepath.Join(app, fnSourceDir)
			unzip(t, filepath.Join(out, g.Zip), src)
			mainDir := filepath.Join(src, filepath.FromSlash(appModule))
			if err := os.MkdirAll(mainDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mainDir, "main.go"), fmt.Appendf(nil, mainTemplate, m.Module), 0o644); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(app, "main")
			run(t, src, "go", "mod", "tidy")
			run(t, src, "go", "build", "-o", bin, "./"+appModule)

			for _, fn := range g.Functions {
				status, body := serveOnce(t, bin, fn)
				var e struct {
					Error struct{ Code, Message string }
				}
				// Without GOOGLE_CLOUD_PROJECT a function that needs the
				// backends cannot build: 503. The console needs none and
				// serves: its own answer to serveOnce's POST is 405.
				wantStatus, wantCode := http.StatusServiceUnavailable, "unavailable"
				if fn == "console" {
					wantStatus, wantCode = http.StatusMethodNotAllowed, "invalid_argument"
				}
				if status != wantStatus || json.Unmarshal(body, &e) != nil || e.Error.Code != wantCode {
					t.Errorf("%s: got %d %s, want %d with a JSON error of code %s", fn, status, body, wantStatus, wantCode)
				}
			}
			if err := startFails(t, bin, "no-such-function"); err != nil {
				t.Error(err)
			}
		})
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func unzip(t *testing.T, archive, dst string) {
	t.Helper()
	zr, err := zip.OpenReader(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		p := filepath.Join(dst, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(p, dst+string(filepath.Separator)) {
			t.Fatalf("archive entry %q escapes", f.Name)
		}
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		// The buildpack needs go.mod writable; so does go mod tidy.
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// buildEnv is the environment of the go commands and of the servers:
// nothing of the deployment's configuration, so the functions cannot reach
// a backend.
func buildEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "GOOGLE_CLOUD_PROJECT" || k == "FUNCTION_TARGET" || k == "PORT" || k == "GOFLAGS" ||
			strings.HasPrefix(k, "CONNECTORS_") || strings.HasSuffix(k, "_EMULATOR_HOST") {
			continue
		}
		env = append(env, kv)
	}
	// The buildpack lets go.mod be updated (go mod tidy writes it).
	return append(env, append([]string{"GOFLAGS=-mod=mod"}, extra...)...)
}

func run(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = buildEnv()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// server is one started function binary.
type server struct {
	cmd    *exec.Cmd
	output logtest.Buffer
	exited chan error
}

func start(t *testing.T, bin, target, port string) *server {
	t.Helper()
	s := &server{exited: make(chan error, 1)}
	s.cmd = exec.Command(bin)
	s.cmd.Env = buildEnv("FUNCTION_TARGET="+target, "PORT="+port)
	s.cmd.Stdout = &s.output
	s.cmd.Stderr = &s.output
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	pid := s.cmd.Process.Pid
	t.Cleanup(func() {
		// Stop this process by its PID, and reap it.
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("process %d did not exit", pid)
		}
	})
	return s
}

// serveOnce starts bin for target, POSTs an empty JSON object to it and
// returns the answer.
func serveOnce(t *testing.T, bin, target string) (int, []byte) {
	t.Helper()
	port := freePort(t)
	s := start(t, bin, target, port)
	url := "http://127.0.0.1:" + port + "/"
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Post(url, "application/json", strings.NewReader("{}"))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, body
		}
		select {
		case werr := <-s.exited:
			s.exited <- werr // for the cleanup
			t.Fatalf("%s exited before answering (%v):\n%s", target, werr, s.output.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer on %s: %v\n%s", target, url, err, s.output.String())
		}
	}
}

// startFails checks that bin refuses to serve an unregistered target.
func startFails(t *testing.T, bin, target string) error {
	t.Helper()
	s := start(t, bin, target, freePort(t))
	select {
	case err := <-s.exited:
		s.exited <- err
		if err == nil {
			return fmt.Errorf("target %s: the server exited cleanly, want a failure", target)
		}
		if !strings.Contains(s.output.String(), target) {
			return fmt.Errorf("target %s: failure does not name it:\n%s", target, s.output.String())
		}
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("target %s: the server started for a function nobody registered", target)
	}
}
