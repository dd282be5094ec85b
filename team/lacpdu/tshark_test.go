package lacpdu

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
)

// TestTshark has Wireshark's dissectors read the frames we write. It skips
// when tshark is missing, unless CI=true.
func TestTshark(t *testing.T) {
	dataplanetest.Tshark(t, "-v") // skips, or fails in CI, before any work when tshark is missing

	p := samplePDU()
	lacp, err := AppendFrame(nil, macA, &p)
	if err != nil {
		t.Fatal(err)
	}
	d := PDU{ // a defaulted, expired passive port with an empty partner
		Actor: PortInfo{SystemPriority: 65535, System: macB, Key: 7, PortPriority: 1, Port: 65535,
			State: Aggregation | Defaulted | Expired},
	}
	lacp2, err := AppendFrame(nil, macB, &d)
	if err != nil {
		t.Fatal(err)
	}
	m := sampleMarker()
	info, err := AppendFrame(nil, macB, &m)
	if err != nil {
		t.Fatal(err)
	}
	r := m.Response()
	resp, err := AppendFrame(nil, macA, &r)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pcap")
	dataplanetest.WritePcap(t, good, [][]byte{lacp, lacp2, info, resp})

	out := dataplanetest.Tshark(t, "-r", good, "-V")
	for _, want := range []string{
		"Link Aggregation Control Protocol",
		"LACP Version: 0x01",
		"Actor System Priority: 32768",
		"Actor System ID: 02:00:00:00:00:0a",
		"Actor Key: 13",
		"Actor Port Priority: 255",
		"Actor Port: 1\n",
		"Actor State: 0x3f, LACP Activity, LACP Timeout, Aggregation, Synchronization, Collecting, Distributing",
		"Partner System Priority: 256",
		"Partner System: 02:00:00:00:00:0b",
		"Partner Key: 4660",
		"Partner Port Priority: 128",
		"Partner Port: 515",
		"Partner State: 0x0d, LACP Activity, Aggregation, Synchronization",
		"Collector Max Delay: 5",
		"Actor System ID: 02:00:00:00:00:0b",
		"Actor Port: 65535",
		"Defaulted: Yes",
		"Expired: Yes",
		"Marker Protocol",
		"TLV Type: Marker Information (0x01)",
		"TLV Type: Marker Response Information (0x02)",
		"Requester Port: 7",
		"Requester System: 02:00:00:00:00:0b",
		"Requester Transaction ID: 3735928559",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tshark -V lacks %q", want)
		}
	}
	if strings.Contains(out, "Malformed") || strings.Contains(out, "Expert Info") {
		t.Errorf("tshark -V reports a problem:\n%s", out)
	}
	if n := strings.Count(out, "Link Aggregation Control Protocol"); n != 2 {
		t.Errorf("%d LACPDUs dissected, want 2", n)
	}
	if exp := dataplanetest.Tshark(t, "-r", good, "-z", "expert", "-q"); strings.TrimSpace(exp) != "" {
		t.Errorf("tshark expert info:\n%s", exp)
	}

	// A truncated LACPDU must be reported, or the checks above prove
	// nothing.
	bad := filepath.Join(dir, "bad.pcap")
	dataplanetest.WritePcap(t, bad, [][]byte{lacp[:HeaderLen+40]})
	if exp := dataplanetest.Tshark(t, "-r", bad, "-z", "expert", "-q"); !strings.Contains(exp, "Malformed") {
		t.Errorf("tshark does not flag a truncated LACPDU; expert output:\n%s", exp)
	}
}
