//go:build !linux

package testbed

import "os/exec"

// setLifetime does nothing: network namespaces exist only on Linux.
func setLifetime(*exec.Cmd, Lifetime) bool { return false }
