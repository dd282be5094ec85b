package dataplanetest

import (
	"encoding/binary"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// WritePcap writes frames (Ethernet, without virtio-net header) to a
// classic pcap file (LINKTYPE_ETHERNET), one second apart, for tshark.
func WritePcap(t testing.TB, path string, frames [][]byte) {
	t.Helper()
	le := binary.LittleEndian
	var b []byte
	b = le.AppendUint32(b, 0xa1b2c3d4) // magic: microsecond timestamps
	b = le.AppendUint16(b, 2)          // version 2.4
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 0)     // thiszone
	b = le.AppendUint32(b, 0)     // sigfigs
	b = le.AppendUint32(b, 65535) // snaplen
	b = le.AppendUint32(b, 1)     // LINKTYPE_ETHERNET
	for i, f := range frames {
		b = le.AppendUint32(b, uint32(1700000000+i)) // seconds
		b = le.AppendUint32(b, 0)                    // microseconds
		b = le.AppendUint32(b, uint32(len(f)))       // captured length
		b = le.AppendUint32(b, uint32(len(f)))       // original length
		b = append(b, f...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Tshark runs tshark with args and returns its standard output. It skips
// the test when tshark is missing, and fails it instead when CI=true.
func Tshark(t testing.TB, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark not found (CI=true): install the tshark package")
		}
		t.Skip("tshark not found; install the tshark package to run this test")
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user profile
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
