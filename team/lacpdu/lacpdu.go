// Package lacpdu encodes and decodes the Slow Protocols PDUs of Link
// Aggregation (IEEE 802.1AX-2014): the LACPDU (6.4.2) and the Marker and
// Marker Response PDUs (6.5.3).
//
// PDU and Marker work on the slow-protocol payload, which starts at the
// subtype octet right after the EtherType; AppendFrame and ParseFrame add and
// strip the Ethernet header. Decoding never panics and never loops on a
// malformed TLV: every problem is one of the sentinel errors below, possibly
// wrapped with detail (test with errors.Is).
package lacpdu

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
)

// Slow Protocols constants (IEEE 802.3 Annex 57A, 802.1AX-2014 6.2.11).
const (
	// EtherType is the Slow Protocols EtherType.
	EtherType = 0x8809
	// SubtypeLACP identifies a LACPDU.
	SubtypeLACP = 0x01
	// SubtypeMarker identifies a Marker or Marker Response PDU.
	SubtypeMarker = 0x02
	// Version is the protocol version this package writes.
	Version = 0x01
	// Len is the length of a LACPDU or Marker PDU payload, from the subtype
	// octet to the end of the trailing reserved octets (6.4.2.3, 6.5.3.3).
	Len = 110
	// HeaderLen is the length of the untagged Ethernet header.
	HeaderLen = 14
	// FrameLen is the length of a whole LACPDU or Marker frame without FCS.
	FrameLen = HeaderLen + Len
	// MinFrameLen is the minimum Ethernet frame length without FCS.
	MinFrameLen = 60
)

// SlowProtocolsMulticast is the destination address of Slow Protocols frames
// (01-80-C2-00-00-02).
var SlowProtocolsMulticast = [6]byte{0x01, 0x80, 0xc2, 0x00, 0x00, 0x02}

// Errors returned by the decoders. They may be wrapped with detail.
var (
	// ErrTruncated means the input ends before the PDU does.
	ErrTruncated = errors.New("lacpdu: truncated")
	// ErrBadSubtype means the subtype octet is not the one expected.
	ErrBadSubtype = errors.New("lacpdu: unexpected subtype")
	// ErrBadVersion means the version octet is 0, which no version of the
	// protocol uses. Versions above 1 are accepted and read as version 1.
	ErrBadVersion = errors.New("lacpdu: bad version")
	// ErrBadTLV means a TLV has the wrong type or length for its place.
	ErrBadTLV = errors.New("lacpdu: bad TLV")
	// ErrNotSlowProtocol means a frame does not carry the Slow Protocols
	// EtherType.
	ErrNotSlowProtocol = errors.New("lacpdu: not a slow protocols frame")
)

// TLV types and lengths of the LACPDU (6.4.2.3) and Marker PDU (6.5.3.3).
const (
	tlvTerminator     = 0x00
	tlvActor          = 0x01
	tlvPartner        = 0x02
	tlvCollector      = 0x03
	tlvMarkerInfo     = 0x01
	tlvMarkerResponse = 0x02

	lenActor     = 20
	lenPartner   = 20
	lenCollector = 16
	lenMarker    = 16
)

// Offsets inside a LACPDU payload (6.4.2.3, Figure 6-7).
const (
	offActor      = 2
	offPartner    = offActor + lenActor         // 22
	offCollector  = offPartner + lenPartner     // 42
	offTerminator = offCollector + lenCollector // 58
)

// State is the Actor_State or Partner_State octet (6.4.2.3).
type State uint8

// State bits, least significant first (6.4.2.3 item k).
const (
	// Activity is LACP_Activity: set = Active LACP, clear = Passive.
	Activity State = 1 << iota
	// Timeout is LACP_Timeout: set = Short Timeout, clear = Long Timeout.
	Timeout
	// Aggregation: set = the link is aggregatable, clear = Individual.
	Aggregation
	// Synchronization: the link is allocated to the right aggregator.
	Synchronization
	// Collecting: collection of incoming frames is enabled.
	Collecting
	// Distributing: distribution of outgoing frames is enabled.
	Distributing
	// Defaulted: the partner information in use is the administrative
	// default, not received in a LACPDU.
	Defaulted
	// Expired: the receive machine is in the EXPIRED state.
	Expired
)

