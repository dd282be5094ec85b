package lacpdu

import (
	"bytes"
	"testing"
)

// The checked-in seeds under testdata/fuzz cover: valid PDUs, truncated
// ones, a zero TLV length, an oversize length, a bad version, version 2
// TLV chains and random bytes. f.Add adds the ones built in code.

func FuzzPDU(f *testing.F) {
	f.Add(sampleWire())
	f.Add(sampleWire()[:60])
	f.Add([]byte{SubtypeLACP, Version, tlvActor, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p PDU
		if err := p.UnmarshalBinary(b); err != nil {
			if p != (PDU{}) {
				t.Fatalf("PDU changed on error %v", err)
			}
			return
		}
		out, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != Len {
			t.Fatalf("marshalled %d octets", len(out))
		}
		// Round trip: unmarshal(marshal(x)) == x.
		var q PDU
		if err := q.UnmarshalBinary(out); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if q != p {
			t.Fatalf("round trip:\n got %+v\nwant %+v", q, p)
		}
		// A version 1 input re-encodes to itself with the reserved
		// octets cleared.
		if b[1] == Version {
			if want := clearReservedPDU(b[:Len]); !bytes.Equal(out, want) {
				t.Fatalf("re-encoding:\n got % x\nwant % x", out, want)
			}
		}
	})
}

func FuzzMarker(f *testing.F) {
	f.Add(markerWire(1))
	f.Add(markerWire(2))
	f.Add([]byte{SubtypeMarker, Version, tlvMarkerInfo, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Marker
		if err := m.UnmarshalBinary(b); err != nil {
			if m != (Marker{}) {
				t.Fatalf("Marker changed on error %v", err)
			}
			return
		}
		out, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var q Marker
		if err := q.UnmarshalBinary(out); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if q != m {
			t.Fatalf("round trip:\n got %+v\nwant %+v", q, m)
		}
		want := append([]byte{}, b[:Len]...)
		want[1] = Version
		clear(want[16:18])
		clear(want[20:])
		if !bytes.Equal(out, want) {
			t.Fatalf("re-encoding:\n got % x\nwant % x", out, want)
		}
	})
}

// FuzzFrame checks that ParseFrame and the decoders it feeds never panic.
func FuzzFrame(f *testing.F) {
	p := samplePDU()
	fr, _ := AppendFrame(nil, macA, &p)
	f.Add(fr)
	f.Add(fr[:HeaderLen+1])
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			return
		}
		if len(fr.Payload) == 0 || fr.Payload[0] != fr.Subtype {
			t.Fatalf("bad payload %+v", fr)
		}
		var p PDU
		var m Marker
		_ = p.UnmarshalBinary(fr.Payload)
		_ = m.UnmarshalBinary(fr.Payload)
	})
}

// clearReservedPDU returns a copy of a valid version 1 LACPDU with the
// reserved octets zeroed.
func clearReservedPDU(b []byte) []byte {
	c := append([]byte{}, b...)
	clear(c[offActor+17 : offActor+lenActor])
	clear(c[offPartner+17 : offPartner+lenPartner])
	clear(c[offCollector+4 : offCollector+lenCollector])
	clear(c[offTerminator+2:])
	return c
}
