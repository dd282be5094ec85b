package testbed

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WaitFor polls cond every 100 ms until it returns nil, ctx ends or
// timeout passes, and returns cond's last error then; an error made by
// GiveUp ends it at once. The timeout is a liveness bound, not a
// performance threshold.
func WaitFor(ctx context.Context, timeout time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		var g giveUp
		if errors.As(err, &g) {
			return g.err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v: %w", timeout, err)
		case <-t.C:
		}
	}
}

// Sleep waits for d or until ctx is done, and reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// GiveUp makes cond's err final: WaitFor returns it without waiting on.
func GiveUp(err error) error { return giveUp{err} }

type giveUp struct{ err error }

func (g giveUp) Error() string { return g.err.Error() }
func (g giveUp) Unwrap() error { return g.err }
