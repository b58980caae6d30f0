// Package emulator starts the Firestore emulator (and, for the events'
// tests, the Pub/Sub one: pubsub.go) for tests: the one named
// by FIRESTORE_EMULATOR_HOST, or one it runs on a free loopback port (from
// the gcloud SDK) and stops afterwards. It imports nothing of the product,
// so any package's tests can use it, the Firestore store's own included.
package emulator

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// FirestoreEnv names a running emulator.
const FirestoreEnv = "FIRESTORE_EMULATOR_HOST"

// emulatorStartTimeout allows for a JVM starting on a loaded machine.
const emulatorStartTimeout = 90 * time.Second

// Main runs a package's tests with the Firestore emulator available:
// FIRESTORE_EMULATOR_HOST when set, else one it starts and stops. Call it
// from TestMain: func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }.
func Main(m *testing.M) int {
	if os.Getenv(FirestoreEnv) != "" {
		return m.Run()
	}
	_, stop, err := Start()
	if errors.Is(err, exec.ErrNotFound) {
		// No gcloud: NeedFirestore reports it per test (fatal under CI).
		return m.Run()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start Firestore emulator: %v\n", err)
		return 1
	}
	defer stop()
	return m.Run()
}

// Start runs an emulator from the gcloud SDK on a free loopback port, waits
// until it answers, sets FIRESTORE_EMULATOR_HOST to it and returns its
// address and a stop function, which kills the emulator's process group (by
// PID) and unsets the variable. Without gcloud on PATH the error wraps
// exec.ErrNotFound. Programs (scripts/bench) use it as Main does.
func Start() (hostPort string, stop func(), err error) {
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return "", nil, fmt.Errorf("emulator: %w", err)
	}
	return start(gcloud, FirestoreEnv, "emulators", "firestore", "start")
}

// NeedFirestore skips the test when no emulator is available, except under
// CI=true, where a missing server must fail rather than pass silently.
func NeedFirestore(t testing.TB) {
	t.Helper()
	need(t, FirestoreEnv, "no Firestore emulator: FIRESTORE_EMULATOR_HOST is unset and gcloud is not on PATH "+
		"(install the Google Cloud SDK's cloud-firestore-emulator component and Java)")
}

// need skips the test when env names no server, except under CI=true,
// where a missing server must fail rather than pass silently.
func need(t testing.TB, env, msg string) {
	t.Helper()
	if os.Getenv(env) != "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// start runs the emulator gcloud args name on a free loopback port in its
// own process group (gcloud starts a JVM child; killing the group stops
// both), waits until it answers and sets env to its address.
func start(gcloud, env string, args ...string) (hostPort string, stop func(), err error) {
	port, err := FreePort()
	if err != nil {
		return "", nil, err
	}
	hostPort = fmt.Sprintf("127.0.0.1:%d", port)
	logFile, err := os.CreateTemp("", "emulator-*.log")
	if err != nil {
		return "", nil, fmt.Errorf("emulator log: %w", err)
	}
	cmd := exec.Command(gcloud, append(args, "--host-port="+hostPort)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		_ = os.Remove(logFile.Name())
		return "", nil, fmt.Errorf("start emulator: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	kill := func() {
		// TERM the whole group so the JVM exits cleanly; KILL if it does not.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = logFile.Close()
		_ = os.Remove(logFile.Name())
	}
	if err := waitHTTP(hostPort, exited); err != nil {
		out, _ := os.ReadFile(logFile.Name())
		kill()
		return "", nil, fmt.Errorf("emulator on %s: %w\nemulator output:\n%s", hostPort, err, out)
	}
	// An interrupted test run must not leave a JVM behind.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			kill()
			fmt.Fprintf(os.Stderr, "testenv: stopped the %s emulator on %v\n", env, sig)
			os.Exit(1)
		case <-done:
		}
	}()
	if err := os.Setenv(env, hostPort); err != nil {
		kill()
		return "", nil, err
	}
	return hostPort, func() {
		signal.Stop(sigs)
		close(done)
		kill()
		_ = os.Unsetenv(env)
	}, nil
}

// FreePort asks the kernel for an unused loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	return port, nil
}

// waitHTTP polls the emulator until it answers 200, exits, or times out.
func waitHTTP(hostPort string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(emulatorStartTimeout)
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + hostPort + "/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("emulator exited before it was ready")
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready after %s", emulatorStartTimeout)
}
