package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Line is the 1-based line of the offending key in the file, or 0
	// when there is none (a required key that is missing, or a
	// configuration that was not read from a file).
	Line int
	// Key is the key path: "members[1].standby" in YAML, the teamd path
	// ("ports.eth1.prio", "runner.name") for teamd JSON. Empty for
	// problems with the file as a whole (a syntax error).
	Key string
	// Msg says what is wrong and, where it helps, what would be right.
	Msg string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists the problems found in one configuration: the first
// MaxProblems, and how many more there were. Parse, Load, Validate and
// CheckHost return it.
type Error struct {
	// Path is the file the configuration came from; may be empty.
	Path     string
	Problems []Problem
	// More counts the problems found beyond Problems (not listed).
	More int
}

// MaxProblems is how many problems one Error lists; a file with more
// (a generated file gone wrong) is reported by its first ones and a
// count, so that checking it stays fast and small.
const MaxProblems = 20

// Error prints one problem per line as "file:line: key: msg".
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems), len(e.Problems)+1)
	for i, p := range e.Problems {
		lines[i] = formatProblem(e.Path, p)
	}
	if e.More > 0 {
		lines = append(lines, formatProblem(e.Path, Problem{Msg: fmt.Sprintf("... and %d more problems (only the first %d are listed)", e.More, len(e.Problems))}))
	}
	return strings.Join(lines, "\n")
}

// formatProblem writes p as "file:line: key: msg" ("config" when the
// file has no name; no line or key when p has none).
func formatProblem(path string, p Problem) string {
	if path == "" {
		path = "config"
	}
	if p.Line > 0 {
		path += ":" + strconv.Itoa(p.Line)
	}
	if p.Key != "" {
		return path + ": " + p.Key + ": " + p.Msg
	}
	return path + ": " + p.Msg
}

// problems collects Problems while a configuration is read: the first
// MaxProblems, then only a count.
type problems struct {
	list []Problem
	more int
}

func (ps *problems) add(line int, key, format string, args ...any) {
	if ps.full() {
		ps.more++
		return
	}
	ps.list = append(ps.list, Problem{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// full reports whether further problems are only counted: a caller may
// skip the work of describing one (suggestions for an unknown key).
func (ps *problems) full() bool { return len(ps.list) >= MaxProblems }

func (ps *problems) count() int { return len(ps.list) + ps.more }

// err returns nil or an *Error holding the problems, ordered by line
// (problems without a line first: they concern the file as a whole).
func (ps problems) err(path string) error {
	if ps.count() == 0 {
		return nil
	}
	return &Error{Path: path, Problems: sortedProblems(ps), More: ps.more}
}

// sortedProblems orders problems by line, keeping the order of those
// on one line.
func sortedProblems(ps problems) []Problem {
	sorted := slices.Clone(ps.list)
	slices.SortStableFunc(sorted, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return sorted
}

// has reports whether a problem was already recorded for key or for a
// key that contains it, so that one mistake is reported once: a
// member whose name has the wrong type is not also "missing a name".
// A duplicate key does not count: the first one was read.
func (ps problems) has(key string) bool {
	for _, p := range ps.list {
		if p.Key == "" || strings.HasPrefix(p.Msg, dupKeyMsg) {
			continue
		}
		if key == p.Key || isUnder(key, p.Key) {
			return true
		}
	}
	return false
}

// isUnder reports whether key lies inside parent ("members[0].name"
// inside "members[0]" and inside "members").
func isUnder(key, parent string) bool {
	if !strings.HasPrefix(key, parent) {
		return false
	}
	rest := key[len(parent):]
	return strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "[")
}

// suggest returns ` (did you mean "x"?)` when one of known is close to
// got, else "".
func suggest(got string, known []string) string {
	best, bestD := "", 1<<30
	g := strings.ToLower(strings.ReplaceAll(got, "-", "_"))
	for _, k := range known {
		kk := strings.ReplaceAll(k, "-", "_")
		d := editDistance(g, kk)
		if d < bestD {
			best, bestD = k, d
		}
	}
	limit := 2
	if len(got) <= 3 {
		limit = 1
	}
	if best == "" || bestD > limit {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of a and b (bytes), capped
// to keep it cheap on long inputs.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// oneOf formats an enumeration for a message: "a, b or c".
func oneOf(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
