//go:build linux

package testbed

import (
	"os/exec"
	"syscall"
)

// setLifetime sets what Lifetime asks for and reports whether the process
// leads a group of its own.
func setLifetime(cmd *exec.Cmd, l Lifetime) bool {
	switch l {
	case Owned:
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		return true
	case Detached:
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return true
	}
	return false
}
