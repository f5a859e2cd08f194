// Command fakeupstream runs Bulwark's fake LLM upstream (internal/upstreamtest)
// as its own process, speaking the OpenAI and Anthropic wire formats, for the
// benchmark harness in bench/. It does not record requests, so memory stays
// flat under load. It listens on loopback only.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	flag.Parse()
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("fakeupstream: -listen must be a loopback address, got %q", *listen)
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", *listen)
	if err != nil {
		log.Fatalf("fakeupstream: %v", err)
	}
	_, _ = fmt.Fprintln(os.Stdout, ln.Addr().String())
	srv := &http.Server{Handler: upstreamtest.NewUnstarted(false).Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
