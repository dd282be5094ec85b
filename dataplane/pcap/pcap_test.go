package pcap

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

// The captures in testdata were written by Wireshark's text2pcap (pcap,
// pcapng) and editcap (nanosecond pcap) from testdata/two.txt: a UDP
// datagram, then an ARP request.
func wantFrames(t *testing.T) [][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/two.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	var cur []byte
	for _, line := range strings.Split(string(b)+"\n", "\n") {
		if strings.TrimSpace(line) == "" {
			if cur != nil {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		h, err := hex.DecodeString(strings.ReplaceAll(line[7:], " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		cur = append(cur, h...)
	}
	return out
}

func TestFrame(t *testing.T) {
	want := wantFrames(t)
	for _, file := range []string{"two.pcap", "two.pcapng", "two-nsec.pcap"} {
		t.Run(file, func(t *testing.T) {
			f, err := os.Open("testdata/" + file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b, err := os.ReadFile("testdata/" + file)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range want {
				got, err := Frame(b, i)
				if err != nil || !bytes.Equal(got, w) {
					t.Fatalf("frame %d = % x, %v; want % x", i, got, err, w)
				}
			}
			if got, err := Read(f, 1); err != nil || !bytes.Equal(got, want[1]) {
				t.Fatalf("Read(1) = % x, %v", got, err)
			}
			if _, err := Frame(b, len(want)); !errors.Is(err, ErrNoFrame) {
				t.Fatalf("frame %d: %v, want ErrNoFrame", len(want), err)
			}
			if _, err := Frame(b[:len(b)-10], len(want)-1); !errors.Is(err, ErrFormat) && !errors.Is(err, ErrNoFrame) {
				t.Fatalf("cut file: %v", err)
			}
		})
	}
	for _, junk := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte{0xa1}, 64)} {
		if _, err := Frame(junk, 0); !errors.Is(err, ErrFormat) {
			t.Errorf("Frame(% x) = %v, want ErrFormat", junk, err)
		}
	}
}

func TestLinkType(t *testing.T) {
	b, err := os.ReadFile("testdata/two.pcap")
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Clone(b)
	b[20] = 113 // LINKTYPE_LINUX_SLL
	if _, err := Frame(b, 0); !errors.Is(err, ErrLinkType) {
		t.Fatalf("Linux cooked capture: %v, want ErrLinkType", err)
	}
}

// FuzzFrame: any bytes give a frame or an error, never a panic or a frame
// that is not inside the input.
func FuzzFrame(f *testing.F) {
	for _, file := range []string{"two.pcap", "two.pcapng", "two-nsec.pcap"} {
		b, err := os.ReadFile("testdata/" + file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, 0)
		f.Add(b, 1)
	}
	f.Fuzz(func(t *testing.T, b []byte, index int) {
		got, err := Frame(b, index%4)
		if err == nil && !bytes.Contains(b, got) {
			t.Fatalf("frame % x is not in the input", got)
		}
	})
}
