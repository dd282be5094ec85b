// Package ovstest ties testbed's private Open vSwitch to tests: Start
// runs one in a test's namespace (userspace datapath, its own run
// directory) and stops it at cleanup. The switch itself, and what its
// offloads need, are documented in internal/testbed.
package ovstest

import (
	"errors"
	"os"
	"testing"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// Switch is a running private Open vSwitch.
type Switch = testbed.Switch

// Option changes how a Switch starts.
type Option = testbed.OVSOption

// ErrUnavailable is returned (wrapped) when Open vSwitch is not installed.
var ErrUnavailable = testbed.ErrOVSUnavailable

// Options and helpers of testbed, under the names tests know.
var (
	Available    = testbed.OVSAvailable
	StartProcess = testbed.StartSwitch
	OtherConfig  = testbed.OtherConfig
	UserspaceTSO = testbed.UserspaceTSO
	CPUs         = testbed.CPUs
)

// Start runs Open vSwitch in ns for the test and stops it at cleanup,
// logging the tail of ovs-vswitchd's log if the test failed. Without root
// or Open vSwitch it skips (fails in CI, see nstest.Unavailable).
func Start(t testing.TB, ns *nstest.NS, opts ...Option) *Switch {
	t.Helper()
	nstest.Require(t)
	if err := Available(); err != nil {
		nstest.Unavailable(t, "%v", err)
	}
	dir, err := os.MkdirTemp("", "tgb-ovs-")
	if err != nil {
		t.Fatal(err)
	}
	s, err := StartProcess(ns.Name, dir, opts...)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			nstest.Unavailable(t, "%v", err)
		}
		_ = os.RemoveAll(dir)
		t.Fatalf("start open vswitch in %s: %v", ns.Name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ovs-vswitchd log (%s):\n%s", s.Dir, s.LogTail(40))
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stop open vswitch: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	return s
}
