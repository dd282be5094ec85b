package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
)

// wire is one interface the lab captures with --pcap: the pcap file is
// PCAPDIR/SCENARIO-VARIANT-NAME.pcap.
type wire struct {
	ns   *testbed.NS
	dev  string
	name string // e.g. "p1" (member m1's switch side), "lb-in", "vm"
}

// pcapPath is the file a wire of the current variant is written to.
func (e *env) pcapPath(name string) string {
	return filepath.Join(e.pcapDir, e.pcapBase+"-"+name+".pcap")
}

// capture starts tcpdump on every wire when --pcap is given, and waits
// until each one listens, so that the variant's traffic is all in the
// files. tcpdump stops (and completes its file) when the env closes.
func (e *env) capture(ctx context.Context, wires ...wire) error {
	if e.pcapDir == "" {
		return nil
	}
	if _, err := exec.LookPath("tcpdump"); err != nil {
		return fmt.Errorf("--pcap needs tcpdump on PATH: %w", err)
	}
	if err := os.MkdirAll(e.pcapDir, 0o755); err != nil {
		return fmt.Errorf("--pcap: %w", err)
	}
	var procs []*testbed.Proc
	for _, w := range wires {
		if w.ns == nil {
			continue
		}
		// --immediate-mode hands each frame over at once (not when a
		// ring block retires, which a stop could lose), -U writes it
		// at once; -Z root keeps the file
		// owned by the user who ran the lab (root), in the directory
		// it chose.
		p, err := e.Start(w.ns, "tcpdump-"+w.name, nil, "tcpdump", "-i", w.dev, "-n", "-U", "--immediate-mode", "-Z", "root", "-w", e.pcapPath(w.name))
		if err != nil {
			return fmt.Errorf("capture %s: %w", w.name, err)
		}
		procs = append(procs, p)
	}
	return testbed.WaitFor(ctx, 10*time.Second, func() error {
		for _, p := range procs {
			if p.Exited() {
				return testbed.GiveUp(fmt.Errorf("tcpdump (%s) exited: %s", p.Name, p.LogTail(3)))
			}
			if !strings.Contains(p.Output(), "listening on") {
				return fmt.Errorf("tcpdump (%s) not listening yet", p.Name)
			}
		}
		return nil
	})
}
