// Command kem-bench measures kemtcp next to crypto/tls on this machine; see
// `kem-bench -h` and the README's "Benchmarks" section. The logic lives in
// package bench.
package main

import (
	"os"

	"github.com/kemtcp/kemtcp/app/bench"
)

func main() {
	os.Exit(bench.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
