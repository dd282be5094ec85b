//go:build linux

package tap

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane"
)

// Write hands each frame (virtio-net header and Ethernet frame) to the host
// stack, waiting while the device pushes back. It returns how many frames
// were accepted; on an error, frames[n] is the one that failed (a bad
// header gives EINVAL) and the caller may drop it and go on.
func (p *Port) Write(frames [][]byte) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed.Load() {
		return 0, dataplane.ErrClosed
	}
	for n := 0; n < len(frames); {
		_, err := unix.Write(p.fd, frames[n])
		switch err {
		case nil:
			n++
		case unix.EINTR:
		case unix.EAGAIN:
			if err := p.wait(&p.wpoll, unix.POLLOUT); err != nil {
				return n, err
			}
		default:
			return n, fmt.Errorf("write %s: %w", p.name, err)
		}
	}
	return len(frames), nil
}
