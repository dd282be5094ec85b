//go:build linux

package main

import (
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
	"syscall"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
)

// runName names everything of this run (namespaces runName-ROLE, the
// sections' team, the temporary directory); removeStale recognises it.
var runName = fmt.Sprintf("tgbb%d", os.Getpid())

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
	if names, err := testbed.ListNS(); err == nil {
		for _, n := range names {
			if dead(n) {
				logf("removing namespace %s left by an earlier run", n)
				_ = (&testbed.NS{Name: n}).Remove(0)
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
		testbed.Sleep(ctx, 200*time.Millisecond)
	}
	if last == nil {
		last = ctx.Err()
	}
	return fmt.Errorf("no TCP connection %s -> %s within %v: %w", p.srcIP, p.dstIP, timeout, last)
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
