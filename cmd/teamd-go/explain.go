package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/pcap"
	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/team/control"
)

const explainUsage = `usage: teamd-go ctl [-t TEAM] explain (--from-vnic NAME | --from-member NAME) [--json] FRAME
FRAME is one of
  --src-mac MAC --dst-mac MAC [--vlan ID] [--src-ip IP --dst-ip IP [--proto P] [--sport N] [--dport N]]
        P: tcp, udp, sctp, icmp, a number, or arp / arp-reply (an ARP packet from src to dst-ip)
  --hex HEX                  an Ethernet frame, hex digits (spaces and colons allowed)
  --pcap FILE [--index N]    frame N (from 0) of a pcap or pcapng capture of Ethernet
`

// ctlExplain parses explain's flags, builds the frame, asks the daemon
// and prints the answer.
func ctlExplain(args []string, call func(cmd string, a ...string) (json.RawMessage, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("teamd-go ctl explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, explainUsage) }
	vnic := fs.String("from-vnic", "", "the frame is sent by this vnic's VM (transmit)")
	member := fs.String("from-member", "", "the frame arrives from the switch on this member (receive)")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	hexFrame := fs.String("hex", "", "the Ethernet frame in hex")
	pcapFile := fs.String("pcap", "", "a capture file holding the frame")
	index := fs.Int("index", 0, "which frame of the capture (from 0)")
	srcMAC := fs.String("src-mac", "", "source MAC")
	dstMAC := fs.String("dst-mac", "", "destination MAC")
	vlan := fs.Uint("vlan", 0, "802.1Q VLAN ID (0: untagged)")
	srcIP := fs.String("src-ip", "", "source IPv4 or IPv6 address")
	dstIP := fs.String("dst-ip", "", "destination IPv4 or IPv6 address")
	proto := fs.String("proto", "", "tcp, udp, sctp, icmp, arp, arp-reply or an IP protocol number")
	sport := fs.Uint("sport", 0, "source port")
	dport := fs.Uint("dport", 0, "destination port")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "teamd-go ctl explain: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	var dir, port string
	switch {
	case *vnic != "" && *member == "":
		dir, port = team.Transmit, *vnic
	case *member != "" && *vnic == "":
		dir, port = team.Receive, *member
	default:
		return fail("give exactly one of --from-vnic NAME (transmit) and --from-member NAME (receive)")
	}
	described := *srcMAC != "" || *dstMAC != "" || *vlan != 0 || *srcIP != "" || *dstIP != "" || *proto != "" || *sport != 0 || *dport != 0
	var eth []byte
	var err error
	switch {
	case (*hexFrame != "") && (*pcapFile != "" || described), *pcapFile != "" && described:
		return fail("give the frame one way: --hex, --pcap, or the --src-mac ... fields")
	case *hexFrame != "":
		clean := strings.NewReplacer(" ", "", ":", "", "\n", "", "\t", "").Replace(*hexFrame)
		if eth, err = hex.DecodeString(clean); err != nil {
			return fail("--hex: %v", err)
		}
	case *pcapFile != "":
		f, err := os.Open(*pcapFile)
		if err != nil {
			return fail("--pcap: %v", err)
		}
		eth, err = pcap.Read(f, *index)
		f.Close()
		if err != nil {
			return fail("--pcap %s: %v", *pcapFile, err)
		}
	case described:
		spec, err := frameSpec(*srcMAC, *dstMAC, *vlan, *srcIP, *dstIP, *proto, *sport, *dport)
		if err != nil {
			return fail("%v", err)
		}
		if eth, err = frame.Build(spec); err != nil {
			return fail("%v", err)
		}
	default:
		return fail("no frame: give --hex, --pcap, or --src-mac and --dst-mac")
	}
	// The frame travels as hex, cut to the control socket's argument size.
	req := []string{dir, port}
	for h := hex.EncodeToString(eth); len(h) > 0; {
		n := min(len(h), control.MaxArgLen)
		req, h = append(req, h[:n]), h[n:]
	}
	if len(req) > control.MaxArgs {
		return fail("a frame of %d bytes is too long to explain (at most %d)", len(eth), (control.MaxArgs-2)*control.MaxArgLen/2)
	}
	res, ok := call("explain", req...)
	if !ok {
		return 1
	}
	if *asJSON {
		var buf bytes.Buffer
		_ = json.Indent(&buf, res, "", "  ")
		fmt.Fprintln(stdout, buf.String())
		return 0
	}
	var e team.Explanation
	if err := json.Unmarshal(res, &e); err != nil {
		fmt.Fprintln(stderr, "teamd-go ctl explain: decode:", err)
		return 1
	}
	printExplanation(stdout, &e)
	return 0
}

func frameSpec(srcMAC, dstMAC string, vlan uint, srcIP, dstIP, proto string, sport, dport uint) (frame.Spec, error) {
	var s frame.Spec
	var err error
	if srcMAC == "" || dstMAC == "" {
		return s, errors.New("a described frame needs --src-mac and --dst-mac")
	}
	if s.Src, err = frame.ParseMAC(srcMAC); err != nil {
		return s, fmt.Errorf("--src-mac %q: %v", srcMAC, err)
	}
	if s.Dst, err = frame.ParseMAC(dstMAC); err != nil {
		return s, fmt.Errorf("--dst-mac %q: %v", dstMAC, err)
	}
	if vlan > 4094 {
		return s, fmt.Errorf("--vlan %d: VLAN IDs are 1-4094", vlan)
	}
	s.VLAN = uint16(vlan)
	if srcIP != "" {
		if s.SrcIP, err = netip.ParseAddr(srcIP); err != nil {
			return s, fmt.Errorf("--src-ip: %v", err)
		}
	}
	if dstIP != "" {
		if s.DstIP, err = netip.ParseAddr(dstIP); err != nil {
			return s, fmt.Errorf("--dst-ip: %v", err)
		}
	}
	switch p := strings.ToLower(proto); p {
	case "":
	case "tcp":
		s.Proto = frame.ProtoTCP
	case "udp":
		s.Proto = frame.ProtoUDP
	case "sctp":
		s.Proto = frame.ProtoSCTP
	case "icmp":
		s.Proto = frame.ProtoICMP
		if s.SrcIP.Is6() && !s.SrcIP.Is4In6() {
			s.Proto = frame.ProtoICMPv6
		}
	case "arp":
		s.ARP = 1
	case "arp-reply":
		s.ARP = 2
	default:
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return s, fmt.Errorf("--proto %q: tcp, udp, sctp, icmp, arp, arp-reply or a number 0-255", proto)
		}
		s.Proto = uint8(n)
	}
	if sport > 65535 || dport > 65535 {
		return s, errors.New("--sport and --dport are 0-65535")
	}
	s.SrcPort, s.DstPort = uint16(sport), uint16(dport)
	return s, nil
}

// printExplanation prints an Explanation for people: the frame, the
// decisions in the data path's order, and the verdict.
func printExplanation(w io.Writer, e *team.Explanation) {
	from := "vnic"
	if e.Direction == team.Receive {
		from = "member"
	}
	fmt.Fprintf(w, "%s from %s %s (mode %s, balance %s)\n", e.Direction, from, e.Port, e.Mode, e.Balance)
	f := e.Frame
	fmt.Fprintf(w, "frame: %s > %s", f.Src, f.Dst)
	if f.VLAN != 0 {
		fmt.Fprintf(w, " vlan %d", f.VLAN)
	}
	fmt.Fprintf(w, " ethertype %s", f.EtherType)
	if f.SrcIP != "" {
		fmt.Fprintf(w, " %s > %s proto %d", f.SrcIP, f.DstIP, f.Proto)
		if f.SrcPort != 0 || f.DstPort != 0 {
			fmt.Fprintf(w, " ports %d > %d", f.SrcPort, f.DstPort)
		}
	}
	fmt.Fprintf(w, ", %d bytes\n", f.Len)
	for _, s := range e.Steps {
		fmt.Fprintf(w, "  - %s\n", s)
	}
	if fl := e.Flowlet; fl != nil && len(fl.Loads) > 0 {
		names := slices.Sorted(maps.Keys(fl.Loads))
		fmt.Fprint(w, "  - member loads (decayed bytes):")
		for _, n := range names {
			fmt.Fprintf(w, " %s %.0f", n, fl.Loads[n])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "verdict: %s", e.Verdict)
	switch {
	case e.Verdict == team.VerdictSent:
		fmt.Fprintf(w, " on %s", e.Member)
		if e.SourceMAC != nil && e.SourceMAC.Rewritten {
			fmt.Fprintf(w, ", source MAC %s -> %s", e.SourceMAC.From, e.SourceMAC.To)
		}
		if len(e.VNICs) > 0 {
			fmt.Fprintf(w, ", and to vnics %s", strings.Join(e.VNICs, " "))
		}
	case len(e.VNICs) > 0:
		fmt.Fprintf(w, " to vnics %s", strings.Join(e.VNICs, " "))
	}
	if e.Counter != "" {
		fmt.Fprintf(w, " (counter %s)", e.Counter)
	}
	fmt.Fprintln(w)
}
