package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// variantTimeout bounds one variant, setup and traffic; a liveness bound.
const variantTimeout = 4 * time.Minute

// runner runs scenarios and reports them.
type runner struct {
	daemon, self string
	keep, json   bool
	backend      string   // the daemons' backend; "" their default
	pcap         string   // --pcap DIR; "" no captures
	variants     []string // empty: all
	stdout       io.Writer
	stderr       io.Writer

	id  string // tgl<pid>
	dir string // RunRoot/id
}

// record is RunRoot/ID/lab.json: who runs (or ran) the lab, so that `lab
// down` leaves a running lab alone and removes a kept or crashed one.
type record struct {
	PID     int       `json:"pid"`
	Started string    `json:"started"` // /proc/PID/stat start time, against pid reuse
	Keep    bool      `json:"keep"`
	Done    bool      `json:"done"`
	Time    time.Time `json:"time"`
}

func (r *runner) run(ctx context.Context, scenarios []*scenario) int {
	if err := r.claim(); err != nil {
		fmt.Fprintln(r.stderr, "teamd-go lab:", err)
		return 1
	}
	var rows []result
	var kept []string
	interrupted := false
	seq := 0
loop:
	for _, s := range scenarios {
		for _, v := range s.Variants {
			if len(r.variants) > 0 && !slices.Contains(r.variants, v.Name) {
				continue
			}
			if ctx.Err() != nil {
				interrupted = true
				break loop
			}
			seq++
			row, e := r.variant(ctx, s, v, seq)
			if ctx.Err() != nil {
				interrupted = true
			}
			if r.keep {
				kept = append(kept, e.Prefix)
			} else if err := e.Close(); err != nil {
				fmt.Fprintf(r.stderr, "  cleanup: %v\n", err)
			}
			if interrupted {
				break loop
			}
			rows = append(rows, row)
			if r.json {
				b, _ := json.Marshal(row)
				fmt.Fprintf(r.stdout, "%s\n", b)
			}
		}
	}
	if !r.json {
		printTable(r.stdout, scenarios, rows)
	}
	r.release(len(kept) > 0)
	if len(kept) > 0 {
		fmt.Fprintf(r.stderr, "kept (remove with `teamd-go lab down`): namespaces %s-*; files in %s\n",
			strings.Join(kept, "-*, "), r.dir)
	}
	if interrupted {
		fmt.Fprintln(r.stderr, "teamd-go lab: interrupted")
		return 1
	}
	if len(rows) == 0 {
		return 1
	}
	for _, row := range rows {
		if !row.AsExpected() {
			return 1
		}
	}
	return 0
}

// variant runs one variant in a fresh env, which it returns for the
// caller to close (or keep).
func (r *runner) variant(ctx context.Context, s *scenario, v variant, seq int) (result, *env) {
	start := time.Now()
	e := newEnv(r.id+"-"+v.Name, fmt.Sprintf("%s-%d", r.id, seq), filepath.Join(r.dir, v.Name), r.daemon, r.self, r.backend, r.stderr)
	e.pcapDir, e.pcapBase = r.pcap, s.Name+"-"+v.Name
	row := result{Scenario: s.Name, Variant: v.Name, Expected: v.Expected}
	fmt.Fprintf(r.stderr, "%s/%s: building\n", s.Name, v.Name)
	err := os.MkdirAll(e.Dir, 0o755)
	if err == nil {
		vctx, cancel := context.WithTimeout(ctx, variantTimeout)
		err = v.Run(vctx, e, &row)
		cancel()
	}
	switch {
	case err != nil:
		row.Verdict = verdictError
		row.Error = err.Error()
		if row.Why == "" {
			row.Why = "not measured: " + firstLine(row.Error)
		}
	case row.Verdict == "" && row.Attempts > 0 && row.Succeeded == row.Attempts:
		row.Verdict = verdictOK
	case row.Verdict == "":
		row.Verdict = verdictBroken
	}
	row.Seconds = time.Since(start).Round(10 * time.Millisecond).Seconds()
	mark := "as expected"
	if !row.AsExpected() {
		mark = "EXPECTED " + string(row.Expected)
	}
	fmt.Fprintf(r.stderr, "%s/%s: %s (%s), %d/%d exchanges, %.1fs\n",
		s.Name, v.Name, row.Verdict, mark, row.Succeeded, row.Attempts, row.Seconds)
	return row, e
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// claim picks the lab's id (tgl<pid>, with a letter if a kept lab holds
// that name) and writes its record.
func (r *runner) claim() error {
	if err := os.MkdirAll(RunRoot, 0o755); err != nil {
		return err
	}
	base := fmt.Sprintf("%s%d", Prefix, os.Getpid())
	for _, suffix := range []string{"", "b", "c", "d", "e", "f"} {
		id := base + suffix
		dir := filepath.Join(RunRoot, id)
		if err := os.Mkdir(dir, 0o755); err != nil {
			if os.IsExist(err) {
				continue
			}
			return err
		}
		r.id, r.dir = id, dir
		return r.writeRecord(record{PID: os.Getpid(), Started: procStart(os.Getpid()), Time: time.Now()})
	}
	return fmt.Errorf("%s: six kept labs of pid %d; run `teamd-go lab down`", RunRoot, os.Getpid())
}

func (r *runner) writeRecord(rec record) error {
	b, _ := json.MarshalIndent(rec, "", "  ")
	return os.WriteFile(filepath.Join(r.dir, "lab.json"), b, 0o644)
}

// release marks the lab kept, or removes its directory.
func (r *runner) release(kept bool) {
	if kept {
		_ = r.writeRecord(record{PID: os.Getpid(), Started: procStart(os.Getpid()), Keep: true, Done: true, Time: time.Now()})
		return
	}
	_ = os.RemoveAll(r.dir)
}

// procStart returns a process's start time (field 22 of /proc/PID/stat).
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) > 19 {
			return f[19]
		}
	}
	return ""
}
