//go:build linux

package afpacket

import (
	"testing"

	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// The helpers these tests share with afxdp's (dataplanetest, nstest),
// under the names the tests use.
var (
	newNS          = nstest.QuietNS
	pair           = nstest.QuietPair
	tcpTransfer    = nstest.TCPTransfer
	newBatch       = dataplanetest.NewBatch
	frameID        = dataplanetest.FrameID
	collect        = dataplanetest.Collect[Stats, *Port]
	collectOrdered = dataplanetest.CollectOrdered[Stats, *Port]
	writeAll       = dataplanetest.WriteAll[Stats, *Port]
)

// openIn opens a Port on ifname inside ns, closed at cleanup.
func openIn(t testing.TB, ns *nstest.NS, ifname string, o Options) *Port {
	t.Helper()
	return nstest.OpenIn(t, ns, func() (*Port, error) { return Open(ifname, o) })
}

// tag is an 802.1Q or 802.1ad tag for testFrame.
type tag struct {
	tpid, tci uint16
}

// testFrame is dataplanetest.Frame: a test frame of size bytes (tags
// included) from src to dst, carrying magic and id.
func testFrame(dst, src [6]byte, magic uint64, id uint32, size int, tags ...tag) []byte {
	tt := make([]dataplanetest.Tag, len(tags))
	for i, tg := range tags {
		tt[i] = dataplanetest.Tag{TPID: tg.tpid, TCI: tg.tci}
	}
	return dataplanetest.Frame(dst, src, magic, id, size, tt...)
}
