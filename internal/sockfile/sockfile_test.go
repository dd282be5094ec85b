package sockfile

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// stale leaves a socket file at path whose server is gone.
func stale(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

func TestClaim(t *testing.T) {
	dir := t.TempDir()

	// Nothing there; the directory is made.
	path := filepath.Join(dir, "sub", "a.sock")
	release, err := Claim(path, "unix")
	if err != nil {
		t.Fatalf("Claim of a free path: %v", err)
	}
	release()

	// A stale socket is removed.
	path = filepath.Join(dir, "stale.sock")
	stale(t, path)
	if err := Check(path, "unix"); err != nil {
		t.Errorf("Check of a stale socket: %v", err)
	}
	release, err = Claim(path, "unix")
	if err != nil {
		t.Fatalf("Claim of a stale socket: %v", err)
	}
	release()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale socket still there: %v", err)
	}

	// A live socket is left to its server.
	path = filepath.Join(dir, "live.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for name, f := range map[string]func() error{
		"Check": func() error { return Check(path, "unix") },
		"Claim": func() error { _, err := Claim(path, "unix"); return err },
		// A live socket of another type is not stale either.
		"Claim unixpacket": func() error { _, err := Claim(path, "unixpacket"); return err },
	} {
		if err := f(); !errors.Is(err, ErrInUse) {
			t.Errorf("%s of a live socket: %v, want ErrInUse", name, err)
		}
	}
	if c, err := net.Dial("unix", path); err != nil {
		t.Errorf("the live server lost its socket: %v", err)
	} else {
		c.Close()
	}

	// A file that is not a socket is not removed.
	path = filepath.Join(dir, "file.sock")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Claim(path, "unix"); err == nil || errors.Is(err, ErrInUse) {
		t.Errorf("Claim of a regular file: %v, want a not-a-socket error", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("regular file removed: %v", err)
	}
}

// TestOwnerRemove: a server removes its own socket file only, not one
// that took the path after its own was removed.
func TestOwnerRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	stale(t, path)
	own := Own(path)
	// Another server's socket takes the path (made beside it first, so
	// the file system cannot give it the same inode).
	other := path + ".other"
	stale(t, other)
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if err := own.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("the other server's socket was removed: %v", err)
	}
	if err := Own(path).Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("own socket not removed: %v", err)
	}
}
