//go:build linux

package main

import (
	"fmt"
	"math"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/internal/udpprobe"
)

// probe is the bench's udpprobe.Stream (see there) from the VM to the
// receiver, with what its sections read after finish: the lost sequence
// numbers, for placing each loss before, in or after the switch.
type probe struct {
	*udpprobe.Stream
	sent uint64   // set by finish
	lost []uint64 // set by finish
}

// ProbeCounts is what a probe measured.
type ProbeCounts struct {
	udpprobe.Counts
	// LossRuns are the first runs of lost sequence numbers, "a-b @t"
	// with t the scheduled send time of a in seconds since the start.
	LossRuns []string `json:"loss_runs"`
}

func (c ProbeCounts) String() string {
	return fmt.Sprintf("%d sent, %d lost, %d dup, %d reordered (max %d behind), %d send errors",
		c.Sent, c.Lost, c.Duplicated, c.Reordered, c.MaxDisplacement, c.SendErrors)
}

// openProbe opens both sockets for a stream of rate datagrams per second
// of size bytes (UDP payload); run starts it. Call finish.
func openProbe(snd *testbed.NS, srcIP string, rcv *testbed.NS, dstIP string, rate, size int) (*probe, error) {
	s, err := udpprobe.Open(snd, srcIP, rcv, dstIP, rate, size)
	if err != nil {
		return nil, err
	}
	return &probe{Stream: s}, nil
}

// run starts receiving and sending.
func (pr *probe) run() { pr.Start() }

// ports are the stream's UDP source and destination ports.
func (pr *probe) ports() (src, dst int) { return pr.Ports() }

// finish stops sending, waits until nothing more arrives for 300ms (what
// is still in rings and queues is not lost; 3s at most), closes the
// sockets and returns the counts.
func (pr *probe) finish() ProbeCounts {
	c := ProbeCounts{Counts: pr.Finish(300*time.Millisecond, 3*time.Second), LossRuns: []string{}}
	pr.Close()
	pr.sent, pr.lost = c.Sent, pr.Lost()
	for _, r := range udpprobe.Runs(pr.lost, maxLossRuns) {
		c.LossRuns = append(c.LossRuns, fmt.Sprintf("%d-%d @%.3fs", r[0], r[1], pr.ScheduledAt(r[0]).Seconds()))
	}
	return c
}

// maxLossRuns bounds ProbeCounts.LossRuns.
const maxLossRuns = 10

// lossSplit is a part of the stream: datagrams sent, and where the lost
// ones were lost: before the switch (never seen at its ports facing the
// members: in the VM's veth or the team), in the switch (seen there, never
// at the receiver's interface: Open vSwitch, its veth to the receiver) or
// at the receiver (seen on its interface, never read from the socket).
type lossSplit struct {
	Sent             uint64 `json:"sent"`
	LostBeforeSwitch uint64 `json:"lost_before_switch"`
	LostInSwitch     uint64 `json:"lost_in_switch"`
	LostAtReceiver   uint64 `json:"lost_at_receiver"`
}

func (l *lossSplit) add(o lossSplit) {
	l.Sent += o.Sent
	l.LostBeforeSwitch += o.LostBeforeSwitch
	l.LostInSwitch += o.LostInSwitch
	l.LostAtReceiver += o.LostAtReceiver
}

// split counts, after finish, the datagrams scheduled in [from, to) and
// where the lost ones were lost; atSwitch and atReceiver say which
// reached the switch and the receiver's interface.
func (pr *probe) split(atSwitch, atReceiver func(seq uint64) bool, from, to time.Duration) lossSplit {
	rate := float64(pr.Rate())
	lo := uint64(max(0, math.Ceil(from.Seconds()*rate)))
	hi := min(uint64(max(0, math.Ceil(to.Seconds()*rate))), pr.sent)
	var l lossSplit
	if hi > lo {
		l.Sent = hi - lo
	}
	for _, seq := range pr.lost {
		switch {
		case seq < lo || seq >= hi:
		case atReceiver(seq):
			l.LostAtReceiver++
		case atSwitch(seq):
			l.LostInSwitch++
		default:
			l.LostBeforeSwitch++
		}
	}
	return l
}

// elapsed is the time since the stream started.
func (pr *probe) elapsed() time.Duration { return pr.Elapsed() }

func (pr *probe) close() { pr.Close() }
