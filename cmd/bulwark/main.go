// Command bulwark is the Bulwark AI gateway. See internal/cli.
package main

import (
	"os"

	"github.com/bulwarkhq/bulwark/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
