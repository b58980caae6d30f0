package emulator

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// PubSubEnv names a running Pub/Sub emulator; the Pub/Sub client library
// reads it.
const PubSubEnv = "PUBSUB_EMULATOR_HOST"

// MainPubSub runs a package's tests with the Firestore and the Pub/Sub
// emulators available: each one named by its variable, else one it starts
// on a free loopback port and stops (by its process group) afterwards.
func MainPubSub(m *testing.M) int {
	if os.Getenv(PubSubEnv) == "" {
		_, stop, err := StartPubSub()
		switch {
		case errors.Is(err, exec.ErrNotFound):
			// NeedPubSub reports it per test (fatal under CI).
		case err != nil:
			fmt.Fprintf(os.Stderr, "FAIL: start Pub/Sub emulator: %v\n", err)
			return 1
		default:
			defer stop()
		}
	}
	return Main(m)
}

// StartPubSub runs the gcloud SDK's Pub/Sub emulator (a beta command) on a
// free loopback port, waits until it answers, sets PUBSUB_EMULATOR_HOST and
// returns its address and a stop function, as Start does for Firestore.
func StartPubSub() (hostPort string, stop func(), err error) {
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return "", nil, fmt.Errorf("emulator: %w", err)
	}
	return start(gcloud, PubSubEnv, "beta", "emulators", "pubsub", "start")
}

// NeedPubSub skips the test when no Pub/Sub emulator is available, except
// under CI=true, where it fails.
func NeedPubSub(t testing.TB) {
	t.Helper()
	need(t, PubSubEnv, "no Pub/Sub emulator: PUBSUB_EMULATOR_HOST is unset and gcloud is not on PATH "+
		"(install the Google Cloud SDK's pubsub-emulator and beta components and Java)")
}
