//go:build linux

package nstest

import "testing"

// PushVLAN is testbed's NS.PushVLAN (out-of-band tags on what the stack
// sends on dev), removed at the end of the test.
func PushVLAN(t testing.TB, ns *NS, dev string, tpid, tci uint16) {
	t.Helper()
	c, err := ns.NS.PushVLAN(dev, tpid, tci)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
}
