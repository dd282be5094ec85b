//go:build linux

package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
)

// rtt is what the latency probe measured: round-trip times in
// microseconds of the replies received, and how many requests got none.
type rtt struct {
	p50, p99, max float64
	replies, lost int
	// cpuPct is the daemon's CPU over the run, percent of one core
	// (-1: no daemon): what its way of waiting for frames costs.
	cpuPct float64
}

var pingTime = regexp.MustCompile(`time=([0-9.]+) ms`)

// measureRTT pings the receiver from the sender, o.rttRate requests per
// second for o.rttCount requests, and returns the percentiles of the
// round-trip times. ping (iputils) takes each reply's time from the
// kernel's receive timestamp (SO_TIMESTAMP), and the receiver's kernel
// answers in softirq, so neither end's scheduling is in the figure: it
// is what the path adds, both ways, plus two veth hops. At a rate this
// low every request finds the path idle: a forwarder that sleeps between
// frames pays its wakeup on each of the two crossings.
func measureRTT(ctx context.Context, o *options, p *path) (rtt, error) {
	interval := strconv.FormatFloat(1/float64(o.rttRate), 'f', 6, 64)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(o.rttCount/o.rttRate+10)*time.Second)
	defer cancel()
	var c0 time.Duration
	if p.daemonPid != 0 {
		var err error
		if c0, err = cpuTime(p.daemonPid); err != nil {
			return rtt{}, err
		}
	}
	t0 := time.Now()
	out, err := p.snd.Run(ctx, "ping", "-n", "-i", interval, "-c", strconv.Itoa(o.rttCount), "-W", "1", p.dstIP)
	if err != nil && ctx.Err() == nil && !strings.Contains(out, " received") {
		return rtt{}, err // ping exits 1 when a reply is missing: not an error here
	}
	cpu := -1.0
	if p.daemonPid != 0 {
		c1, err := cpuTime(p.daemonPid)
		if err != nil {
			return rtt{}, fmt.Errorf("daemon gone during the rtt run: %w", err)
		}
		cpu = 100 * (c1 - c0).Seconds() / time.Since(t0).Seconds()
	}
	var us []float64
	for _, m := range pingTime.FindAllStringSubmatch(out, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			us = append(us, math.Round(v*1e4)/10)
		}
	}
	if len(us) == 0 {
		return rtt{}, fmt.Errorf("ping %s: no reply: %s", p.dstIP, strings.TrimSpace(out))
	}
	slices.Sort(us)
	return rtt{p50: percentile(us, 50), p99: percentile(us, 99), max: us[len(us)-1],
		replies: len(us), lost: max(0, o.rttCount-len(us)), cpuPct: cpu}, nil
}

// percentile is the nearest-rank percentile q of sorted v.
func percentile(v []float64, q float64) float64 {
	i := int(math.Ceil(q/100*float64(len(v)))) - 1
	return v[min(max(i, 0), len(v)-1)]
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat
// (100 on every Linux architecture Go supports).
const clockTicks = 100

// cpuTime is the CPU time a process (all its threads) has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may hold spaces: state is
	// field 3, utime 14, stime 15 (proc(5)).
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// measureIdle waits a second for the last traffic to drain, then returns
// the share of one core (in percent) the daemon used over o.idle with no
// traffic at all, and its RSS at the end.
func measureIdle(ctx context.Context, o *options, pid int) (pct float64, rssKB int64, err error) {
	if !testbed.Sleep(ctx, time.Second) {
		return 0, 0, ctx.Err()
	}
	c0, err := cpuTime(pid)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	if !testbed.Sleep(ctx, o.idle) {
		return 0, 0, ctx.Err()
	}
	c1, err := cpuTime(pid)
	if err != nil {
		return 0, 0, fmt.Errorf("daemon gone during the idle run: %w", err)
	}
	if rssKB, err = rss(pid); err != nil {
		return 0, 0, err
	}
	return 100 * (c1 - c0).Seconds() / time.Since(t0).Seconds(), rssKB, nil
}
