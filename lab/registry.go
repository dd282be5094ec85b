package lab

import (
	"context"
	"encoding/json"
)

// Scenarios are the lab's scenarios, in the order `teamd-go lab` (no
// scenario named) runs them. To add one, write a file defining a Scenario
// value (see autolasthop.go) and append it here; nothing else changes.
var Scenarios = []*Scenario{
	&AutoLastHop,
	&StaleMAC,
}

// Scenario is a lab scenario: a question about teamd-go answered by
// building a network in namespaces once per variant and measuring it.
type Scenario struct {
	// Name is what the user types: `teamd-go lab NAME`.
	Name string
	// Summary is one line for the table's heading.
	Summary string
	// Variants run in this order, each in a fresh Env.
	Variants []Variant
	// Columns are the extra Row fields the table shows, in order.
	Columns []Column
}

// Column is an extra column of a scenario's table.
type Column struct {
	Header string // as printed
	Key    string // a Field key of the rows
}

// Variant is one configuration of a scenario with the verdict it must
// reach.
type Variant struct {
	Name     string
	Expected Verdict
	// Run builds the variant's network in e, runs the traffic and fills
	// in the row. The runner has set Scenario, Variant and Expected, and
	// sets Verdict from Attempts and Succeeded unless Run set it. An
	// error makes the verdict "error"; e is closed after Run either way
	// (unless --keep).
	Run func(ctx context.Context, e *Env, row *Row) error
}

// Verdict is what a variant's measurement says about the seed.
type Verdict string

const (
	// OK: every exchange succeeded.
	OK Verdict = "ok"
	// Broken: at least one exchange failed.
	Broken Verdict = "broken"
	// Error: the variant could not be measured (setup failed, a feature is
	// missing); Row.Error says why. Not a verdict on the seed.
	Error Verdict = "error"
)

// Row is one variant's result. It marshals as one flat JSON object: the
// fixed fields of SPEC §5 followed by Extra.
type Row struct {
	Scenario  string  `json:"scenario"`
	Variant   string  `json:"variant"`
	Attempts  int     `json:"attempts"`
	Succeeded int     `json:"succeeded"`
	Verdict   Verdict `json:"verdict"`
	Expected  Verdict `json:"expected"`
	// Why is one sentence explaining the verdict from what was measured.
	Why   string `json:"why"`
	Error string `json:"error,omitempty"`
	// Seconds is how long the variant took, setup and teardown included.
	Seconds float64 `json:"seconds"`
	// Extra holds scenario-specific fields, in order.
	Extra []Field `json:"-"`
}

// Field is a scenario-specific value of a Row.
type Field struct {
	Key   string
	Value any
	// Text is the table cell; empty means fmt's %v of Value.
	Text string
}

// Set adds or replaces an extra field.
func (r *Row) Set(key string, value any, text string) {
	for i := range r.Extra {
		if r.Extra[i].Key == key {
			r.Extra[i] = Field{key, value, text}
			return
		}
	}
	r.Extra = append(r.Extra, Field{key, value, text})
}

// Get returns an extra field.
func (r *Row) Get(key string) (Field, bool) {
	for _, f := range r.Extra {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

// AsExpected reports whether the verdict is the expected one.
func (r *Row) AsExpected() bool { return r.Verdict == r.Expected }

// MarshalJSON writes the fixed fields, then "as_expected", then Extra.
func (r Row) MarshalJSON() ([]byte, error) {
	type fixed Row
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
func find(name string) *Scenario {
	for _, s := range Scenarios {
		if s.Name == name {
			return s
		}
	}
	return nil
}
