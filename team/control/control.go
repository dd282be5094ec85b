// Package control is the daemon's control socket: a Unix stream socket
// (mode 0600) at /run/teamd-go/TEAM.sock speaking one JSON request and one
// JSON response per connection. `teamd-go ctl` is its client.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
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

// Server serves a control socket.
type Server struct {
	ln   net.Listener
	h    Handler
	log  *slog.Logger
	wg   sync.WaitGroup
	path string
}

// Listen creates the socket (replacing a stale one), mode 0600.
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another teamd-go serves this team", path)
	}
	_ = os.Remove(path)
	// Create the socket with no permissions for group and others, so
	// there is no window in which it is world-accessible.
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{ln: ln, h: h, log: log, path: path}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Close stops serving and removes the socket.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	_ = os.Remove(s.path)
	return err
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
		}()
	}
}

func (s *Server) handle(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	var req Request
	dec := json.NewDecoder(bufio.NewReader(c))
	resp := Response{}
	if err := dec.Decode(&req); err != nil {
		resp.Error = "bad request: " + err.Error()
	} else {
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
		s.log.Debug("control request", "cmd", req.Cmd, "args", req.Args, "ok", resp.OK)
	}
	_ = json.NewEncoder(c).Encode(resp)
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
