package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"connectors.dev/connectors/shared/testenv/emulator"
)

// moduleRoot is the directory of the go.mod the go command is using.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the connectors module: run from the repository")
	}
	return filepath.Dir(gomod), nil
}

// build compiles pkg (relative to root) into dir/name.
func build(root, dir, name, pkg string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// server is a server binary running as a child process.
type server struct {
	name   string
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	out    *os.File
	exited chan struct{}
}

// startServer runs bin with the listen address appended as -addr.
func startServer(cpus cpuSplit, name, bin string, args []string, logDir string) (*server, time.Time, error) {
	port, err := emulator.FreePort()
	if err != nil {
		return nil, time.Time{}, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	out, err := os.CreateTemp(logDir, name+"-*.log")
	if err != nil {
		return nil, time.Time{}, err
	}
	cmd := cpus.command(bin, append(args, "-addr", addr)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = os.Environ()
	s := &server{name: name, cmd: cmd, base: "http://" + addr, out: out, exited: make(chan struct{})}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return nil, time.Time{}, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	return s, started, nil
}

// Stop sends SIGTERM to the process (by its PID) and waits for it to exit,
// killing it after 10 s.
func (s *server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	_ = s.out.Close()
}

// output is the tail of what the process printed, for error messages.
func (s *server) output() string {
	b, _ := os.ReadFile(s.out.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// waitOK polls until a request answers 200, polling every millisecond so
// that a start-up time can be read off it; it fails when the process exits
// or after timeout.
func (s *server) waitOK(method, path string, body []byte, timeout time.Duration) error {
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true},
		Timeout:   2 * time.Second,
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(context.Background(), method, s.base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%s exited before answering 200: %s", s.name, s.output())
		case <-time.After(time.Millisecond):
		}
	}
	return fmt.Errorf("%s: no 200 on %s within %s (last: %s): %s", s.name, path, timeout, last, s.output())
}

// peakRSS reads VmHWM, the resident set's high-water mark, of pid.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fields := strings.Fields(v) // "12345 kB"
			if len(fields) != 2 || fields[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmHWM line %q", sc.Text())
			}
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			return kb << 10, err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
