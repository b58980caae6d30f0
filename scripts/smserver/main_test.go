package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// runMainEnv makes the test binary act as the command, so the test exercises
// the real main (flags, output, signals) without invoking the go tool.
const runMainEnv = "SMSERVER_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestServesUntilSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // no-op once it has exited

	lines := make(chan string, 1)
	out := bufio.NewReader(stdout)
	go func() {
		line, _ := out.ReadString('\n')
		lines <- line
	}()
	var addr string
	select {
	case line := <-lines:
		var ok bool
		addr, ok = strings.CutPrefix(strings.TrimSuffix(line, "\n"), "listening on ")
		if !ok || !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
			t.Fatalf("first line = %q, want \"listening on 127.0.0.1:PORT\"", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no listening line within 30s")
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := secretmanagerpb.NewSecretManagerServiceClient(conn)
	_, err = c.CreateSecret(t.Context(), &secretmanagerpb.CreateSecretRequest{
		Parent: "projects/p", SecretId: "s",
		Secret: &secretmanagerpb.Secret{Replication: &secretmanagerpb.Replication{
			Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}},
		}},
	})
	if err != nil {
		t.Fatalf("CreateSecret against the command: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	type exit struct {
		rest []byte
		err  error
	}
	done := make(chan exit, 1)
	go func() {
		rest, _ := io.ReadAll(out) // ends when the process closes stdout
		done <- exit{rest, cmd.Wait()}
	}()
	select {
	case e := <-done:
		if e.err != nil {
			t.Fatalf("exit after SIGTERM: %v", e.err)
		}
		if len(e.rest) != 0 {
			t.Errorf("unexpected further stdout: %q", e.rest)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after SIGTERM")
	}
}
