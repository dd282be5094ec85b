//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Result is one row of the table and of the "rows" array of
// bench/results.json (see resultsFile), objects:
//
//	{"name":         row name: veth, linux-bridge, ovs-netdev, ovs-netdev-tso,
//	                 teamd-go-af_packet, teamd-go-xdp, and both with -vlan
//	                 (the VM on an access vnic of VLAN 10, members tagged)
//	 "pps_rx":       64-byte frames per second counted at the receiver
//	                 (rx_packets of its interfaces in the receiver namespace)
//	 "pps_tx":       frames per second the sender put on its link (tx_packets)
//	 "tcp_gbps":     iperf3 TCP throughput, sum received, Gbit/s
//	 "rtt_us_p50", "rtt_us_p99", "rtt_us_max":
//	                 round-trip time sender -> receiver -> sender at a low
//	                 rate (ping, -rtt-rate per second), microseconds
//	 "rtt_replies", "rtt_lost":
//	                 pings answered, and not answered within 1 s
//	 "rtt_cpu_pct":  the forwarding daemon's CPU (as idle_cpu_pct) during
//	                 the latency run: what its way of waiting costs
//	 "idle_cpu_pct": the forwarding daemon's CPU (teamd-go, ovs-vswitchd;
//	                 all threads, user+system) with no traffic, after the
//	                 traffic runs, percent of one core
//	 "rss_kb_idle":  the daemon's VmRSS at the end of the idle run
//	 "rss_kb_start", "rss_kb_end", "rss_kb_max":
//	                 the daemon's VmRSS during the memory run (teamd-go rows)
//	 "notes":        free text: setup, "flat", "not available: <reason>", errors}
//
// A value that was not measured is null.
type Result struct {
	Name       string   `json:"name"`
	PPSRx      *float64 `json:"pps_rx"`
	PPSTx      *float64 `json:"pps_tx"`
	TCPGbps    *float64 `json:"tcp_gbps"`
	RTTP50     *float64 `json:"rtt_us_p50"`
	RTTP99     *float64 `json:"rtt_us_p99"`
	RTTMax     *float64 `json:"rtt_us_max"`
	RTTReplies *int     `json:"rtt_replies"`
	RTTLost    *int     `json:"rtt_lost"`
	RTTCPUPct  *float64 `json:"rtt_cpu_pct"`
	IdleCPUPct *float64 `json:"idle_cpu_pct"`
	RSSKB      *int64   `json:"rss_kb_idle"`
	RSSKBStart *int64   `json:"rss_kb_start"`
	RSSKBEnd   *int64   `json:"rss_kb_end"`
	RSSKBMax   *int64   `json:"rss_kb_max"`
	Notes      string   `json:"notes"`
}

func (r *Result) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if r.Notes == "" {
		r.Notes = s
		return
	}
	r.Notes += "; " + s
}

func (r *Result) summary() string {
	return fmt.Sprintf("pps rx %s tx %s, tcp %s Gbit/s, rtt p50/p99 %s/%s us cpu %s%%, idle cpu %s%%, rss idle %s kB, run %s/%s/%s kB; %s",
		fmtPPS(r.PPSRx), fmtPPS(r.PPSTx), fmtFloat(r.TCPGbps, 2), fmtFloat(r.RTTP50, 0), fmtFloat(r.RTTP99, 0),
		fmtFloat(r.RTTCPUPct, 1), fmtFloat(r.IdleCPUPct, 2), fmtInt(r.RSSKB),
		fmtInt(r.RSSKBStart), fmtInt(r.RSSKBEnd), fmtInt(r.RSSKBMax), r.Notes)
}

func printTable(w io.Writer, results []Result) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROW\tPPS RX\tPPS TX\tTCP Gbit/s\tRTT us p50/p99\tRTT CPU %\tIDLE CPU %\tRSS kB idle\tRSS kB start/end/max\tNOTES")
	for _, r := range results {
		rss, lat := "-", "-"
		if r.RSSKBStart != nil {
			rss = fmt.Sprintf("%s/%s/%s", fmtInt(r.RSSKBStart), fmtInt(r.RSSKBEnd), fmtInt(r.RSSKBMax))
		}
		if r.RTTP50 != nil {
			lat = fmt.Sprintf("%s/%s", fmtFloat(r.RTTP50, 0), fmtFloat(r.RTTP99, 0))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, fmtPPS(r.PPSRx), fmtPPS(r.PPSTx), fmtFloat(r.TCPGbps, 2),
			lat, fmtFloat(r.RTTCPUPct, 1), fmtFloat(r.IdleCPUPct, 2), fmtInt(r.RSSKB), rss, r.Notes)
	}
	_ = tw.Flush()
}

// printRatios compares each teamd-go row with each Open vSwitch row.
func printRatios(w io.Writer, results []Result) {
	var teamd, ovs []Result
	for _, r := range results {
		switch {
		case strings.HasPrefix(r.Name, "teamd-go"):
			teamd = append(teamd, r)
		case strings.HasPrefix(r.Name, "ovs"):
			ovs = append(ovs, r)
		}
	}
	first := true
	for _, t := range teamd {
		for _, o := range ovs {
			pps, tcp := ratio(t.PPSRx, o.PPSRx), ratio(t.TCPGbps, o.TCPGbps)
			if pps == "" && tcp == "" {
				continue
			}
			if first {
				fmt.Fprintln(w)
				first = false
			}
			fmt.Fprintf(w, "%s / %s: pps %s, tcp %s\n", t.Name, o.Name, or(pps, "-"), or(tcp, "-"))
		}
	}
	// The cost of VLAN handling: each tagged row against its untagged one.
	for _, t := range teamd {
		base, ok := strings.CutSuffix(t.Name, "-vlan")
		if !ok {
			continue
		}
		for _, u := range teamd {
			if u.Name != base {
				continue
			}
			if pps, tcp := ratio(t.PPSRx, u.PPSRx), ratio(t.TCPGbps, u.TCPGbps); pps != "" || tcp != "" {
				fmt.Fprintf(w, "%s / %s (the cost of VLAN handling): pps %s, tcp %s\n", t.Name, u.Name, or(pps, "-"), or(tcp, "-"))
			}
		}
	}
}

func ratio(a, b *float64) string {
	if a == nil || b == nil || *b == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fx", *a / *b)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func fmtPPS(v *float64) string {
	switch {
	case v == nil:
		return "-"
	case *v >= 1e6:
		return fmt.Sprintf("%.2fM", *v/1e6)
	case *v >= 1e3:
		return fmt.Sprintf("%.1fk", *v/1e3)
	}
	return fmt.Sprintf("%.0f", *v)
}

func fmtFloat(v *float64, prec int) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, *v)
}

func fmtInt(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}
