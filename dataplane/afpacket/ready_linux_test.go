//go:build linux

package afpacket

import (
	"testing"

	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
)

// TestReady checks the readiness check on real sockets (see
// dataplanetest.CheckReady).
func TestReady(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	dataplanetest.CheckReady[Stats](t, pa, pb)
}
