// Package control is the daemon's control socket: a Unix stream socket
// (mode 0600) at /run/teamd-go/TEAM.sock speaking one JSON request and one
// JSON response per connection. `teamd-go ctl` is its client.
//
// The server is bounded whatever a client does: a request is at most
// MaxRequest bytes and must arrive within ReadTimeout, at most MaxConns
// connections are served at once (more are answered "busy" and closed),
// and a request with unknown fields, an odd command or more than MaxArgs
// arguments is refused with a message saying which. Each refusal is an
// ordinary error response; the team is not touched.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/teamd-go/teamd-go/internal/sockfile"
)

// Dir is where control sockets live.
var Dir = "/run/teamd-go"

// SocketPath returns the control socket of a team.
func SocketPath(team string) string { return filepath.Join(Dir, team+".sock") }

// Request is what a client sends.
type Request struct {
	Cmd  string   `json:"cmd"`
	Args []string `json:"args,omitempty"`
}

// Response is what the server answers. Result is the command's JSON.
type Response struct {
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// Handler executes one command. The returned value is encoded as JSON.
type Handler func(ctx context.Context, cmd string, args []string) (any, error)

// ErrUnknownCommand is returned for a command the server does not know.
var ErrUnknownCommand = errors.New("unknown command")

// Bounds of the control protocol.
const (
	// MaxRequest is the largest request read, in bytes.
	MaxRequest = 1 << 20
	// MaxConns is how many connections are served at once.
	MaxConns = 8
	// MaxArgs and MaxArgLen bound a request's arguments; MaxCmdLen its
	// command.
	MaxArgs   = 16
	MaxArgLen = 4096
	MaxCmdLen = 64
	// ReadTimeout is how long a client has to send its request.
	ReadTimeout = 5 * time.Second
	// writeTimeout is how long a client has to take the response.
	writeTimeout = 10 * time.Second
)

// Errors of a request the server refuses (wrapped with details).
var (
	// ErrRequestTooLarge: more than MaxRequest bytes.
	ErrRequestTooLarge = errors.New("request too large")
	// ErrBadRequest: not one JSON request object of the protocol.
	ErrBadRequest = errors.New("bad request")
	// ErrBusy: MaxConns connections are being served already.
	ErrBusy = errors.New("busy")
)

// Server serves a control socket.
type Server struct {
	ln   net.Listener
	h    Handler
	log  *slog.Logger
	wg   sync.WaitGroup
	path string
	own  sockfile.Owner
	// slots holds one token per connection being served.
	slots chan struct{}
	// refusedLogged rate-limits the log of refused requests.
	mu            sync.Mutex
	refusedLogged time.Time
	refused       int
}

// Listen creates the socket, mode 0600. A stale socket file (its daemon
// was killed) is replaced; a socket another daemon answers on is not
// touched, and Listen fails with an error naming its path.
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
	release, err := sockfile.Claim(path, "unix")
	if err != nil {
		return nil, claimError(path, err)
	}
	defer release()
	// Create the socket with no permissions for group and others, so
	// there is no window in which it is world-accessible.
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Close removes the file, and only if it is still this socket's.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	own := sockfile.Own(path)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{ln: ln, h: h, log: log, path: path, own: own, slots: make(chan struct{}, MaxConns)}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Close stops serving and removes the socket.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	_ = s.own.Remove()
	return err
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		select {
		case s.slots <- struct{}{}:
		default:
			// Answered at once, nothing read: a busy server must not
			// queue work. The answer fits in the socket buffer, so
			// this does not block the accept loop.
			s.refuse(c, fmt.Errorf("%w: %d control connections are being served; try again", ErrBusy, MaxConns))
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			s.handle(c)
		}()
	}
}

// refuse answers err on c and closes it.
func (s *Server) refuse(c net.Conn, err error) {
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_ = json.NewEncoder(c).Encode(Response{Error: err.Error()})
	c.Close()
	s.logRefused(err)
}

