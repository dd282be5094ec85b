package ovstest

import (
	"errors"
	"os"
	"testing"

	"github.com/teamd-go/teamd-go/test/nstest"
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
