//go:build linux

package ovstest

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts a daemon in its own process group, so a Ctrl-C at the
// terminal reaches only the caller, which then stops the switch in order,
// and makes the kernel kill it if its parent dies without calling Stop
// (a test binary that panics or times out), so no switch outlives its
// user. Pdeathsig follows the thread that forked, not the process; Go only
// retires threads that exit while locked, which the callers here never do.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
