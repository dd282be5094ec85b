package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/team/control"
)

// labName matches what a lab names: tgl<pid>[letter], then "-..." for
// namespaces and teams. Test packages use other spellings (tgt, tgb, and
// tgle for lab/lbemu's tests), so `lab down` never touches their
// namespaces.
var labName = regexp.MustCompile(`^` + Prefix + `[0-9]+[a-f]?(-|$)`)

// labID returns the lab id a name belongs to ("" if none).
func labID(name string) string {
	if !labName.MatchString(name) {
		return ""
	}
	id, _, _ := strings.Cut(name, "-")
	return id
}

// running reports whether the lab id is still being run by a live lab
// process (and not merely kept).
func running(id string) bool {
	b, err := os.ReadFile(filepath.Join(RunRoot, id, "lab.json"))
	if err != nil {
		return false
	}
	var rec record
	if json.Unmarshal(b, &rec) != nil || rec.Done || rec.PID == os.Getpid() {
		return false
	}
	return testbed.Alive(rec.PID) && procStart(rec.PID) == rec.Started
}

// down removes what kept or crashed labs left: processes, namespaces, run
// directories, stale control sockets. Labs still running are left alone.
func down(stdout, stderr io.Writer) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "teamd-go lab down: needs root")
		return 1
	}
	skipped := map[string]bool{}
	skip := func(id string) bool {
		if id == "" {
			return true
		}
		if running(id) {
			if !skipped[id] {
				fmt.Fprintf(stderr, "lab %s is running (pid in %s): left alone\n", id, filepath.Join(RunRoot, id, "lab.json"))
			}
			skipped[id] = true
			return true
		}
		return false
	}
	removed, failed := 0, 0

	// Processes first: those in the namespaces (ip netns pids) and any
	// whose command line points into a lab's run directory (a daemon
	// whose namespace is already gone).
	names, err := testbed.ListNS()
	if err != nil {
		fmt.Fprintln(stderr, "teamd-go lab down:", err)
		return 1
	}
	var pids []int
	for _, pid := range labProcesses() {
		if !skip(pid.id) {
			pids = append(pids, pid.pid)
		}
	}
	if len(pids) > 0 {
		testbed.KillAll(pids, 5*time.Second)
		fmt.Fprintf(stdout, "stopped %d processes\n", len(pids))
	}
	for _, n := range names {
		if skip(labID(n)) {
			continue
		}
		if err := (&testbed.NS{Name: n}).Remove(5 * time.Second); err != nil {
			fmt.Fprintln(stderr, err)
			failed++
			continue
		}
		fmt.Fprintln(stdout, "removed namespace", n)
		removed++
	}
	if ents, err := os.ReadDir(RunRoot); err == nil {
		for _, e := range ents {
			if skip(labID(e.Name())) {
				continue
			}
			if err := os.RemoveAll(filepath.Join(RunRoot, e.Name())); err != nil {
				fmt.Fprintln(stderr, err)
				failed++
				continue
			}
			fmt.Fprintln(stdout, "removed", filepath.Join(RunRoot, e.Name()))
			removed++
		}
	}
	if socks, err := filepath.Glob(control.SocketPath(Prefix + "*")); err == nil {
		for _, s := range socks {
			if skip(labID(strings.TrimSuffix(filepath.Base(s), ".sock"))) {
				continue
			}
			if os.Remove(s) == nil {
				fmt.Fprintln(stdout, "removed stale control socket", s)
				removed++
			}
		}
	}
	if removed == 0 && failed == 0 && len(pids) == 0 {
		fmt.Fprintln(stdout, "nothing to remove")
	}
	if failed > 0 {
		return 1
	}
	return 0
}

type labProc struct {
	pid int
	id  string
}

// labProcesses finds processes whose command line mentions RunRoot/ID.
func labProcesses() []labProc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	needle := []byte(RunRoot + "/")
	var found []labProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		i := bytes.Index(b, needle)
		if i < 0 {
			continue
		}
		rest := string(b[i+len(needle):])
		id, _, _ := strings.Cut(rest, "/")
		id, _, _ = strings.Cut(id, "\x00")
		if labID(id) != "" && testbed.Alive(pid) {
			found = append(found, labProc{pid, id})
		}
	}
	return found
}
