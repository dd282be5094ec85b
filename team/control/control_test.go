package control

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.sock")
	s, err := Listen(path, func(_ context.Context, cmd string, args []string) (any, error) {
		switch cmd {
		case "echo":
			return args, nil
		case "fail":
			return nil, errors.New("members[0].name: no such interface")
		}
		return nil, ErrUnknownCommand
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	res, err := Call(path, "echo", "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := json.Unmarshal(res, &got); err != nil || strings.Join(got, ",") != "a,b" {
		t.Fatalf("echo = %s, %v", res, err)
	}
	if _, err := Call(path, "fail"); err == nil || !strings.Contains(err.Error(), "members[0].name") {
		t.Fatalf("fail = %v", err)
	}
	if _, err := Listen(path, nil, nil); err == nil {
		t.Fatal("a second server on a live socket was allowed")
	}
}

// rawCall sends body as it is on a new connection and returns the
// decoded response (a liveness bound, not a timing check).
func rawCall(t *testing.T, path string, body []byte) Response {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	go func() { _, _ = c.Write(body) }() // the server may stop reading early
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		t.Fatalf("no response: %v", err)
	}
	return resp
}

func echoServer(t *testing.T) (string, *Server, *atomic.Int32) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.sock")
	var calls atomic.Int32
	s, err := Listen(path, func(_ context.Context, cmd string, args []string) (any, error) {
		calls.Add(1)
		if cmd == "echo" {
			return args, nil
		}
		return nil, ErrUnknownCommand
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path, s, &calls
}

// TestBadRequests: what the server refuses, each with a clear error and
// without calling the handler.
func TestBadRequests(t *testing.T) {
	path, _, calls := echoServer(t)
	big := `{"cmd": "echo", "args": ["` + strings.Repeat("x", 10<<20) + `"]}`
	tests := []struct {
		name, body, want string
	}{
		{"10 MB", big, "request too large: more than 1048576 bytes (1 MiB)"},
		{"not JSON", "hello\n", "bad request: invalid character 'h'"},
		{"unknown field", `{"cmd": "echo", "argz": ["a"]}`, `bad request: json: unknown field "argz"`},
		{"no cmd", `{"args": ["a"]}`, "bad request: no cmd"},
		{"odd cmd", `{"cmd": "st ate"}`, `bad request: cmd "st ate": want a plain word`},
		{"long cmd", `{"cmd": "` + strings.Repeat("s", 65) + `"}`, "bad request: cmd is 65 bytes; at most 64"},
		{"10000 args", `{"cmd": "echo", "args": [` + strings.TrimSuffix(strings.Repeat(`"j",`, 10000), ",") + `]}`, "bad request: 10000 arguments; a command takes at most 16"},
		{"long arg", `{"cmd": "echo", "args": ["` + strings.Repeat("a", 5000) + `"]}`, "bad request: argument 1 is 5000 bytes; at most 4096"},
		{"args not strings", `{"cmd": "echo", "args": [1]}`, "bad request: json: cannot unmarshal number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawCall(t, path, []byte(tc.body))
			if resp.OK || !strings.HasPrefix(resp.Error, tc.want) {
				t.Errorf("response %+v, want error %q...", resp, tc.want)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the handler ran %d times for refused requests", n)
	}
	if res, err := Call(path, "echo", "still", "fine"); err != nil || string(res) != `["still","fine"]` {
		t.Errorf("a good request after the bad ones: %s, %v", res, err)
	}
}

// TestConnectionLimit: MaxConns silent clients hold every slot; the next
// one is told the server is busy at once; a slot held by a client that
// never sends is given back after ReadTimeout.
func TestConnectionLimit(t *testing.T) {
	path, _, _ := echoServer(t)
	var idle []net.Conn
	for range MaxConns {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	// The server takes a slot when it accepts; until it accepted all of
	// the idle connections a new one may still be served.
	var resp Response
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp = rawCall(t, path, []byte(`{"cmd": "echo"}`))
		if !resp.OK || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp.OK || !strings.HasPrefix(resp.Error, "busy: 8 control connections are being served") {
		t.Fatalf("with every slot taken: %+v", resp)
	}
	// Each idle client is answered once its ReadTimeout passed, and
	// its slot is free again.
	for _, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(ReadTimeout + 10*time.Second))
		var r Response
		if err := json.NewDecoder(c).Decode(&r); err != nil || !strings.Contains(r.Error, "no complete request within 5s") {
			t.Fatalf("idle client: %+v, %v", r, err)
		}
	}
	if _, err := Call(path, "echo"); err != nil {
		t.Errorf("after the idle clients timed out: %v", err)
	}
}

// TestSecondServer: a daemon starting for a team another daemon serves
// (the same team name in another network namespace) is refused with an
// error naming the socket, and the first keeps its socket; a stale socket
// file (its daemon was killed) is replaced; Close removes only the
// server's own file.
func TestSecondServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "team0.sock")
	echo := func(_ context.Context, cmd string, _ []string) (any, error) { return cmd, nil }
	// A stale socket file.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s, err := Listen(path, echo, nil)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer s.Close()
	for _, f := range []func() error{
		func() error { _, err := Listen(path, echo, nil); return err },
		func() error { return CheckFree(path) },
	} {
		err := f()
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another daemon serves this team") {
			t.Errorf("second server on a live socket: %v", err)
		}
	}
	if _, err := Call(path, "state"); err != nil {
		t.Errorf("the first server lost its socket: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Close: %v", err)
	}
}
