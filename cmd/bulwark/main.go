// Command bulwark is the Bulwark AI gateway. See internal/cli.
package main

import (
	"fmt"
	"os"

	"github.com/bulwarkhq/bulwark/internal/cli"
	"github.com/bulwarkhq/bulwark/internal/sysmon"
)

func main() {
	// Before anything is read or opened: serve restarts itself once with
	// the runtime setting it runs best under (see internal/sysmon).
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := sysmon.Reexec(); err != nil {
			_, _ = fmt.Fprintf(os.Stderr, "bulwark: warning: %v; going on with the Go runtime's default\n", err)
		}
	}
	os.Exit(cli.Main(os.Args[1:]))
}
