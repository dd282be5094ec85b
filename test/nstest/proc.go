package nstest

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// Proc is a long-lived process started in a namespace.
type Proc struct {
	name string
	out  syncBuffer
	done chan struct{}
	p    *os.Process
}

// StartProc runs name in the namespace until the test ends (SIGINT, then
// SIGKILL after 5 s). Its output is kept, and logged if the test fails.
func (ns *NS) StartProc(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	cmd := ns.Cmd(name, args...)
	pr := &Proc{name: name, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &pr.out, &pr.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	pr.p = cmd.Process
	go func() { _ = cmd.Wait(); close(pr.done) }()
	t.Cleanup(func() {
		if !pr.Exited() {
			_ = pr.p.Signal(os.Interrupt)
			if pr.Wait(5*time.Second) != nil {
				_ = pr.p.Kill()
				<-pr.done
			}
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, pr.out.String())
		}
	})
	return pr
}

// Output returns what the process printed so far.
func (p *Proc) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.p.Signal(sig) }

// Wait waits for the process to end.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.name, timeout)
	}
}
