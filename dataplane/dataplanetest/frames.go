package dataplanetest

import (
	"bytes"
	"encoding/binary"

	"github.com/teamd-go/teamd-go/dataplane"
)

// EtherTypeTest is the IEEE local experimental EtherType; test frames
// carry it so that nothing else on the wire is mistaken for them.
const EtherTypeTest = 0x88b5

// Tag is an 802.1Q or 802.1ad tag for Frame.
type Tag struct {
	TPID, TCI uint16
}

// NewBatch returns dataplane.BatchSize frame buffers of
// dataplane.MaxFrame bytes and their sizes, for Read.
func NewBatch() ([][]byte, []int) {
	frames := make([][]byte, dataplane.BatchSize)
	for i := range frames {
		frames[i] = make([]byte, dataplane.MaxFrame)
	}
	return frames, make([]int, dataplane.BatchSize)
}

// Frame returns a test frame: an all-zero virtio-net header and an
// Ethernet frame of size bytes (tags included) from src to dst, with the
// EtherType EtherTypeTest followed by magic and id, then a filler that
// depends on id. FrameID finds magic and id again.
func Frame(dst, src [6]byte, magic uint64, id uint32, size int, tags ...Tag) []byte {
	f := make([]byte, dataplane.VnetHdrLen+size)
	e := dataplane.Eth(f)
	copy(e[0:6], dst[:])
	copy(e[6:12], src[:])
	o := 12
	for _, tg := range tags {
		binary.BigEndian.PutUint16(e[o:], tg.TPID)
		binary.BigEndian.PutUint16(e[o+2:], tg.TCI)
		o += 4
	}
	binary.BigEndian.PutUint16(e[o:], EtherTypeTest)
	binary.BigEndian.PutUint64(e[o+2:], magic)
	binary.BigEndian.PutUint32(e[o+10:], id)
	for i := o + 14; i < len(e); i++ {
		e[i] = byte(i*7 + int(id))
	}
	return f
}

// FrameID finds magic in a test frame (Ethernet, after up to two tags)
// and returns the id that follows it.
func FrameID(eth []byte, magic uint64) (uint32, bool) {
	var m [8]byte
	binary.BigEndian.PutUint64(m[:], magic)
	for _, o := range []int{12, 16, 20} {
		if len(eth) >= o+14 && binary.BigEndian.Uint16(eth[o:]) == EtherTypeTest && bytes.Equal(eth[o+2:o+10], m[:]) {
			return binary.BigEndian.Uint32(eth[o+10:]), true
		}
	}
	return 0, false
}

// Sum adds b to the one's-complement sum s as big-endian 16-bit words
// (RFC 1071), an odd last byte padded with zero; Fold makes it 16 bits.
// A header's checksum is ^Fold(Sum(header, 0)); a received header is
// intact when Fold(Sum(header, 0)) is 0xffff.
func Sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// Fold folds the carries of a one's-complement sum into 16 bits.
func Fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
