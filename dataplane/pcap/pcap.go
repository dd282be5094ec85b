// Package pcap reads Ethernet frames from capture files, classic pcap
// (tcpdump's format: https://www.tcpdump.org/manpages/pcap-savefile.5.html)
// and pcapng (what tshark and dumpcap write: RFC draft
// draft-ietf-opsawg-pcapng), so that `teamd-go ctl explain --pcap` can
// take the frame an engineer captured.
//
// It is written here rather than taken from gopacket: it needs only "the
// n-th Ethernet frame of a file", which is two small formats, and a
// decoder for every protocol would come along with the library.
package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Errors returned by Frame.
var (
	// ErrFormat means the file is neither pcap nor pcapng, or is damaged.
	ErrFormat = errors.New("not a pcap or pcapng capture")
	// ErrLinkType means the frame was not captured from Ethernet.
	ErrLinkType = errors.New("capture is not of Ethernet frames")
	// ErrNoFrame means the file has fewer frames than asked for.
	ErrNoFrame = errors.New("no such frame in the capture")
)

// linkEthernet is LINKTYPE_ETHERNET.
const linkEthernet = 1

// maxFrame bounds a captured frame (and a pcapng block) read into memory.
const maxFrame = 1 << 18

// Frame returns frame number index (0 is the first) of the capture in b.
func Frame(b []byte, index int) ([]byte, error) {
	if index < 0 {
		return nil, fmt.Errorf("%w: index %d", ErrNoFrame, index)
	}
	if len(b) < 4 {
		return nil, ErrFormat
	}
	if binary.LittleEndian.Uint32(b) == 0x0a0d0d0a {
		return pcapng(b, index)
	}
	return classic(b, index)
}

// Read is Frame on everything r holds (at most 64 MiB).
func Read(r io.Reader, index int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, err
	}
	return Frame(b, index)
}

func classic(b []byte, index int) ([]byte, error) {
	if len(b) < 24 {
		return nil, ErrFormat
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d: // microseconds, nanoseconds
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, ErrFormat
	}
	if lt := bo.Uint32(b[20:]) & 0x0fffffff; lt != linkEthernet {
		return nil, fmt.Errorf("%w (link type %d)", ErrLinkType, lt)
	}
	b = b[24:]
	for n := 0; ; n++ {
		if len(b) < 16 {
			return nil, fmt.Errorf("%w: the capture has %d", ErrNoFrame, n)
		}
		incl := bo.Uint32(b[8:])
		if incl > maxFrame || int(incl) > len(b)-16 {
			return nil, fmt.Errorf("%w: record %d is cut short", ErrFormat, n)
		}
		if n == index {
			return bytes.Clone(b[16 : 16+incl]), nil
		}
		b = b[16+incl:]
	}
}

// pcapng walks the blocks: section headers (which set the byte order),
// interface descriptions (link types) and enhanced or simple packets.
func pcapng(b []byte, index int) ([]byte, error) {
	var bo binary.ByteOrder = binary.LittleEndian
	var links []uint16
	n := 0
	for len(b) > 0 {
		if len(b) < 12 {
			return nil, fmt.Errorf("%w: block cut short", ErrFormat)
		}
		typ := bo.Uint32(b)
		if typ == 0x0a0d0d0a { // section header: its byte-order magic
			switch binary.LittleEndian.Uint32(b[8:]) {
			case 0x1a2b3c4d:
				bo = binary.LittleEndian
			case 0x4d3c2b1a:
				bo = binary.BigEndian
			default:
				return nil, ErrFormat
			}
			links = links[:0]
		}
		size := bo.Uint32(b[4:])
		if size < 12 || size%4 != 0 || size > maxFrame || int(size) > len(b) {
			return nil, fmt.Errorf("%w: bad block length %d", ErrFormat, size)
		}
		body := b[8 : size-4]
		switch typ {
		case 1: // interface description
			if len(body) < 2 {
				return nil, ErrFormat
			}
			links = append(links, bo.Uint16(body))
		case 6, 3: // enhanced packet, simple packet
			iface, off, incl := uint32(0), 4, uint32(0)
			if typ == 6 {
				if len(body) < 20 {
					return nil, ErrFormat
				}
				iface, off, incl = bo.Uint32(body), 20, bo.Uint32(body[12:])
			} else {
				if len(body) < 4 {
					return nil, ErrFormat
				}
				incl = min(bo.Uint32(body), uint32(len(body)-4))
			}
			if int(incl) > len(body)-off {
				return nil, fmt.Errorf("%w: packet %d is cut short", ErrFormat, n)
			}
			if int(iface) >= len(links) {
				return nil, fmt.Errorf("%w: packet %d names interface %d, which is not described", ErrFormat, n, iface)
			}
			if n == index {
				if links[iface] != linkEthernet {
					return nil, fmt.Errorf("%w (link type %d)", ErrLinkType, links[iface])
				}
				return bytes.Clone(body[off : off+int(incl)]), nil
			}
			n++
		}
		b = b[size:]
	}
	return nil, fmt.Errorf("%w: the capture has %d", ErrNoFrame, n)
}
