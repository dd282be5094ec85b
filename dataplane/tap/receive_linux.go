//go:build linux

package tap

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane"
)

// Read waits for a frame from the host stack, then reads every frame that
// is immediately available, up to len(frames), without waiting again. Each
// frame starts with a virtio-net header; a GSO super-frame arrives whole.
func (p *Port) Read(frames [][]byte, sizes []int) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	limit := min(len(frames), len(sizes))
	if limit == 0 {
		return 0, nil
	}
	for {
		if p.closed.Load() {
			return 0, dataplane.ErrClosed
		}
		n := 0
		for n < limit {
			m, err := unix.Read(p.fd, frames[n])
			if err == nil {
				sizes[n] = m
				n++
				continue
			}
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN || n > 0 {
				// A hard error after some frames is reported by the
				// next call, which meets it again.
				break
			}
			return 0, fmt.Errorf("read %s: %w", p.name, err)
		}
		if n > 0 {
			return n, nil
		}
		if err := p.wait(&p.rpoll, unix.POLLIN); err != nil {
			return 0, err
		}
	}
}
