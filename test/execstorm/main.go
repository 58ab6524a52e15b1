// Command execstorm fork+execs a binary many times, as fast as it can, from
// a few parallel streams: the load the proc connector and audit sources are
// measured under (BENCHMARKS.md).
//
//	go run ./test/execstorm -n 6000 -streams 2 /bin/true
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ruled/ruled/test/e2e"
)

func main() {
	n := flag.Int("n", 6000, "execs in all")
	streams := flag.Int("streams", 2, "parallel fork+exec loops")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: execstorm [-n N] [-streams S] /abs/path/to/binary [args...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 || flag.Arg(0)[0] != '/' {
		flag.Usage()
		os.Exit(2)
	}
	d, err := e2e.ExecStorm(*n, *streams, flag.Args(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "execstorm:", err)
		os.Exit(1)
	}
	fmt.Printf("execstorm: pid %d, %d execs of %s from %d streams in %v (%.0f exec/s)\n",
		os.Getpid(), *n, flag.Arg(0), *streams, d.Round(1e6), float64(*n)/d.Seconds())
}
