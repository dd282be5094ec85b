// Package teamdctl serves teamd's own control protocol, so that libteam's
// `teamdctl TEAM ...` works unchanged against a teamd-go team.
//
// teamd listens on an AF_UNIX SOCK_SEQPACKET socket at
// /var/run/teamd/TEAM.sock. A client connects once and sends requests one
// after another, waiting for each reply; each request and each reply is
// exactly one packet:
//
//	request   REQUEST\n METHOD\n ARG\n ARG\n ...
//	success   REPLY_SUCCESS\n PAYLOAD            (payload raw, may be empty)
//	error     REPLY_ERROR\n CODE\n MESSAGE\n
//
// Arguments are escaped: a newline inside one is sent as backslash-n, a
// backslash as two backslashes; no other escape exists. Empty lines are
// skipped by both sides, so an argument is never empty. Where teamd stays
// silent (a packet that is not a request, an unknown method), this server
// answers with an error: teamdctl prints it instead of timing out.
//
// The protocol facts are from libteam's sources and from running Debian's
// teamdctl 1.31 against a test server (see the project's
// teamd-protocol notes); no libteam code is used.
//
// Files: codec.go (packets), server_linux.go (the socket), methods.go (the
// nine methods), tree.go (teamd's state tree of a teamd-go team), json.go
// (teamd's config JSON).
package teamdctl

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Keywords of the protocol.
const (
	keyRequest = "REQUEST"
	keySuccess = "REPLY_SUCCESS"
	keyError   = "REPLY_ERROR"
)

// MaxArgs bounds the arguments of a request; teamd's methods take at most
// two.
const MaxArgs = 8

// Errors of ParseRequest.
var (
	// ErrNotRequest means a packet does not start with the REQUEST line.
	ErrNotRequest = errors.New("not a teamd request: the first line must be REQUEST")
	// ErrNoMethod means a request names no method.
	ErrNoMethod = errors.New("request names no method")
	// ErrBadEscape means an argument holds a backslash sequence other
	// than \n and \\.
	ErrBadEscape = errors.New("bad escape in argument (only \\n and \\\\ exist)")
	// ErrTooManyArgs means a request has more than MaxArgs arguments.
	ErrTooManyArgs = errors.New("too many arguments")
)

// Request is one parsed request.
type Request struct {
	Method string
	Args   []string
}

// lines splits b at newlines, skipping empty lines, as teamd does.
func lines(b []byte) []string {
	var out []string
	for _, l := range bytes.Split(b, []byte{'\n'}) {
		if len(l) > 0 {
			out = append(out, string(l))
		}
	}
	return out
}

// ParseRequest reads one request packet.
func ParseRequest(b []byte) (Request, error) {
	ls := lines(b)
	if len(ls) == 0 || ls[0] != keyRequest {
		return Request{}, ErrNotRequest
	}
	if len(ls) < 2 {
		return Request{}, ErrNoMethod
	}
	req := Request{Method: ls[1]}
	if len(ls)-2 > MaxArgs {
		return Request{}, fmt.Errorf("%w: %d, at most %d", ErrTooManyArgs, len(ls)-2, MaxArgs)
	}
	for i, l := range ls[2:] {
		a, err := unescape(l)
		if err != nil {
			return Request{}, fmt.Errorf("argument %d: %w", i+1, err)
		}
		req.Args = append(req.Args, a)
	}
	return req, nil
}

// AppendRequest encodes a request as teamdctl does.
func AppendRequest(b []byte, method string, args ...string) []byte {
	b = append(b, keyRequest+"\n"...)
	b = append(b, method...)
	b = append(b, '\n')
	for _, a := range args {
		b = append(b, escape(a)...)
		b = append(b, '\n')
	}
	return b
}

func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return "", ErrBadEscape
		}
		i++
		switch s[i] {
		case 'n':
			sb.WriteByte('\n')
		case '\\':
			sb.WriteByte('\\')
		default:
			return "", ErrBadEscape
		}
	}
	return sb.String(), nil
}

// Error is an error reply: one of teamd's codes and a message.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Error codes. All but UnknownMethod, TooMany and PermissionDenied are
// teamd's.
const (
	CodeInvalidArgs          = "InvalidArgs"
	CodeNoSuchDev            = "NoSuchDev"
	CodePortAddFail          = "PortAddFail"
	CodePortRemoveFail       = "PortRemoveFail"
	CodeConfigUpdateFail     = "ConfigUpdateFail"
	CodeConfigDumpFail       = "ConfigDumpFail"
	CodeConfigDumpActualFail = "ConfigDumpActualFail"
	CodeStateDumpFail        = "StateDumpFail"
	CodePathDoesNotExist     = "PathDoesNotExist"
	CodeItemValueGetFail     = "ItemValueGetFail"
	CodeOpNotSupp            = "OpNotSupp"
	CodeItemValueSetFail     = "ItemValueSetFail"
	// CodeUnknownMethod answers a method teamd does not have (teamd
	// itself does not answer at all).
	CodeUnknownMethod = "UnknownMethod"
	// CodeTooMany answers a connection over the limit, or a request
	// larger than the limit.
	CodeTooMany = "TooMany"
	// CodePermissionDenied answers a client that is neither root nor the
	// daemon's user.
	CodePermissionDenied = "PermissionDenied"
)

// AppendSuccess encodes a success reply.
func AppendSuccess(b, payload []byte) []byte {
	b = append(b, keySuccess+"\n"...)
	return append(b, payload...)
}

// AppendError encodes an error reply. Newlines in the message would end it
// early; they become spaces.
func AppendError(b []byte, code, msg string) []byte {
	b = append(b, keyError+"\n"...)
	b = append(b, strings.ReplaceAll(code, "\n", " ")...)
	b = append(b, '\n')
	b = append(b, strings.ReplaceAll(msg, "\n", " ")...)
	return append(b, '\n')
}

// ParseReply reads a reply packet: the payload of a success, or an *Error.
func ParseReply(b []byte) ([]byte, error) {
	if rest, ok := bytes.CutPrefix(b, []byte(keySuccess+"\n")); ok {
		return rest, nil
	}
	if rest, ok := bytes.CutPrefix(b, []byte(keyError+"\n")); ok {
		ls := lines(rest)
		e := &Error{}
		if len(ls) > 0 {
			e.Code = ls[0]
		}
		if len(ls) > 1 {
			e.Message = ls[1]
		}
		return nil, e
	}
	return nil, fmt.Errorf("unsupported reply %q", truncate(b, 40))
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
