package lab

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printTable prints, per scenario with rows, a heading, one line per
// variant (fixed columns, then the scenario's Columns), and one line per
// variant saying why.
func printTable(w io.Writer, scenarios []*scenario, rows []result) {
	for _, s := range scenarios {
		var mine []result
		for _, r := range rows {
			if r.Scenario == s.Name {
				mine = append(mine, r)
			}
		}
		if len(mine) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: %s\n\n", s.Name, s.Summary)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		head := []string{"VARIANT"}
		for _, c := range s.Columns {
			head = append(head, c.Header)
		}
		head = append(head, "OK/TRIED", "VERDICT", "EXPECTED")
		fmt.Fprintln(tw, strings.Join(head, "\t"))
		for _, r := range mine {
			cells := []string{r.Variant}
			for _, c := range s.Columns {
				cells = append(cells, cell(r, c.Key))
			}
			expected := string(r.Expected)
			if !r.AsExpected() {
				expected += "  <-- MISMATCH"
			}
			cells = append(cells, fmt.Sprintf("%d/%d", r.Succeeded, r.Attempts), string(r.Verdict), expected)
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		_ = tw.Flush()
		fmt.Fprintln(w)
		for _, r := range mine {
			fmt.Fprintf(w, "%s: %s\n", r.Variant, r.Why)
		}
	}
}

func cell(r result, key string) string {
	f, ok := r.Get(key)
	switch {
	case !ok:
		return "-"
	case f.Text != "":
		return f.Text
	}
	return fmt.Sprint(f.Value)
}
