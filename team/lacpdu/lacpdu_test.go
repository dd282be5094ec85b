package lacpdu

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	macA = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}
	macB = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}
)

func samplePDU() PDU {
	return PDU{
		Actor: PortInfo{
			SystemPriority: 0x8000, System: macA, Key: 13, PortPriority: 255, Port: 1,
			State: Activity | Timeout | Aggregation | Synchronization | Collecting | Distributing,
		},
		Partner: PortInfo{
			SystemPriority: 0x0100, System: macB, Key: 0x1234, PortPriority: 0x80, Port: 0x0203,
			State: Activity | Aggregation | Synchronization,
		},
		CollectorMaxDelay: 5,
	}
}

// sampleWire is samplePDU as 802.1AX-2014 6.4.2.3 lays it out, written by
// hand from the figure, not by the encoder.
func sampleWire() []byte {
	var b bytes.Buffer
	w := func(s string) {
		s = strings.ReplaceAll(s, " ", "")
		x, err := hex.DecodeString(s)
		if err != nil {
			panic(err)
		}
		b.Write(x)
	}
	w("01 01")                                            // subtype LACP, version 1
	w("01 14 8000 02000000000a 000d 00ff 0001 3f 000000") // actor
	w("02 14 0100 02000000000b 1234 0080 0203 0d 000000") // partner
	w("03 10 0005 000000000000000000000000")              // collector
	w("00 00")                                            // terminator
	b.Write(make([]byte, 50))                             // reserved
	return b.Bytes()
}

func TestPDUWire(t *testing.T) {
	p := samplePDU()
	got, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sampleWire(), got); diff != "" {
		t.Fatalf("MarshalBinary (-want +got):\n%s", diff)
	}
	var q PDU
	if err := q.UnmarshalBinary(sampleWire()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, q); diff != "" {
		t.Fatalf("UnmarshalBinary (-want +got):\n%s", diff)
	}
}

