package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/team"
)

// env is one variant's sandbox: a testbed.Bed whose namespaces are
// PREFIX-ROLE (PREFIX e.g. "tgl4242-si-dynamic"), whose files are in its
// Dir, and whose processes are Detached (own session, output to a log
// file in Dir), so that `--keep` can leave a working lab behind after the
// lab process exits. Close removes it all, Dir last.
type env struct {
	*testbed.Bed
	// team is a team name unique to this variant, short enough for an
	// interface name, e.g. "tgl4242-1"; a variant with a daemon per host
	// adds a letter.
	team string
	// self runs the lab's helpers (`self lab --helper NAME`).
	self string
	// backend is the daemons' backend ("" leaves the daemon's default).
	backend string
	// pcapDir, if set, receives a capture of each wire (see capture);
	// pcapBase (SCENARIO-VARIANT) starts the files' names.
	pcapDir, pcapBase string
}

func newEnv(prefix, team, dir, daemon, self, backend string, log io.Writer) *env {
	b := &testbed.Bed{Prefix: prefix, Dir: dir, Lifetime: testbed.Detached, Grace: 5 * time.Second, Daemon: daemon, Log: log}
	b.Defer(func() error { return os.RemoveAll(dir) })
	return &env{Bed: b, team: team, self: self, backend: backend}
}

// daemon is the spec of the variant's team (suffix "" or a letter, see
// env.team) with the given config body, checked with --check first.
func (e *env) daemon(suffix, body string) testbed.DaemonSpec {
	return testbed.DaemonSpec{Team: e.team + suffix, Config: body, Backend: e.backend, Check: true}
}

// startHelper runs one of the lab's helpers (`self lab --helper ...`) in
// ns, detached, stopped at Close.
func (e *env) startHelper(ns *testbed.NS, logName string, args ...string) (*testbed.Proc, error) {
	return e.Start(ns, logName, []string{HelperEnv + "=1"}, e.self, append([]string{"lab", "--helper"}, args...)...)
}

// runHelper runs a helper in ns to completion and returns its stdout.
func (e *env) runHelper(ctx context.Context, ns *testbed.NS, args ...string) ([]byte, error) {
	cmd := ns.Command(ctx, e.self, append([]string{"lab", "--helper"}, args...)...)
	cmd.Env = append(os.Environ(), HelperEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("helper %s in %s: %w: %s", args[0], ns.Name, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// binding returns the rx_translation binding for ip, if the team has one.
func binding(st team.State, ip string) (team.XlatEntry, bool) {
	if st.RxTranslation == nil {
		return team.XlatEntry{}, false
	}
	i := slices.IndexFunc(st.RxTranslation.Table, func(b team.XlatEntry) bool { return b.IP == ip })
	if i < 0 {
		return team.XlatEntry{}, false
	}
	return st.RxTranslation.Table[i], true
}

// vnicMACs returns the MACs the team's switch learned on a vnic, and
// whether the team has that vnic at all.
func vnicMACs(st team.State, name string) ([]string, bool) {
	i := slices.IndexFunc(st.VNICs, func(v team.VNICState) bool { return v.Name == name })
	if i < 0 {
		return nil, false
	}
	return st.VNICs[i].MACs, true
}

// memberTx returns a member's tx_packets (0 if there is no such member).
func memberTx(st team.State, name string) uint64 {
	i := slices.IndexFunc(st.Members, func(m team.MemberState) bool { return m.Name == name })
	if i < 0 {
		return 0
	}
	return st.Members[i].TxPackets
}
