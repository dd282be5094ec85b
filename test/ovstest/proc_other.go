//go:build !linux

package ovstest

import "os/exec"

// setProcAttr does nothing: network namespaces exist only on Linux.
func setProcAttr(*exec.Cmd) {}