func TestPDUUnmarshal(t *testing.T) {
	mod := func(f func(b []byte) []byte) []byte { return f(sampleWire()) }
	tests := []struct {
		name    string
		in      []byte
		want    PDU
		wantErr error
	}{
		{name: "valid", in: sampleWire(), want: samplePDU()},
		{name: "padding after PDU", in: append(sampleWire(), 1, 2, 3, 4), want: samplePDU()},
		{name: "reserved octets set", in: mod(func(b []byte) []byte {
			b[19], b[20], b[21] = 0xff, 0xff, 0xff // actor reserved
			b[39] = 0xaa                           // partner reserved
			for i := 46; i < 58; i++ {             // collector reserved
				b[i] = 0x55
			}
			for i := 60; i < Len; i++ { // trailing reserved
				b[i] = 0xee
			}
			return b
		}), want: samplePDU()},
		{name: "version 2 with extra TLV", in: mod(func(b []byte) []byte {
			b[1] = 2
			copy(b[58:], []byte{0x04, 0x06, 0, 0, 0, 1, 0x00, 0x00}) // Port Algorithm TLV, terminator
			return b
		}), want: samplePDU()},
		{name: "version 2 plain", in: mod(func(b []byte) []byte { b[1] = 2; return b }), want: samplePDU()},
		{name: "empty", in: nil, wantErr: ErrTruncated},
		{name: "one octet", in: []byte{1}, wantErr: ErrTruncated},
		{name: "header only", in: []byte{1, 1}, wantErr: ErrTruncated},
		{name: "truncated in partner", in: sampleWire()[:30], wantErr: ErrTruncated},
		{name: "truncated reserved", in: sampleWire()[:Len-1], wantErr: ErrTruncated},
		{name: "marker subtype", in: mod(func(b []byte) []byte { b[0] = 2; return b }), wantErr: ErrBadSubtype},
		{name: "OAM subtype", in: mod(func(b []byte) []byte { b[0] = 3; return b }), wantErr: ErrBadSubtype},
		{name: "version 0", in: mod(func(b []byte) []byte { b[1] = 0; return b }), wantErr: ErrBadVersion},
		{name: "actor type", in: mod(func(b []byte) []byte { b[2] = 2; return b }), wantErr: ErrBadTLV},
		{name: "actor zero length", in: mod(func(b []byte) []byte { b[3] = 0; return b }), wantErr: ErrBadTLV},
		{name: "actor oversize length", in: mod(func(b []byte) []byte { b[3] = 0xff; return b }), wantErr: ErrBadTLV},
		{name: "partner type", in: mod(func(b []byte) []byte { b[22] = 1; return b }), wantErr: ErrBadTLV},
		{name: "partner length", in: mod(func(b []byte) []byte { b[23] = 19; return b }), wantErr: ErrBadTLV},
		{name: "collector type", in: mod(func(b []byte) []byte { b[42] = 0; return b }), wantErr: ErrBadTLV},
		{name: "collector length", in: mod(func(b []byte) []byte { b[43] = 20; return b }), wantErr: ErrBadTLV},
		{name: "terminator length", in: mod(func(b []byte) []byte { b[59] = 2; return b }), wantErr: ErrBadTLV},
		{name: "v1 extra TLV", in: mod(func(b []byte) []byte { b[58], b[59] = 4, 6; return b }), wantErr: ErrBadTLV},
		{name: "v2 zero length TLV", in: mod(func(b []byte) []byte { b[1], b[58], b[59] = 2, 4, 0; return b }), wantErr: ErrBadTLV},
		{name: "v2 length one TLV", in: mod(func(b []byte) []byte { b[1], b[58], b[59] = 2, 4, 1; return b }), wantErr: ErrBadTLV},
		{name: "v2 TLV past end", in: mod(func(b []byte) []byte { b[1], b[58], b[59] = 2, 4, 0xff; return b }), wantErr: ErrTruncated},
		{name: "v2 no terminator", in: mod(func(b []byte) []byte {
			b[1] = 2
			for i := 58; i+1 < Len; i += 2 {
				b[i], b[i+1] = 4, 2
			}
			return b
		}), wantErr: ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got PDU
			err := got.UnmarshalBinary(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if got != (PDU{}) {
					t.Fatalf("PDU changed on error: %+v", got)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func sampleMarker() Marker {
	return Marker{Kind: MarkerInformation, RequesterPort: 7, RequesterSystem: macB, TransactionID: 0xdeadbeef}
}

func markerWire(kind byte) []byte {
	b := make([]byte, Len)
	copy(b, []byte{0x02, 0x01, kind, 0x10, 0x00, 0x07})
	copy(b[6:], macB[:])
	copy(b[12:], []byte{0xde, 0xad, 0xbe, 0xef})
	return b
}

func TestMarker(t *testing.T) {
	m := sampleMarker()
	got, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(markerWire(1), got); diff != "" {
		t.Fatalf("MarshalBinary (-want +got):\n%s", diff)
	}
	r := m.Response()
	got, err = r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(markerWire(2), got); diff != "" {
		t.Fatalf("response (-want +got):\n%s", diff)
	}
	if _, err := (&Marker{}).MarshalBinary(); !errors.Is(err, ErrBadTLV) {
		t.Fatalf("marshal of zero Kind: err = %v", err)
	}

	mod := func(f func(b []byte)) []byte { b := markerWire(1); f(b); return b }
	resp := sampleMarker()
	resp.Kind = MarkerResponse
	tests := []struct {
		name    string
		in      []byte
		want    Marker
		wantErr error
	}{
		{name: "information", in: markerWire(1), want: sampleMarker()},
		{name: "response", in: markerWire(2), want: resp},
		{name: "pad and reserved set", in: mod(func(b []byte) {
			b[16], b[17] = 0xff, 0xff
			for i := 20; i < Len; i++ {
				b[i] = 0x99
			}
		}), want: sampleMarker()},
		{name: "version 3", in: mod(func(b []byte) { b[1] = 3 }), want: sampleMarker()},
		{name: "empty", in: nil, wantErr: ErrTruncated},
		{name: "truncated", in: markerWire(1)[:20], wantErr: ErrTruncated},
		{name: "LACP subtype", in: mod(func(b []byte) { b[0] = 1 }), wantErr: ErrBadSubtype},
		{name: "version 0", in: mod(func(b []byte) { b[1] = 0 }), wantErr: ErrBadVersion},
		{name: "TLV type 0", in: mod(func(b []byte) { b[2] = 0 }), wantErr: ErrBadTLV},
		{name: "TLV type 3", in: mod(func(b []byte) { b[2] = 3 }), wantErr: ErrBadTLV},
		{name: "zero length", in: mod(func(b []byte) { b[3] = 0 }), wantErr: ErrBadTLV},
		{name: "oversize length", in: mod(func(b []byte) { b[3] = 200 }), wantErr: ErrBadTLV},
		{name: "bad terminator", in: mod(func(b []byte) { b[18] = 1 }), wantErr: ErrBadTLV},
		{name: "terminator length", in: mod(func(b []byte) { b[19] = 4 }), wantErr: ErrBadTLV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Marker
			err := got.UnmarshalBinary(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if got != (Marker{}) {
					t.Fatalf("Marker changed on error: %+v", got)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestState(t *testing.T) {
	tests := []struct {
		s     State
		str   string
		names []string
	}{
		{0, "........", nil},
		{Activity | Timeout | Aggregation | Synchronization | Collecting | Distributing, "ATGSCD..",
			[]string{"LACP_Activity", "LACP_Timeout", "Aggregation", "Synchronization", "Collecting", "Distributing"}},
		{Aggregation | Defaulted | Expired, "..G...FE", []string{"Aggregation", "Defaulted", "Expired"}},
		{0xff, "ATGSCDFE", stateNames[:]},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.str {
			t.Errorf("State(%#02x).String() = %q, want %q", uint8(tt.s), got, tt.str)
		}
		if diff := cmp.Diff(tt.names, tt.s.Names()); diff != "" {
			t.Errorf("State(%#02x).Names() (-want +got):\n%s", uint8(tt.s), diff)
		}
	}
	s := Activity | Synchronization
	if !s.Has(Activity) || !s.Has(Activity|Synchronization) || s.Has(Activity|Timeout) {
		t.Error("Has")
	}
}

func TestFrame(t *testing.T) {
	p := samplePDU()
	fr, err := AppendFrame(nil, macA, &p)
	if err != nil {
		t.Fatal(err)
	}
	if len(fr) != FrameLen {
		t.Fatalf("frame length %d, want %d", len(fr), FrameLen)
	}
	want := append(append(append(SlowProtocolsMulticast[:], macA[:]...), 0x88, 0x09), sampleWire()...)
	if diff := cmp.Diff(want, fr); diff != "" {
		t.Fatalf("AppendFrame (-want +got):\n%s", diff)
	}
	f, err := ParseFrame(fr)
	if err != nil {
		t.Fatal(err)
	}
	if f.Dst != SlowProtocolsMulticast || f.Src != macA || f.Subtype != SubtypeLACP || len(f.Payload) != Len {
		t.Fatalf("ParseFrame = %+v", f)
	}
	var q PDU
	if err := q.UnmarshalBinary(f.Payload); err != nil || q != p {
		t.Fatalf("payload: %v %+v", err, q)
	}

	m := sampleMarker()
	prefix := []byte{0xaa}
	fr, err = AppendFrame(prefix, macA, &m)
	if err != nil || len(fr) != 1+FrameLen || fr[0] != 0xaa || fr[1+HeaderLen] != SubtypeMarker {
		t.Fatalf("marker frame: %v % x", err, fr)
	}
	bad := Marker{}
	if fr, err := AppendFrame(prefix, macA, &bad); !errors.Is(err, ErrBadTLV) || !bytes.Equal(fr, prefix) {
		t.Fatalf("bad marker frame: %v % x", err, fr)
	}

	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"header only", fr[:HeaderLen], ErrTruncated},
		{"IPv4", append(append([]byte{}, want[:12]...), 0x08, 0x00, 0x45), ErrNotSlowProtocol},
	} {
		if _, err := ParseFrame(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestAllocs(t *testing.T) {
	p := samplePDU()
	m := sampleMarker()
	wire := sampleWire()
	mw := markerWire(1)
	buf := make([]byte, 0, FrameLen)
	// ParseFrame gets its own valid frame: buf's content depends on which
	// function the map order ran last.
	frame, err := AppendFrame(nil, macA, &p)
	if err != nil {
		t.Fatal(err)
	}
	var q PDU
	var r Marker
	for name, f := range map[string]func(){
		"PDU.AppendBinary":       func() { _, _ = p.AppendBinary(buf[:0]) },
		"PDU.UnmarshalBinary":    func() { _ = q.UnmarshalBinary(wire) },
		"Marker.AppendBinary":    func() { _, _ = m.AppendBinary(buf[:0]) },
		"Marker.UnmarshalBinary": func() { _ = r.UnmarshalBinary(mw) },
		"AppendFrame":            func() { _, _ = AppendFrame(buf[:0], macA, &p) },
		"ParseFrame":             func() { _, _ = ParseFrame(frame) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times", name, n)
		}
	}
}

func BenchmarkUnmarshalPDU(b *testing.B) {
	wire := sampleWire()
	var p PDU
	b.ReportAllocs()
	for b.Loop() {
		if err := p.UnmarshalBinary(wire); err != nil {
			b.Fatal(err)
		}
	}
}
