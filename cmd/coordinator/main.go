// Command coordinator runs prediction competitions: init scaffolds a
// workspace from a pack, doctor finds miswiring, dev runs everything locally,
// serve runs production workers. See `coordinator --help`.
package main

import (
	"os"

	"github.com/crunch-coordinator/coordinator/internal/cli"
)

func main() {
	os.Exit(cli.Execute(cli.NewFactory(), os.Args[1:]))
}
