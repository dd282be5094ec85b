//go:build linux

package afxdp

import (
	"testing"

	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// The helpers these tests share with afpacket's (dataplanetest, nstest),
// under the names the tests use.
const etherTypeTest = dataplanetest.EtherTypeTest

var (
	newNS       = nstest.QuietNS
	pair        = nstest.QuietPair
	tcpTransfer = nstest.TCPTransfer
	newBatch    = dataplanetest.NewBatch
	testFrame   = dataplanetest.Frame
	frameID     = dataplanetest.FrameID
	collect     = dataplanetest.Collect[Stats, *Port]
	writeAll    = dataplanetest.WriteAll[Stats, *Port]
)

// openIn opens a Port on ifname inside ns, closed at cleanup.
func openIn(t testing.TB, ns *nstest.NS, ifname string, o Options) *Port {
	t.Helper()
	return nstest.OpenIn(t, ns, func() (*Port, error) { return Open(ifname, o) })
}
