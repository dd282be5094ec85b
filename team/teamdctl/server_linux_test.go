//go:build linux

package teamdctl

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func listen(t *testing.T, o Options) (*Server, *fakeBackend) {
	t.Helper()
	fb := newFakeBackend("activebackup")
	s, err := Listen(filepath.Join(t.TempDir(), "run", "team0.sock"), fb, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, fb
}

func dial(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends one packet and reads one reply packet.
func roundTrip(t *testing.T, c *net.UnixConn, pkt []byte) ([]byte, error) {
	t.Helper()
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1<<20)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return ParseReply(buf[:n])
}

// TestServerSession: teamdctl's connect sequence and a command on one
// connection, each reply one packet; bad packets get error replies and
// the connection goes on.
func TestServerSession(t *testing.T) {
	s, _ := listen(t, Options{})
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	c := dial(t, s.Path())
	for _, m := range []string{"ConfigDump", "ConfigDumpActual", "StateDump"} {
		p, err := roundTrip(t, c, AppendRequest(nil, m))
		if err != nil || !strings.HasPrefix(string(p), "{") {
			t.Fatalf("%s: %q, %v", m, p, err)
		}
	}
	bad := []struct {
		name, pkt, code string
	}{
		{"garbage", "\x00\x01garbage\n", CodeInvalidArgs},
		{"no REQUEST", "StateDump\n", CodeInvalidArgs},
		{"unknown method", "REQUEST\nFrobnicate\n", CodeUnknownMethod},
		{"bad escape", "REQUEST\nPortAdd\nx\\y\n", CodeInvalidArgs},
	}
	for _, b := range bad {
		if _, err := roundTrip(t, c, []byte(b.pkt)); code(err) != b.code {
			t.Errorf("%s: %v, want %s", b.name, err, b.code)
		}
	}
	if p, err := roundTrip(t, c, AppendRequest(nil, "StateItemValueGet", "runner.active_port")); err != nil || string(p) != "eth2" {
		t.Errorf("after bad packets: active port %q, %v", p, err)
	}
}

func TestServerOversize(t *testing.T) {
	s, _ := listen(t, Options{MaxRequest: 1024})
	c := dial(t, s.Path())
	big := AppendRequest(nil, "PortAdd", strings.Repeat("x", 4000))
	if _, err := roundTrip(t, c, big); code(err) != CodeTooMany {
		t.Errorf("oversize request: %v, want %s", err, CodeTooMany)
	}
	if _, err := roundTrip(t, c, AppendRequest(nil, "StateDump")); err != nil {
		t.Errorf("after oversize: %v", err)
	}
}

// TestServerLimits: connections over the limit are answered with an error
// and closed; idle ones are closed after the timeout, which frees room.
func TestServerLimits(t *testing.T) {
	s, _ := listen(t, Options{MaxConns: 3, IdleTimeout: 300 * time.Millisecond})
	idle := []*net.UnixConn{dial(t, s.Path()), dial(t, s.Path()), dial(t, s.Path())}
	time.Sleep(50 * time.Millisecond) // let the server admit them
	over := dial(t, s.Path())
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, err := over.Read(buf)
	if err != nil {
		t.Fatalf("connection over the limit: %v", err)
	}
	if _, err := ParseReply(buf[:n]); code(err) != CodeTooMany {
		t.Errorf("connection over the limit: %v", err)
	}
	// The idle ones are closed by the server: EOF.
	for i, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(buf); n != 0 || (err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "EOF")) {
			t.Errorf("idle connection %d: read %d, %v; want it closed", i, n, err)
		}
	}
	// Room again.
	c := dial(t, s.Path())
	if _, err := roundTrip(t, c, AppendRequest(nil, "StateDump")); err != nil {
		t.Errorf("after idle connections were closed: %v", err)
	}
}

// TestServerStaleAndClose: a stale socket file is replaced, a live one is
// not taken over, Close removes the file.
func TestServerStaleAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "team0.sock")
	// A stale socket: bound, then the listener vanished without unlinking.
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale file not there: %v", err)
	}
	fb := newFakeBackend("lacp")
	s, err := Listen(path, fb, nil, Options{})
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	if _, err := Listen(path, fb, nil, Options{}); err == nil || !strings.Contains(err.Error(), "another daemon serves this team") || !strings.Contains(err.Error(), path) {
		t.Errorf("second Listen on a live socket: %v", err)
	}
	c := dial(t, path)
	if _, err := roundTrip(t, c, AppendRequest(nil, "StateDump")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after Close: %v", err)
	}
	buf := make([]byte, 64)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := c.Read(buf); n != 0 {
		t.Errorf("open connection after Close read %d bytes", n)
	}
}
