package testenv

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectors.dev/connectors/shared/logging/logtest"
)

// BuildDevserver builds functions/devserver (without the race detector:
// tests that start it measure or drive it as a separate process) into a
// temporary directory and returns the binary's path; any failure fails t.
func BuildDevserver(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the local run: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "devserver")
	if out, err := exec.Command(goTool, "build", "-o", bin, "connectors.dev/connectors/functions/devserver").CombinedOutput(); err != nil {
		t.Fatalf("build the local run: %v\n%s", err, out)
	}
	return bin
}

// Devserver is a local run started by StartDevserver.
type Devserver struct {
	Addr   string // the base URL its "devserver listening" line names
	Pid    int
	Output *logtest.Buffer // what it printed, stdout and stderr
}

// StartDevserver builds the local run and starts it with args and env (its
// whole environment), and waits, a minute at most, for its listening line.
// It is stopped when t ends: SIGTERM, and if it has not exited 10 seconds
// later it is killed and t fails.
func StartDevserver(t testing.TB, args, env []string) *Devserver {
	t.Helper()
	cmd := exec.Command(BuildDevserver(t), args...)
	cmd.Env = env
	d := &Devserver{Output: &logtest.Buffer{}}
	cmd.Stdout, cmd.Stderr = d.Output, d.Output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the local run: %v", err)
	}
	d.Pid = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("the local run did not stop on SIGTERM")
		}
	})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("the local run exited (%v):\n%s", err, d.Output.String())
		default:
		}
		if d.Addr = listeningAddr(d.Output.String()); d.Addr != "" {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("the local run did not start:\n%s", d.Output.String())
		}
	}
}

// listeningAddr is the addr of the first "devserver listening" log line in
// out, or "".
func listeningAddr(out string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line struct{ Message, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "devserver listening" {
			return line.Addr
		}
	}
	return ""
}
