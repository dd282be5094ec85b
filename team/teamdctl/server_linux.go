//go:build linux

package teamdctl

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/internal/sockfile"
)

// Server serves teamd's protocol on one socket.
type Server struct {
	ln   *net.UnixListener
	b    Backend
	log  *slog.Logger
	o    Options
	path string
	own  sockfile.Owner
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[*net.UnixConn]struct{}
	done  bool
	// lingering bounds the refused connections kept open (see refuse).
	lingering chan struct{}
}

// Listen creates the socket at path, mode 0600 (a stale one left by a
// killed daemon is replaced; one that answers is not), and serves it.
func Listen(path string, b Backend, log *slog.Logger, o Options) (*Server, error) {
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	if o.MaxRequest <= 0 {
		o.MaxRequest = 64 << 10
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 10 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	release, err := sockfile.Claim(path, "unixpacket")
	if err != nil {
		return nil, claimError(path, err)
	}
	defer release()
	// No window in which the socket is reachable by others.
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("teamd socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // Close removes it, after the last connection
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("teamd socket: %w", err)
	}
	own := sockfile.Own(path)
	s := &Server{ln: ln, b: b, log: log, o: o, path: path, own: own, conns: map[*net.UnixConn]struct{}{}, lingering: make(chan struct{}, 16)}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops serving, closes every connection and removes the socket.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	err := s.ln.Close()
	s.mu.Lock()
	s.done = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if rerr := s.own.Remove(); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("teamd socket: accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if code, why := s.admit(c); code != "" {
			s.refuse(c, code, why)
			continue
		}
		s.wg.Add(1)
		go s.serve(c)
	}
}

// refuse answers c with an error and closes it. The error is sent at
// once; while few refusals are pending, c stays open until the client's
// first packet (at most lingerRefused), so that the client reads the
// error as its reply instead of a reset connection.
func (s *Server) refuse(c *net.UnixConn, code, why string) {
	s.log.Warn("teamd socket: client refused", "reason", why)
	_, _ = c.Write(AppendError(nil, code, why))
	select {
	case s.lingering <- struct{}{}:
	default:
		c.Close()
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.lingering }()
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(lingerRefused))
		var b [64]byte
		_, _, _, _, _ = c.ReadMsgUnix(b[:], nil)
	}()
}

// lingerRefused bounds how long a refused connection is kept open.
const lingerRefused = time.Second

// admit checks the peer (root or the daemon's own user) and the
// connection limit, and registers c.
func (s *Server) admit(c *net.UnixConn) (code, why string) {
	uid, err := peerUID(c)
	if err != nil {
		return CodePermissionDenied, "cannot read the client's credentials: " + err.Error()
	}
	if uid != 0 && uid != os.Geteuid() {
		return CodePermissionDenied, fmt.Sprintf("uid %d may not control this team", uid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return CodeTooMany, "the daemon is stopping"
	}
	if len(s.conns) >= s.o.MaxConns {
		return CodeTooMany, fmt.Sprintf("too many connections (at most %d)", s.o.MaxConns)
	}
	s.conns[c] = struct{}{}
	return "", ""
}

func peerUID(c *net.UnixConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if cerr != nil {
		return -1, cerr
	}
	return int(cred.Uid), nil
}

// serve answers the requests of one connection until EOF, an error or
// the idle timeout.
func (s *Server) serve(c *net.UnixConn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	buf := make([]byte, s.o.MaxRequest)
	var out []byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(s.o.IdleTimeout))
		n, _, flags, _, err := c.ReadMsgUnix(buf, nil)
		if err != nil || (n == 0 && flags == 0) {
			return // EOF, timeout or closed
		}
		if flags&unix.MSG_TRUNC != 0 {
			out = AppendError(out[:0], CodeTooMany, fmt.Sprintf("request larger than %d bytes", s.o.MaxRequest))
		} else {
			out = Handle(s.b, buf[:n], out[:0])
		}
		if _, err := c.Write(out); err != nil {
			if !errors.Is(err, syscall.EMSGSIZE) {
				return
			}
			// The whole reply must be one packet; it does not fit.
			msg := fmt.Sprintf("reply of %d bytes does not fit one packet", len(out))
			if _, err := c.Write(AppendError(nil, CodeStateDumpFail, msg)); err != nil {
				return
			}
		}
	}
}

// CheckFree tells, changing nothing, whether Listen(path) would find the
// path free (or a stale socket there): a daemon checks before it touches
// its interfaces.
func CheckFree(path string) error {
	if err := sockfile.Check(path, "unixpacket"); err != nil {
		return claimError(path, err)
	}
	return nil
}

func claimError(path string, err error) error {
	if errors.Is(err, sockfile.ErrInUse) {
		return fmt.Errorf("teamd socket %s: another daemon serves this team (%w); "+
			"a second team of this name needs its own --teamd-socket-dir", path, err)
	}
	return fmt.Errorf("teamd socket: %w", err)
}