var stateNames = [8]string{
	"LACP_Activity", "LACP_Timeout", "Aggregation", "Synchronization",
	"Collecting", "Distributing", "Defaulted", "Expired",
}

// stateLetters are the letters of String, one per bit from Activity to
// Expired: Activity, Timeout, aGgregation, Synchronization, Collecting,
// Distributing, deFaulted, Expired.
const stateLetters = "ATGSCDFE"

// String returns the compact form used in `ctl state` (docs/contract.md §4):
// eight characters, one per bit from Activity to Expired, the bit's letter
// from "ATGSCDFE" when set and '.' when clear. A fast active port that
// distributes prints "ATGSCD..".
func (s State) String() string {
	var b [8]byte
	for i := range b {
		if s&(1<<i) != 0 {
			b[i] = stateLetters[i]
		} else {
			b[i] = '.'
		}
	}
	return string(b[:])
}

// Names returns the 802.1AX names of the bits set in s, least significant
// first, e.g. ["LACP_Activity" "Aggregation"].
func (s State) Names() []string {
	var names []string
	for i, n := range stateNames {
		if s&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return names
}

// Has reports whether all bits of f are set in s.
func (s State) Has(f State) bool { return s&f == f }

// PortInfo is the content of an Actor or Partner Information TLV: one end of
// a link as its System sees it (6.4.2.3).
type PortInfo struct {
	SystemPriority uint16
	System         [6]byte // a MAC address
	Key            uint16
	PortPriority   uint16
	Port           uint16
	State          State
}

// PDU is a LACPDU (6.4.2.3). Reserved fields are written as zero and
// ignored when read.
type PDU struct {
	Actor   PortInfo
	Partner PortInfo
	// CollectorMaxDelay is in tens of microseconds (6.4.2.3 item v).
	CollectorMaxDelay uint16
}

var (
	_ encoding.BinaryMarshaler   = (*PDU)(nil)
	_ encoding.BinaryAppender    = (*PDU)(nil)
	_ encoding.BinaryUnmarshaler = (*PDU)(nil)
	_ encoding.BinaryMarshaler   = (*Marker)(nil)
	_ encoding.BinaryAppender    = (*Marker)(nil)
	_ encoding.BinaryUnmarshaler = (*Marker)(nil)
)

// MarshalBinary returns the Len-byte LACP payload, from the subtype octet.
func (p *PDU) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, Len))
}

// AppendBinary appends the Len-byte LACP payload to b. It does not allocate
// when b has room for it.
func (p *PDU) AppendBinary(b []byte) ([]byte, error) {
	b, o := grow(b, Len)
	o[0] = SubtypeLACP
	o[1] = Version
	putInfo(o[offActor:], tlvActor, &p.Actor)
	putInfo(o[offPartner:], tlvPartner, &p.Partner)
	o[offCollector] = tlvCollector
	o[offCollector+1] = lenCollector
	binary.BigEndian.PutUint16(o[offCollector+2:], p.CollectorMaxDelay)
	// Terminator TLV (type 0, length 0) and reserved octets stay zero.
	return b, nil
}

// UnmarshalBinary decodes a LACP payload that starts at the subtype octet.
// Octets after the PDU (Ethernet padding) are ignored. A version above 1 is
// read as version 1: its extra TLVs between the Collector Information and
// the Terminator are skipped (802.1AX-2014 6.4.2.3 and 6.4.2.4). On error p
// is left unchanged.
func (p *PDU) UnmarshalBinary(b []byte) error {
	if err := checkHeader(b, SubtypeLACP); err != nil {
		return err
	}
	if len(b) < Len {
		return fmt.Errorf("%w: LACPDU of %d octets, want %d", ErrTruncated, len(b), Len)
	}
	if err := checkTLV(b, offActor, tlvActor, lenActor, "actor"); err != nil {
		return err
	}
	if err := checkTLV(b, offPartner, tlvPartner, lenPartner, "partner"); err != nil {
		return err
	}
	if err := checkTLV(b, offCollector, tlvCollector, lenCollector, "collector"); err != nil {
		return err
	}
	if err := findTerminator(b, offTerminator, b[1] == Version); err != nil {
		return err
	}
	getInfo(b[offActor:], &p.Actor)
	getInfo(b[offPartner:], &p.Partner)
	p.CollectorMaxDelay = binary.BigEndian.Uint16(b[offCollector+2:])
	return nil
}

