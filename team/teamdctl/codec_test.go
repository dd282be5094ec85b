package teamdctl

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Request
		err  error
	}{
		{"no args", "REQUEST\nStateDump\n", Request{Method: "StateDump"}, nil},
		{"two args", "REQUEST\nStateItemValueSet\nrunner.active_port\neth2\n", Request{"StateItemValueSet", []string{"runner.active_port", "eth2"}}, nil},
		{"no final newline", "REQUEST\nPortAdd\neth3", Request{"PortAdd", []string{"eth3"}}, nil},
		{"empty lines skipped", "\nREQUEST\n\nPortAdd\n\n\neth3\n\n", Request{"PortAdd", []string{"eth3"}}, nil},
		// What teamdctl sent for `port config update e1 '{<newline> "prio": 5}'`.
		{"escaped newline", "REQUEST\nPortConfigUpdate\ne1\n{\\n \"prio\": 5}\n", Request{"PortConfigUpdate", []string{"e1", "{\n \"prio\": 5}"}}, nil},
		{"escaped backslash", "REQUEST\nPortAdd\na\\\\b\n", Request{"PortAdd", []string{`a\b`}}, nil},
		{"empty", "", Request{}, ErrNotRequest},
		{"garbage", "\x00\xff\x13garbage", Request{}, ErrNotRequest},
		{"lowercase keyword", "request\nStateDump\n", Request{}, ErrNotRequest},
		{"keyword only", "REQUEST\n", Request{}, ErrNoMethod},
		{"bad escape", "REQUEST\nPortAdd\na\\tb\n", Request{}, ErrBadEscape},
		{"trailing backslash", "REQUEST\nPortAdd\nab\\\n", Request{}, ErrBadEscape},
		{"too many args", "REQUEST\nX\n1\n2\n3\n4\n5\n6\n7\n8\n9\n", Request{}, ErrTooManyArgs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestRequestRoundTrip(t *testing.T) {
	args := []string{"eth1", "{\n\t\"prio\": 5,\n \"x\": \"a\\\\b\\n\"\n}"}
	b := AppendRequest(nil, "PortConfigUpdate", args...)
	got, err := ParseRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Request{"PortConfigUpdate", args}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestReplies(t *testing.T) {
	// A success needs the newline after the keyword even without payload:
	// teamdctl crashes on a bare REPLY_SUCCESS.
	if got := string(AppendSuccess(nil, nil)); got != "REPLY_SUCCESS\n" {
		t.Errorf("empty success %q", got)
	}
	if got := string(AppendSuccess(nil, []byte("eth1"))); got != "REPLY_SUCCESS\neth1" {
		t.Errorf("success %q", got)
	}
	got := string(AppendError(nil, CodeNoSuchDev, "no such\ndevice"))
	if want := "REPLY_ERROR\nNoSuchDev\nno such device\n"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	p, err := ParseReply([]byte("REPLY_SUCCESS\n{}"))
	if err != nil || string(p) != "{}" {
		t.Errorf("ParseReply success = %q, %v", p, err)
	}
	_, err = ParseReply([]byte(got))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNoSuchDev || e.Message != "no such device" {
		t.Errorf("ParseReply error = %v", err)
	}
	if _, err := ParseReply([]byte("HELLO")); err == nil || errors.As(err, &e) && e.Code != "" {
		t.Errorf("ParseReply(HELLO) = %v", err)
	}
}
