//go:build !linux

// Command bench measures teamd-go against a veth pair, a Linux bridge and
// Open vSwitch; it needs Linux network namespaces.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench: needs Linux (network namespaces)")
	os.Exit(1)
}