// putInfo writes an Actor or Partner Information TLV at the start of o.
func putInfo(o []byte, typ byte, in *PortInfo) {
	o[0] = typ
	o[1] = lenActor
	binary.BigEndian.PutUint16(o[2:], in.SystemPriority)
	copy(o[4:10], in.System[:])
	binary.BigEndian.PutUint16(o[10:], in.Key)
	binary.BigEndian.PutUint16(o[12:], in.PortPriority)
	binary.BigEndian.PutUint16(o[14:], in.Port)
	o[16] = byte(in.State)
	// o[17:20] is reserved.
}

func getInfo(o []byte, in *PortInfo) {
	in.SystemPriority = binary.BigEndian.Uint16(o[2:])
	copy(in.System[:], o[4:10])
	in.Key = binary.BigEndian.Uint16(o[10:])
	in.PortPriority = binary.BigEndian.Uint16(o[12:])
	in.Port = binary.BigEndian.Uint16(o[14:])
	in.State = State(o[16])
}

// MarkerKind tells a Marker Information TLV from a Marker Response TLV.
type MarkerKind uint8

// Marker TLV types (6.5.3.3).
const (
	// MarkerInformation is sent by a Marker Generator.
	MarkerInformation MarkerKind = tlvMarkerInfo
	// MarkerResponse is sent back by a Marker Responder.
	MarkerResponse MarkerKind = tlvMarkerResponse
)

func (k MarkerKind) String() string {
	switch k {
	case MarkerInformation:
		return "information"
	case MarkerResponse:
		return "response"
	}
	return fmt.Sprintf("MarkerKind(%d)", uint8(k))
}

// Marker is a Marker PDU or Marker Response PDU (6.5.3.3).
type Marker struct {
	Kind            MarkerKind
	RequesterPort   uint16
	RequesterSystem [6]byte
	// TransactionID is chosen by the requester and echoed in the response.
	TransactionID uint32
}

// Response returns the Marker Response a Marker Responder sends back for m:
// the same requester fields with the Marker Response TLV type (6.5.4.2.2).
func (m *Marker) Response() Marker {
	r := *m
	r.Kind = MarkerResponse
	return r
}

// MarshalBinary returns the Len-byte Marker payload, from the subtype octet.
func (m *Marker) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, Len))
}

// AppendBinary appends the Len-byte Marker payload to b. It fails with
// ErrBadTLV if Kind is neither MarkerInformation nor MarkerResponse. It
// does not allocate when b has room for the payload.
func (m *Marker) AppendBinary(b []byte) ([]byte, error) {
	if m.Kind != MarkerInformation && m.Kind != MarkerResponse {
		return b, fmt.Errorf("%w: marker kind %d", ErrBadTLV, m.Kind)
	}
	b, o := grow(b, Len)
	o[0] = SubtypeMarker
	o[1] = Version
	o[2] = byte(m.Kind)
	o[3] = lenMarker
	binary.BigEndian.PutUint16(o[4:], m.RequesterPort)
	copy(o[6:12], m.RequesterSystem[:])
	binary.BigEndian.PutUint32(o[12:], m.TransactionID)
	// o[16:18] is the pad, o[18:20] the Terminator TLV, the rest reserved.
	return b, nil
}

// UnmarshalBinary decodes a Marker payload that starts at the subtype
// octet. Octets after the PDU are ignored; the pad and reserved octets may
// hold anything. On error m is left unchanged.
func (m *Marker) UnmarshalBinary(b []byte) error {
	if err := checkHeader(b, SubtypeMarker); err != nil {
		return err
	}
	if len(b) < Len {
		return fmt.Errorf("%w: marker PDU of %d octets, want %d", ErrTruncated, len(b), Len)
	}
	kind := MarkerKind(b[2])
	if (kind != MarkerInformation && kind != MarkerResponse) || b[3] != lenMarker {
		return fmt.Errorf("%w: marker TLV type %#02x length %d", ErrBadTLV, b[2], b[3])
	}
	if b[18] != tlvTerminator || b[19] != 0 {
		return fmt.Errorf("%w: terminator type %#02x length %d", ErrBadTLV, b[18], b[19])
	}
	m.Kind = kind
	m.RequesterPort = binary.BigEndian.Uint16(b[4:])
	copy(m.RequesterSystem[:], b[6:12])
	m.TransactionID = binary.BigEndian.Uint32(b[12:])
	return nil
}

