package teamdctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/team/config"
)

// ErrNoSuchDev is returned by a Backend for an interface that does not
// exist on the host (PortAdd) or is not a member (the other methods).
var ErrNoSuchDev = errors.New("no such device")

// Backend is the running team the methods read and change. The daemon
// implements it with the same validated path as `teamd-go ctl port` and
// reload: a change that is refused leaves the team as it was.
type Backend interface {
	Snapshot() (Snapshot, error)
	PortAdd(dev string) error
	PortRemove(dev string) error
	// PortConfigUpdate replaces member dev's teamd port settings (prio,
	// sticky, lacp_prio, lacp_key) with those of m and keeps its others,
	// in one team operation (team.UpdateMember): a concurrent change of
	// the others is not lost.
	PortConfigUpdate(dev string, m config.Member) error
	SetActivePort(dev string) error
}

// methodArgs is the number of arguments of each method.
var methodArgs = map[string]int{
	"ConfigDump":        0,
	"ConfigDumpActual":  0,
	"StateDump":         0,
	"StateItemValueGet": 1,
	"StateItemValueSet": 2,
	"PortAdd":           1,
	"PortRemove":        1,
	"PortConfigUpdate":  2,
	"PortConfigDump":    1,
}

// Handle answers one request packet with one reply packet (appended to
// out). It never fails: what goes wrong is an error reply.
func Handle(b Backend, pkt []byte, out []byte) []byte {
	req, err := ParseRequest(pkt)
	if err != nil {
		return AppendError(out, CodeInvalidArgs, err.Error())
	}
	n, ok := methodArgs[req.Method]
	if !ok {
		return AppendError(out, CodeUnknownMethod, fmt.Sprintf("unknown method %q", truncate([]byte(req.Method), 64)))
	}
	if len(req.Args) != n {
		return AppendError(out, CodeInvalidArgs, fmt.Sprintf("%s takes %d argument(s), got %d", req.Method, n, len(req.Args)))
	}
	payload, err := call(b, req)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Code: CodeInvalidArgs, Message: err.Error()}
		}
		return AppendError(out, e.Code, e.Message)
	}
	return AppendSuccess(out, payload)
}

func fail(code string, err error) error {
	if errors.Is(err, ErrNoSuchDev) || errors.Is(err, team.ErrNoSuchPort) {
		code = CodeNoSuchDev
	}
	return &Error{Code: code, Message: err.Error()}
}

func marshal(v any) ([]byte, error) { return json.MarshalIndent(v, "", "    ") }

func call(b Backend, req Request) ([]byte, error) {
	arg := func(i int) string { return req.Args[i] }
	snap := func(code string) (*Snapshot, error) {
		s, err := b.Snapshot()
		if err != nil {
			return nil, fail(code, err)
		}
		return &s, nil
	}
	switch req.Method {
	case "ConfigDump", "ConfigDumpActual":
		code, actual := CodeConfigDumpFail, req.Method == "ConfigDumpActual"
		if actual {
			code = CodeConfigDumpActualFail
		}
		s, err := snap(code)
		if err != nil {
			return nil, err
		}
		var present []string
		if actual {
			present = []string{}
			for _, m := range s.State.Members {
				present = append(present, m.Name)
			}
		}
		out, err := marshal(ConfigTree(&s.Config, present))
		if err != nil {
			return nil, fail(code, err)
		}
		return out, nil
	case "StateDump":
		s, err := snap(CodeStateDumpFail)
		if err != nil {
			return nil, err
		}
		out, err := marshal(StateTree(s))
		if err != nil {
			return nil, fail(CodeStateDumpFail, err)
		}
		return out, nil
	case "StateItemValueGet":
		s, err := snap(CodeItemValueGetFail)
		if err != nil {
			return nil, err
		}
		v, err := Lookup(StateTree(s), arg(0))
		if err != nil {
			return nil, &Error{Code: CodePathDoesNotExist, Message: err.Error()}
		}
		return []byte(v), nil
	case "StateItemValueSet":
		return nil, setItem(b, arg(0), arg(1))
	case "PortAdd":
		if err := b.PortAdd(arg(0)); err != nil {
			return nil, fail(CodePortAddFail, err)
		}
		return nil, nil
	case "PortRemove":
		if err := b.PortRemove(arg(0)); err != nil {
			return nil, fail(CodePortRemoveFail, err)
		}
		return nil, nil
	case "PortConfigUpdate":
		s, err := snap(CodeConfigUpdateFail)
		if err != nil {
			return nil, err
		}
		if member(&s.Config, arg(0)) == nil {
			return nil, fail(CodeNoSuchDev, fmt.Errorf("%q is not a port of %s: %w", arg(0), s.Config.Team, ErrNoSuchDev))
		}
		m, err := ParsePortConfig(s.Config.Team, arg(0), arg(1))
		if err != nil {
			return nil, &Error{Code: CodeConfigUpdateFail, Message: err.Error()}
		}
		if err := b.PortConfigUpdate(arg(0), m); err != nil {
			return nil, fail(CodeConfigUpdateFail, err)
		}
		return nil, nil
	case "PortConfigDump":
		s, err := snap(CodeConfigDumpFail)
		if err != nil {
			return nil, err
		}
		m := member(&s.Config, arg(0))
		if m == nil {
			return nil, fail(CodeNoSuchDev, fmt.Errorf("%q is not a port of %s: %w", arg(0), s.Config.Team, ErrNoSuchDev))
		}
		out, err := marshal(portTree(m))
		if err != nil {
			return nil, fail(CodeConfigDumpFail, err)
		}
		return out, nil
	}
	return nil, &Error{Code: CodeUnknownMethod, Message: req.Method}
}

func member(c *config.Config, name string) *config.Member {
	for i := range c.Members {
		if c.Members[i].Name == name {
			return &c.Members[i]
		}
	}
	return nil
}

// setItem is StateItemValueSet. As in teamd, only runner.active_port of
// an active-backup team does something; setup.debug_level and the lacp
// aggregator's selected flag, writable in teamd, answer OpNotSupp with the
// reason; every other existing leaf answers OpNotSupp, a path that names
// nothing PathDoesNotExist.
func setItem(b Backend, path, value string) error {
	s, err := b.Snapshot()
	if err != nil {
		return fail(CodeItemValueSetFail, err)
	}
	tree := StateTree(&s)
	if _, err := Lookup(tree, path); err != nil {
		return &Error{Code: CodePathDoesNotExist, Message: err.Error()}
	}
	keys, _ := splitPath(path)
	switch {
	case len(keys) == 2 && keys[0] == "runner" && keys[1] == "active_port":
		if err := b.SetActivePort(value); err != nil {
			return &Error{Code: CodeItemValueSetFail, Message: err.Error()}
		}
		return nil
	case len(keys) == 2 && keys[0] == "setup" && keys[1] == "debug_level":
		return &Error{Code: CodeOpNotSupp, Message: "setup.debug_level: teamd-go's log level is chosen when it starts"}
	case len(keys) == 5 && keys[0] == "ports" && strings.Join(keys[2:], ".") == "runner.aggregator.selected":
		return &Error{Code: CodeOpNotSupp, Message: path + ": teamd-go selects the aggregator by LACP priority only"}
	}
	return &Error{Code: CodeOpNotSupp, Message: path + " is read-only"}
}
