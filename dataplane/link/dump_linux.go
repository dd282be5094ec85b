//go:build linux

package link

import (
	"errors"

	"github.com/vishvananda/netlink"
)

// dumpAttempts bounds the retries of a dump the kernel interrupted because
// the table changed under it (NLM_F_DUMP_INTR).
const dumpAttempts = 5

// retryDump calls dump until it is not interrupted, at most dumpAttempts
// times, as containernetworking/plugins' netlinksafe does. An interrupted
// dump's partial result is never returned.
func retryDump[T any](dump func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range dumpAttempts {
		v, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	var zero T
	return zero, err
}

// linkList lists every interface through h (nil: the calling thread's
// namespace), retrying interrupted dumps.
func linkList(h *netlink.Handle) ([]netlink.Link, error) {
	if h == nil {
		return retryDump(netlink.LinkList)
	}
	return retryDump(h.LinkList)
}

// linkByName looks one interface up. The kernel answers by name directly;
// netlink falls back to a dump on old kernels, hence the retry.
func linkByName(name string) (netlink.Link, error) {
	l, err := retryDump(func() (netlink.Link, error) { return netlink.LinkByName(name) })
	if _, ok := err.(netlink.LinkNotFoundError); ok {
		return nil, ErrNotFound
	}
	return l, err
}