// logRefused logs refused requests at most every 10 s, with a count.
func (s *Server) logRefused(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused++
	if time.Since(s.refusedLogged) < 10*time.Second {
		return
	}
	s.log.Warn("control request refused", "err", err, "refused_since_last_log", s.refused)
	s.refusedLogged, s.refused = time.Now(), 0
}

func (s *Server) handle(c net.Conn) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(ReadTimeout))
	req, err := ReadRequest(c)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = fmt.Errorf("%w: no complete request within %s", ErrBadRequest, ReadTimeout)
		}
		s.refuse(c, err)
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	resp := Response{}
	res, err := s.h(context.Background(), req.Cmd, req.Args)
	if err != nil {
		resp.Error = err.Error()
	} else {
		raw, err := json.Marshal(res)
		if err != nil {
			resp.Error = "encode result: " + err.Error()
		} else {
			resp.OK, resp.Result = true, raw
		}
	}
	s.log.Debug("control request", "cmd", req.Cmd, "args", len(req.Args), "ok", resp.OK)
	_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_ = json.NewEncoder(c).Encode(resp)
}

// ReadRequest reads one request from r: a JSON object with cmd and
// optional args, at most MaxRequest bytes, no other fields, a command of
// at most MaxCmdLen printable ASCII characters, at most MaxArgs
// arguments of at most MaxArgLen bytes each. Errors wrap
// ErrRequestTooLarge or ErrBadRequest and say what is wrong.
func ReadRequest(r io.Reader) (Request, error) {
	lr := &io.LimitedReader{R: r, N: MaxRequest + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		if lr.N <= 0 {
			return Request{}, fmt.Errorf("%w: more than %d bytes (1 MiB)", ErrRequestTooLarge, MaxRequest)
		}
		var ne net.Error
		if errors.As(err, &ne) {
			return Request{}, err
		}
		return Request{}, fmt.Errorf("%w: %v (want one JSON object like {\"cmd\": \"state\"})", ErrBadRequest, err)
	}
	switch {
	case req.Cmd == "":
		return Request{}, fmt.Errorf("%w: no cmd", ErrBadRequest)
	case len(req.Cmd) > MaxCmdLen:
		return Request{}, fmt.Errorf("%w: cmd is %d bytes; at most %d", ErrBadRequest, len(req.Cmd), MaxCmdLen)
	case strings.ContainsFunc(req.Cmd, func(r rune) bool { return r <= ' ' || r > '~' }):
		return Request{}, fmt.Errorf("%w: cmd %q: want a plain word like state", ErrBadRequest, req.Cmd)
	case len(req.Args) > MaxArgs:
		return Request{}, fmt.Errorf("%w: %d arguments; a command takes at most %d", ErrBadRequest, len(req.Args), MaxArgs)
	}
	for i, a := range req.Args {
		if len(a) > MaxArgLen {
			return Request{}, fmt.Errorf("%w: argument %d is %d bytes; at most %d", ErrBadRequest, i+1, len(a), MaxArgLen)
		}
	}
	return req, nil
}

// Call sends one request to the socket at path and returns the result.
// A command that failed on the server returns its message as the error.
func Call(path, cmd string, args ...string) (json.RawMessage, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("connect to %s (is the team running?): %w", path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(90 * time.Second))
	if err := json.NewEncoder(c).Encode(Request{Cmd: cmd, Args: args}); err != nil {
		return nil, err
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if !resp.OK {
		return nil, errors.New(resp.Error)
	}
	return resp.Result, nil
}

// Teams lists the teams that have a socket in Dir.
func Teams() []string {
	ents, _ := os.ReadDir(Dir)
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".sock"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// CheckFree tells, changing nothing, whether Listen(path) would find the
// path free (or a stale socket there): a daemon checks before it touches
// its interfaces.
func CheckFree(path string) error {
	if err := sockfile.Check(path, "unix"); err != nil {
		return claimError(path, err)
	}
	return nil
}

func claimError(path string, err error) error {
	if errors.Is(err, sockfile.ErrInUse) {
		return fmt.Errorf("control socket %s: another daemon serves this team (%w); "+
			"a second team of this name needs its own --socket-dir", path, err)
	}
	return fmt.Errorf("control socket: %w", err)
}
