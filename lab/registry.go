package lab

import (
	"context"
	"encoding/json"
)

// allScenarios are the lab's scenarios, in the order `teamd-go lab` (no
// scenario named) runs them. To add one, write a file defining a Scenario
// value (see autolasthop.go) and append it here; nothing else changes.
var allScenarios = []*scenario{
	&autoLastHop,
	&staleMAC,
}

// scenario is a lab scenario: a question about teamd-go answered by
// building a network in namespaces once per variant and measuring it.
type scenario struct {
	// Name is what the user types: `teamd-go lab NAME`.
	Name string
	// Summary is one line for the table's heading.
	Summary string
	// Variants run in this order, each in a fresh env.
	Variants []variant
	// Columns are the extra Row fields the table shows, in order.
	Columns []column
}

// column is an extra column of a scenario's table.
type column struct {
	Header string // as printed
	Key    string // a Field key of the rows
}

// variant is one configuration of a scenario with the verdict it must
// reach.
type variant struct {
	Name     string
	Expected verdict
	// Run builds the variant's network in e, runs the traffic and fills
	// in the row. The runner has set Scenario, Variant and Expected, and
	// sets Verdict from Attempts and Succeeded unless Run set it. An
	// error makes the verdict "error"; e is closed after Run either way
	// (unless --keep).
	Run func(ctx context.Context, e *env, row *result) error
}

// verdict is what a variant's measurement says about the field bug
// (docs/bugs.md).
type verdict string

const (
	// verdictOK: every exchange succeeded.
	verdictOK verdict = "ok"
	// verdictBroken: at least one exchange failed.
	verdictBroken verdict = "broken"
	// verdictError: the variant could not be measured (setup failed, a feature is
	// missing); Row.Error says why. Not a verdict on the bug.
	verdictError verdict = "error"
)

// result is one variant's row of the table. It marshals as one flat JSON object: the
// fixed fields of docs/contract.md §5 followed by Extra.
type result struct {
	Scenario  string  `json:"scenario"`
	Variant   string  `json:"variant"`
	Attempts  int     `json:"attempts"`
	Succeeded int     `json:"succeeded"`
	Verdict   verdict `json:"verdict"`
	Expected  verdict `json:"expected"`
	// Why is one sentence explaining the verdict from what was measured.
	Why   string `json:"why"`
	Error string `json:"error,omitempty"`
	// Seconds is how long the variant took, setup and teardown included.
	Seconds float64 `json:"seconds"`
	// Extra holds scenario-specific fields, in order.
	Extra []field `json:"-"`
}

// field is a scenario-specific value of a Row.
type field struct {
	Key   string
	Value any
	// Text is the table cell; empty means fmt's %v of Value.
	Text string
}

// Set adds or replaces an extra field.
func (r *result) Set(key string, value any, text string) {
	for i := range r.Extra {
		if r.Extra[i].Key == key {
			r.Extra[i] = field{key, value, text}
			return
		}
	}
	r.Extra = append(r.Extra, field{key, value, text})
}

// Get returns an extra field.
func (r *result) Get(key string) (field, bool) {
	for _, f := range r.Extra {
		if f.Key == key {
			return f, true
		}
	}
	return field{}, false
}

// AsExpected reports whether the verdict is the expected one.
func (r *result) AsExpected() bool { return r.Verdict == r.Expected }

// MarshalJSON writes the fixed fields, then "as_expected", then Extra.
func (r result) MarshalJSON() ([]byte, error) {
	type fixed result
	b, err := json.Marshal(fixed(r))
	if err != nil {
		return nil, err
	}
	b = b[:len(b)-1] // reopen the object
	b, _ = appendField(b, "as_expected", r.AsExpected())
	for _, f := range r.Extra {
		if b, err = appendField(b, f.Key, f.Value); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendField(b []byte, key string, v any) ([]byte, error) {
	k, _ := json.Marshal(key)
	val, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	b = append(b, ',')
	b = append(b, k...)
	b = append(b, ':')
	return append(b, val...), nil
}

// find returns the scenario called name.
func find(name string) *scenario {
	for _, s := range allScenarios {
		if s.Name == name {
			return s
		}
	}
	return nil
}
