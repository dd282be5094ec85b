package teamdctl

import (
	"bytes"
	"testing"
)

// The checked-in seeds under testdata/fuzz hold teamdctl's own requests
// (as seen with strace), escapes, garbage, binary bytes and long lines.

// FuzzParseRequest: no input panics; a parsed request encodes back to a
// packet that parses to the same request.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("REQUEST\nStateDump\n"))
	f.Add([]byte("REQUEST\nPortConfigUpdate\ne1\n{\\n \"prio\": 5}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			return
		}
		again, err := ParseRequest(AppendRequest(nil, req.Method, req.Args...))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b, err)
		}
		if again.Method != req.Method || len(again.Args) != len(req.Args) {
			t.Fatalf("round trip %+v -> %+v", req, again)
		}
		for i := range req.Args {
			if again.Args[i] != req.Args[i] {
				t.Fatalf("arg %d: %q -> %q", i, req.Args[i], again.Args[i])
			}
		}
	})
}

// FuzzHandle drives every method with arbitrary packets against a fake
// team: the answer is always exactly one well-formed reply.
func FuzzHandle(f *testing.F) {
	f.Add([]byte("REQUEST\nStateItemValueGet\nports.\"eth1\".link.up\n"))
	f.Add([]byte("REQUEST\nStateItemValueSet\nrunner.active_port\neth2\n"))
	f.Add([]byte("REQUEST\nPortConfigUpdate\neth1\n{\"prio\": 1, \"sticky\": 1}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fb := newFakeBackend("activebackup")
		out := Handle(fb, b, nil)
		if !bytes.HasPrefix(out, []byte("REPLY_SUCCESS\n")) && !bytes.HasPrefix(out, []byte("REPLY_ERROR\n")) {
			t.Fatalf("reply %q", out)
		}
		if _, err := ParseReply(out); err != nil {
			if e, ok := err.(*Error); !ok || e.Code == "" || e.Message == "" {
				t.Fatalf("reply %q: %v", out, err)
			}
		}
	})
}
