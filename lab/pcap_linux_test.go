//go:build linux

package lab_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/teamd-go/teamd-go/lab"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// tsharkFields reads a capture with tshark and returns the fields of the
// frames that match filter, one slice per frame.
func tsharkFields(t *testing.T, file, filter string, fields ...string) [][]string {
	t.Helper()
	args := []string{"-r", file, "-Y", filter, "-T", "fields"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command("tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			rows = append(rows, strings.Split(l, "\t"))
		}
	}
	return rows
}

// TestPcap: `lab --pcap DIR` writes one capture per variant and wire that
// tshark reads, and they show each bug frame by frame: auto-last-hop's
// rewritten source MAC and the reply to it that never reaches the VM;
// stale-mac's probes that reach the team and never the VM after it came
// back with a new MAC.
func TestPcap(t *testing.T) {
	requireLab(t)
	nstest.RequireTool(t, "tcpdump", "tshark")
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := lab.Main(withBackend("--variant", "si-dynamic,dynamic-mac-init", "--json", "--pcap", dir), &stdout, &stderr)
	t.Logf("lab output:\n%s\n%s", stderr.String(), stdout.String())
	if code != 0 {
		t.Fatalf("exit status %d", code)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	want := []string{
		"auto-last-hop-si-dynamic-lb-in.pcap", "auto-last-hop-si-dynamic-p1.pcap", "auto-last-hop-si-dynamic-p2.pcap", "auto-last-hop-si-dynamic-vm.pcap",
		"stale-mac-dynamic-mac-init-client.pcap", "stale-mac-dynamic-mac-init-pa1.pcap", "stale-mac-dynamic-mac-init-pa2.pcap", "stale-mac-dynamic-mac-init-vm.pcap",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("captures %v, want %v", names, want)
	}
	pc := func(name string) string { return filepath.Join(dir, name) }

	// auto-last-hop: the VM's SYNs leave on m2 with m2's MAC as source;
	// the load balancer answers to that MAC; those answers are not on
	// the VM's wire.
	const vmIP, m2MAC = "10.61.1.10", "02:00:00:61:01:02"
	rewritten := tsharkFields(t, pc("auto-last-hop-si-dynamic-p2.pcap"), "eth.src == "+m2MAC+" && ip.src == "+vmIP+" && tcp.flags.syn == 1", "tcp.srcport")
	replies := tsharkFields(t, pc("auto-last-hop-si-dynamic-p2.pcap"), "eth.dst == "+m2MAC+" && ip.dst == "+vmIP+" && tcp.flags.syn == 1 && tcp.flags.ack == 1", "tcp.dstport")
	if len(rewritten) == 0 || len(replies) == 0 {
		t.Fatalf("p2: %d SYNs from the VM with m2's MAC, %d SYN-ACKs to m2's MAC; want some of each", len(rewritten), len(replies))
	}
	atVM := map[string]bool{}
	for _, r := range tsharkFields(t, pc("auto-last-hop-si-dynamic-vm.pcap"), "ip.dst == "+vmIP+" && tcp.flags.syn == 1 && tcp.flags.ack == 1", "tcp.dstport") {
		atVM[r[0]] = true
	}
	for _, r := range replies {
		if atVM[r[0]] {
			t.Errorf("the SYN-ACK to m2's MAC for port %s reached the VM", r[0])
		}
	}
	t.Logf("auto-last-hop: %d SYNs left with m2's MAC, %d SYN-ACKs came back to it, none reached the VM", len(rewritten), len(replies))

	// stale-mac: the VM announces its new MAC; the client's probes reach
	// host A's member (to the team MAC) and none reaches the VM.
	const smVMIP, newMAC = "10.62.0.10", "02:00:00:62:00:0c"
	if a := tsharkFields(t, pc("stale-mac-dynamic-mac-init-vm.pcap"), "arp.src.hw_mac == "+newMAC, "arp.src.proto_ipv4"); len(a) == 0 || a[0][0] != smVMIP {
		t.Errorf("no ARP from the VM's new MAC on its wire: %v", a)
	}
	probes := tsharkFields(t, pc("stale-mac-dynamic-mac-init-pa1.pcap"), "icmp.type == 8 && ip.dst == "+smVMIP, "icmp.ident", "icmp.seq")
	if len(probes) < 20 {
		t.Fatalf("pa1: %d echo requests to the VM, want the 20 probes and more", len(probes))
	}
	last := probes[len(probes)-1][0] // the probes are the last ping run
	atVM2 := tsharkFields(t, pc("stale-mac-dynamic-mac-init-vm.pcap"), "icmp.type == 8 && icmp.ident == "+last, "icmp.seq")
	if len(atVM2) != 0 {
		t.Errorf("%d probes reached the VM's wire; the stale binding should have dropped all", len(atVM2))
	}
	if _, err := os.Stat(pc("stale-mac-dynamic-mac-init-client.pcap")); err != nil {
		t.Error(err)
	}
}
