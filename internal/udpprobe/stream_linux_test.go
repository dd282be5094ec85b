//go:build linux

package udpprobe_test

import (
	"net"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/internal/udpprobe"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// TestStreamCounts runs a stream over a veth pair, then the same with a
// second copy of part of it (a tc-free way to make duplicates: the test
// replays datagrams it forges with the stream's tag) and a stray
// datagram, and checks the counts.
func TestStreamCounts(t *testing.T) {
	nstest.Require(t)
	a, b := nstest.NewNS(t, "a"), nstest.NewNS(t, "b")
	nstest.Veth(t, a, "eth0", b, "eth0")
	a.Addr(t, "eth0", "10.96.0.1/24")
	b.Addr(t, "eth0", "10.96.0.2/24")

	s, err := udpprobe.Open(&a.NS, "10.96.0.1", &b.NS, "10.96.0.2", 2000, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Start()
	time.Sleep(300 * time.Millisecond)
	_, dport := s.Ports()
	// A stray datagram and a forged second copy of datagram 5.
	if err := a.Do(func() error {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP("10.96.0.1")}, &net.UDPAddr{IP: net.ParseIP("10.96.0.2"), Port: dport})
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("not the probe")); err != nil {
			return err
		}
		dup := make([]byte, 16)
		dup[7] = 5
		tag := s.Tag()
		for i := range 8 {
			dup[15-i] = byte(tag >> (8 * i))
		}
		_, err = c.Write(dup)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	c := s.Finish(300*time.Millisecond, 3*time.Second)
	if c.Sent < 100 || c.Received != c.Sent || c.Lost != 0 || len(s.Lost()) != 0 {
		t.Errorf("counts %+v, lost %v: want every datagram of a veth pair received", c, s.Lost())
	}
	if c.Duplicated != 1 || c.Stray != 1 {
		t.Errorf("duplicated %d, stray %d; want 1 and 1", c.Duplicated, c.Stray)
	}
	if c.Reordered != 1 || c.MaxDisplacement == 0 {
		t.Errorf("reordered %d (max %d behind): the late copy of 5 is one reordered arrival", c.Reordered, c.MaxDisplacement)
	}
	if at := s.ScheduledAt(2000); at != time.Second {
		t.Errorf("ScheduledAt(2000) at 2000/s = %v, want 1s", at)
	}
}
