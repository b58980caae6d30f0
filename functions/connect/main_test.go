package connect_test

import (
	"os"
	"testing"

	"connectors.dev/connectors/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
