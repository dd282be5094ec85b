//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// cleanups is a stack of undo functions. A row unwinds to the depth it
// started at; a second Ctrl-C unwinds everything from the signal goroutine.
type cleanups struct {
	mu  sync.Mutex
	fns []func()
}

func (c *cleanups) push(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, fn)
}

func (c *cleanups) depth() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.fns)
}

// unwindTo runs, newest first, the functions pushed after depth n. Each
// runs once, even when two goroutines unwind at the same time.
func (c *cleanups) unwindTo(n int) {
	for {
		c.mu.Lock()
		if len(c.fns) <= n {
			c.mu.Unlock()
			return
		}
		fn := c.fns[len(c.fns)-1]
		c.fns = c.fns[:len(c.fns)-1]
		c.mu.Unlock()
		fn()
	}
}

// nsPrefix names everything of this run; removeStale recognises it.
var nsPrefix = fmt.Sprintf("tgbb%d-", os.Getpid())

var staleRE = regexp.MustCompile(`^tgbb(\d+)-`)

// removeStale deletes the namespaces (killing what runs in them) and
// temporary directories left by bench runs that no longer run.
func removeStale() {
	dead := func(name string) bool {
		m := staleRE.FindStringSubmatch(name)
		if m == nil {
			return false
		}
		pid, _ := strconv.Atoi(m[1])
		return pid != os.Getpid() && !processAlive(pid)
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && dead(f[0]) {
				logf("removing namespace %s left by an earlier run", f[0])
				_ = (&testbed.NS{Name: f[0]}).Remove(0)
			}
		}
	}
	// Control sockets of the sections' daemons (team tgbb<pid>), left
	// when a killed run's daemon was killed too.
	socks, _ := filepath.Glob("/run/teamd-go/tgbb*.sock")
	for _, sock := range socks {
		if base := strings.TrimSuffix(filepath.Base(sock), ".sock"); dead(base + "-") {
			logf("removing %s left by an earlier run", sock)
			_ = os.Remove(sock)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "tgbb*-*"))
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && st.IsDir() && dead(filepath.Base(d)) {
			logf("removing %s left by an earlier run", d)
			_ = os.RemoveAll(d)
		}
	}
}

func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// newNS creates namespace tgbb<pid>-role with lo up, deleted (and every
// process in it killed) at cleanup.
func newNS(cl *cleanups, role string) (*nstest.NS, error) {
	ns := &nstest.NS{NS: testbed.NS{Name: nsPrefix + role}}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	cl.push(ns.Delete)
	if _, err := ns.Run("ip", "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	return ns, nil
}

// veth creates a veth pair, aName in a and bName in b, both up, with the
// kernel's default offloads.
func veth(a *nstest.NS, aName string, b *nstest.NS, bName string) error {
	if _, err := a.Run("ip", "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name); err != nil {
		return err
	}
	if _, err := a.Run("ip", "link", "set", aName, "up"); err != nil {
		return err
	}
	_, err := b.Run("ip", "link", "set", bName, "up")
	return err
}

// host gives dev a fixed MAC and an address.
func host(ns *nstest.NS, dev, mac, cidr string) error {
	if _, err := ns.Run("ip", "link", "set", dev, "address", mac); err != nil {
		return err
	}
	_, err := ns.Run("ip", "addr", "add", cidr, "dev", dev)
	return err
}

// linuxBridge creates a Linux bridge over ports, all up.
func linuxBridge(ns *nstest.NS, br string, ports ...string) error {
	if _, err := ns.Run("ip", "link", "add", br, "type", "bridge"); err != nil {
		return err
	}
	for _, p := range ports {
		if _, err := ns.Run("ip", "link", "set", p, "master", br); err != nil {
			return err
		}
	}
	_, err := ns.Run("ip", "link", "set", br, "up")
	return err
}

// offloadsOff is what ovstest documents for interfaces that send into the
// Open vSwitch userspace datapath.
func offloadsOff(ns *nstest.NS, dev string) error {
	_, err := ns.Run("ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off")
	return err
}

// proc is a child process running in a namespace.
type proc struct {
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error // set before done closes
}

// startProc runs name in ns as a child in its own process group (Ctrl-C
// reaches only the bench, which stops children in order), killed if the
// bench dies. It is stopped at cleanup.
func startProc(cl *cleanups, ns *nstest.NS, name string, args ...string) (*proc, error) {
	p := &proc{cmd: ns.Cmd(name, args...), out: &tailBuffer{max: 8 << 10}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Wait returns even if a grandchild still holds the output pipe.
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s in %s: %w", name, ns.Name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	cl.push(func() { p.stop(syscall.SIGTERM) })
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process group (trafgen's workers are forked
// children that ignore their parent's signals), waits up to five seconds,
// then kills the group.
func (p *proc) stop(sig syscall.Signal) {
	pgid := -p.cmd.Process.Pid
	if p.exited() {
		_ = syscall.Kill(pgid, syscall.SIGKILL) // stragglers of the group
		return
	}
	_ = syscall.Kill(pgid, sig)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
}

// lastLine is the last non-empty line the process printed.
func (p *proc) lastLine() string {
	lines := strings.Split(strings.TrimSpace(p.out.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// reach checks that a TCP connection from the sender reaches a listener
// on the receiver, retrying until the timeout (ARP, learning, a daemon
// settling). It also teaches switches where both MACs are.
func reach(ctx context.Context, p *path, timeout time.Duration) error {
	var ln net.Listener
	if err := p.rcv.Do(func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(p.dstIP, "0"))
		return err
	}); err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("tgb\n"))
			_ = c.Close()
		}
	}()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		last = p.snd.Do(func() error {
			c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 4)
			_, err = c.Read(buf)
			return err
		})
		if last == nil {
			return nil
		}
		sleep(ctx, 200*time.Millisecond)
	}
	if last == nil {
		last = ctx.Err()
	}
	return fmt.Errorf("no TCP connection %s -> %s within %v: %w", p.srcIP, p.dstIP, timeout, last)
}

// sleep waits for d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func checkTools(names ...string) error {
	var errs []error
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			errs = append(errs, fmt.Errorf("needs %s on PATH", n))
		}
	}
	return errors.Join(errs...)
}
