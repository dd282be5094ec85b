package control

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReadRequest: any bytes give a request within the bounds or an
// error of the protocol, never a panic.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		`{"cmd": "state"}`,
		`{"cmd": "port", "args": ["add", "eth3"]}`,
		`{"cmd": "mac", "args": ["forget", "02:00:00:00:00:01"]}`,
		`{"cmd": "state", "args": null}`,
		`{"cmd": ""}`,
		`{"cmd": "state"}{"cmd": "reload"}`,
		`[1, 2]`,
		`{"cmd": "\u0000"}`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ReadRequest(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrRequestTooLarge) {
				t.Fatalf("error %v wraps neither ErrBadRequest nor ErrRequestTooLarge", err)
			}
			return
		}
		if req.Cmd == "" || len(req.Cmd) > MaxCmdLen || len(req.Args) > MaxArgs {
			t.Fatalf("accepted %+v", req)
		}
		for _, a := range req.Args {
			if len(a) > MaxArgLen {
				t.Fatalf("accepted an argument of %d bytes", len(a))
			}
		}
	})
}