// checkHeader validates the subtype and version octets.
func checkHeader(b []byte, subtype byte) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: %d octets", ErrTruncated, len(b))
	}
	if b[0] != subtype {
		return fmt.Errorf("%w: %#02x, want %#02x", ErrBadSubtype, b[0], subtype)
	}
	if b[1] == 0 {
		return ErrBadVersion
	}
	return nil
}

// checkTLV checks the type and length octets of the fixed TLV at off.
// The caller has checked that b is long enough.
func checkTLV(b []byte, off int, typ, length byte, name string) error {
	if b[off] != typ || b[off+1] != length {
		return fmt.Errorf("%w: %s TLV type %#02x length %d, want %#02x length %d",
			ErrBadTLV, name, b[off], b[off+1], typ, length)
	}
	return nil
}

// findTerminator checks that the Terminator TLV (type 0, length 0) sits at
// off. With strict (version 1) nothing else may sit there; otherwise TLVs of
// later versions are skipped until the terminator. Every skipped TLV is at
// least 2 octets long, so the walk always moves forward and ends.
func findTerminator(b []byte, off int, strict bool) error {
	for {
		if off+2 > len(b) {
			return fmt.Errorf("%w: no terminator TLV", ErrTruncated)
		}
		typ, length := b[off], int(b[off+1])
		if typ == tlvTerminator {
			if length != 0 {
				return fmt.Errorf("%w: terminator length %d", ErrBadTLV, length)
			}
			return nil
		}
		if strict {
			return fmt.Errorf("%w: TLV type %#02x where the terminator belongs", ErrBadTLV, typ)
		}
		if length < 2 {
			return fmt.Errorf("%w: TLV type %#02x length %d", ErrBadTLV, typ, length)
		}
		off += length
	}
}

// grow appends n zero bytes to b and returns the result and the new tail.
func grow(b []byte, n int) ([]byte, []byte) {
	l := len(b)
	if cap(b)-l < n {
		nb := make([]byte, l, l+n)
		copy(nb, b)
		b = nb
	}
	b = b[:l+n]
	o := b[l:]
	clear(o)
	return b, o
}

// AppendFrame appends an untagged Ethernet frame that carries pdu (a *PDU
// or *Marker) from src to SlowProtocolsMulticast, padded to MinFrameLen if
// ever shorter. It does not allocate when b has room for FrameLen octets.
func AppendFrame(b []byte, src [6]byte, pdu encoding.BinaryAppender) ([]byte, error) {
	start := len(b)
	b = append(b, SlowProtocolsMulticast[:]...)
	b = append(b, src[:]...)
	b = binary.BigEndian.AppendUint16(b, EtherType)
	b, err := pdu.AppendBinary(b)
	if err != nil {
		return b[:start], err
	}
	for len(b)-start < MinFrameLen {
		b = append(b, 0)
	}
	return b, nil
}

// Frame is a parsed Slow Protocols Ethernet frame.
type Frame struct {
	Dst, Src [6]byte
	// Subtype is the first payload octet: SubtypeLACP, SubtypeMarker or
	// another slow protocol (e.g. 0x03 OAM) the caller should ignore.
	Subtype uint8
	// Payload starts at the subtype octet and aliases the parsed frame.
	Payload []byte
}

// ParseFrame reads the Ethernet header of an untagged Slow Protocols frame.
// It does not check the destination address: 802.1AX-2014 6.2.11 lets an
// Aggregation Port use other group addresses than SlowProtocolsMulticast.
func ParseFrame(b []byte) (Frame, error) {
	if len(b) < HeaderLen+1 {
		return Frame{}, fmt.Errorf("%w: frame of %d octets", ErrTruncated, len(b))
	}
	if et := binary.BigEndian.Uint16(b[12:]); et != EtherType {
		return Frame{}, fmt.Errorf("%w: EtherType %#04x", ErrNotSlowProtocol, et)
	}
	var f Frame
	copy(f.Dst[:], b[0:6])
	copy(f.Src[:], b[6:12])
	f.Payload = b[HeaderLen:]
	f.Subtype = f.Payload[0]
	return f, nil
}
