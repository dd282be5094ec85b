// Package sockfile claims the path of a Unix socket a server is about to
// bind. Socket paths are filesystem-wide: two daemons serving the same
// team name (in two network namespaces, say) would otherwise compete for
// one path, and the second would silently take it from the first.
//
// Claim refuses a path that a live server answers on, or that is
// something other than a socket; it removes only a stale socket (one
// whose server is gone: a connect is refused). The check, the removal and
// the bind run under an exclusive flock of the socket's directory, so two
// servers starting together cannot both find the path stale.
package sockfile

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ErrInUse means another server answers on the socket's path.
var ErrInUse = errors.New("in use")

// dialTimeout bounds the connect that tells a live socket from a stale one.
const dialTimeout = time.Second

// Claim makes path ready to be bound by a server of network ("unix",
// "unixpacket"): its directory exists, and nothing is at path. It returns
// a function to call once the socket is bound (or binding failed), which
// releases the directory lock. On error nothing was removed.
func Claim(path, network string) (release func(), err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX); err != nil {
		d.Close()
		return nil, fmt.Errorf("socket directory %s: lock: %w", dir, err)
	}
	release = func() {
		_ = unix.Flock(int(d.Fd()), unix.LOCK_UN)
		d.Close()
	}
	if err := clearStale(path, network); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// clearStale removes a stale socket at path, and refuses anything else.
func clearStale(path, network string) error {
	stale, err := check(path, network)
	if err != nil || !stale {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}

// Check tells whether path could be claimed: nil if nothing is there or
// only a stale socket, else why not (ErrInUse for a live server). It
// changes nothing.
func Check(path, network string) error {
	_, err := check(path, network)
	return err
}

func check(path, network string) (stale bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return false, fmt.Errorf("%s exists and is not a socket (%v); not removed", path, fi.Mode().Type())
	}
	c, err := net.DialTimeout(network, path, dialTimeout)
	if err == nil {
		c.Close()
		return false, ErrInUse
	}
	if !errors.Is(err, unix.ECONNREFUSED) {
		// Not provably stale (a server too busy to accept, a socket of
		// another type): it may be live, so it is left alone.
		return false, fmt.Errorf("%w (the socket does not answer as a stale one would: %v)", ErrInUse, err)
	}
	return true, nil
}

// Owner is the file a server bound, to remove at Close only if it is
// still the one at the path (another server may have replaced it since,
// after this one's socket was removed by hand).
type Owner struct {
	path string
	fi   os.FileInfo
}

// Own records the file now at path as the server's.
func Own(path string) Owner {
	fi, _ := os.Lstat(path)
	return Owner{path: path, fi: fi}
}

// Remove removes the server's socket file, unless it is no longer there
// or another file has taken its path.
func (o Owner) Remove() error {
	fi, err := os.Lstat(o.path)
	if err != nil || o.fi == nil || !os.SameFile(fi, o.fi) {
		return nil
	}
	if err := os.Remove(o.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
