// Command smserver runs the in-memory Secret Manager from
// shared/secret/smserver as a standalone process, so CI can point
// SECRETMANAGER_EMULATOR_HOST at it and exercise the real client over a real
// socket.
//
//	go run ./scripts/smserver -addr 127.0.0.1:0
//
// It prints exactly one line, "listening on HOST:PORT", to stdout once the
// port is bound (so a caller can wait for it and learn a port chosen by the
// kernel), then serves until SIGINT or SIGTERM.
//
// Signal the server process itself: "go run" does not pass SIGTERM on to the
// program it started, so killing the go command leaves the server running.
// In CI, build it first (go build -o smserver ./scripts/smserver) and run
// the binary, or signal the whole process group.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"connectors.dev/connectors/shared/secret/smserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "TCP address to listen on; port 0 picks a free port")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("smserver: ")

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := smserver.New()

	// The signal handler is installed before announcing the address so that
	// a caller which stops us right after reading the line is honoured.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	// os.Stdout is unbuffered, so this line is visible to a reading pipe as
	// soon as Fprintf returns.
	if _, err := fmt.Fprintf(os.Stdout, "listening on %s\n", lis.Addr()); err != nil {
		log.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	select {
	case sig := <-sigs:
		log.Printf("%v: stopping", sig)
		srv.Stop()
		<-done
	case err := <-done:
		if err != nil {
			log.Fatal(err)
		}
	}
}
