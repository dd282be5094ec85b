package config

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// reader holds what the YAML and the teamd JSON readers share: typed
// reads of yaml.Node values (teamd JSON is read into the same nodes)
// that report a Problem instead of failing.
type reader struct {
	probs *problems
	// warns collects what was read but ignored (teamd JSON only).
	warns *problems
	// json selects teamd JSON rules and words: strings must be JSON
	// strings, 0 and 1 are read as booleans, "object" for "mapping".
	json bool
}

// resolve follows YAML aliases (*name) to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// word returns the YAML word for a thing, or in teamd JSON its JSON
// word.
func (r *reader) word(yamlWord, jsonWord string) string {
	if r.json {
		return jsonWord
	}
	return yamlWord
}

// describe names a value for "want X, got Y" messages.
func (r *reader) describe(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n == nil || n.Kind == yaml.AliasNode:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return r.word("a mapping", "an object")
	case n.Kind == yaml.SequenceNode:
		return r.word("a list", "an array")
	case isNull(n):
		return r.word("nothing", "null")
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	if n.ShortTag() == "!!str" {
		return strconv.Quote(v)
	}
	return v
}

// dupKeyMsg starts the message for a duplicate key.
const dupKeyMsg = "duplicate key"

// each calls fn for every key of the mapping n in file order, after
// checking that n is a mapping with unique keys. Keys not in known are
// reported, with the closest known key when one is close. A null n is
// an empty mapping.
func (r *reader) each(n *yaml.Node, path string, known []string, fn func(key string, k, v *yaml.Node)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		r.probs.add(n.Line, path, "want %s, got %s", r.word("a mapping", "an object"), r.describe(n))
		return
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			r.probs.add(n.Content[i].Line, path, "keys must be plain names (YAML merge keys and complex keys are not supported)")
			continue
		}
		key := k.Value
		kpath := join(path, key)
		if first, dup := seen[key]; dup {
			why := ""
			if r.json {
				why = "; teamd rejects duplicate keys too"
			}
			r.probs.add(k.Line, kpath, dupKeyMsg+" (first at line %d)%s", first, why)
			continue
		}
		seen[key] = k.Line
		if known != nil && !slices.Contains(known, key) {
			if r.probs.full() {
				r.probs.more++ // counted; no suggestion worked out
				continue
			}
			why := ""
			if r.json {
				why = " (teamd would silently ignore it; teamd-go refuses it to catch typos)"
			}
			r.probs.add(k.Line, kpath, "unknown key%s; known here: %s%s", suggest(key, known), strings.Join(known, ", "), why)
			continue
		}
		fn(key, k, v)
	}
}

// seq calls fn for every item of the list n. A null n is an empty list.
func (r *reader) seq(n *yaml.Node, path string, fn func(i int, item *yaml.Node, ipath string)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		r.probs.add(n.Line, path, "want %s, got %s", r.word("a list", "an array"), r.describe(n))
		return
	}
	for i, item := range n.Content {
		fn(i, resolve(item), index(path, i))
	}
}

// str reads a string. In YAML any scalar is taken as written (an
// interface may be called 100); teamd JSON wants a JSON string.
func (r *reader) str(n *yaml.Node, path string, out *string) bool {
	n = resolve(n)
	if isNull(n) {
		return false
	}
	ok := n.Kind == yaml.ScalarNode
	if ok {
		switch n.ShortTag() {
		case "!!str":
		case "!!int", "!!float":
			ok = !r.json
		default:
			ok = false
		}
	}
	if !ok {
		hint := ""
		if !r.json && n.Kind == yaml.ScalarNode {
			hint = " (quote it if you mean the text)"
		}
		r.probs.add(n.Line, path, "want a string, got %s%s", r.describe(n), hint)
		return false
	}
	*out = n.Value
	return true
}

// enum reads a string that validate checks against its enumeration.
// On a wrong type it empties out, so that checks combining it with
// other keys are skipped.
func (r *reader) enum(n *yaml.Node, path string, out *string) bool {
	n = resolve(n)
	if isNull(n) {
		return false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		// Leave bools to validate: "want fast or slow, got true".
		*out = n.Value
		return true
	}
	if !r.str(n, path, out) {
		*out = ""
		return false
	}
	return true
}

// boolean reads true or false. teamd JSON also takes 0 and 1, with a
// warning: docs/contract.md §3.2 reads them as booleans, teamd itself
// ignores a non-boolean value here and uses its default.
func (r *reader) boolean(n *yaml.Node, path string, out *bool) bool {
	n = resolve(n)
	if isNull(n) {
		return false
	}
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				*out = b
				return true
			}
		case "!!int":
			if r.json && (n.Value == "0" || n.Value == "1") {
				*out = n.Value == "1"
				if r.warns != nil {
					r.warns.add(n.Line, path, "%s read as %t; note that teamd itself ignores a number here and uses its default", n.Value, *out)
				}
				return true
			}
		}
	}
	r.probs.add(n.Line, path, "want true or false, got %s", r.describe(n))
	return false
}

// integer reads an integer that fits in 32 bits.
func (r *reader) integer(n *yaml.Node, path string, out *int) bool {
	n = resolve(n)
	if isNull(n) {
		return false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		var v int64
		if n.Decode(&v) == nil && v >= math.MinInt32 && v <= math.MaxInt32 {
			*out = int(v)
			return true
		}
		r.probs.add(n.Line, path, "%s is out of range", r.describe(n))
		return false
	}
	r.probs.add(n.Line, path, "want an integer, got %s", r.describe(n))
	return false
}

// duration reads a Go duration with a unit: 500us, 1s, 1m30s.
func (r *reader) duration(n *yaml.Node, path string, out *time.Duration) bool {
	n = resolve(n)
	if isNull(n) {
		return false
	}
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int", "!!float":
			r.probs.add(n.Line, path, "want a duration with a unit, like 500us, 100ms or 1s; got %s", r.describe(n))
			return false
		case "!!str":
			d, err := time.ParseDuration(n.Value)
			if err == nil {
				*out = d
				return true
			}
		}
	}
	r.probs.add(n.Line, path, "want a duration like 500us, 100ms or 1s; got %s", r.describe(n))
	return false
}

// strList reads a list of strings (see readList; a wrong item is kept
// as "").
func (r *reader) strList(n *yaml.Node, path string, out *[]string) bool {
	return readList(r, n, path, out, r.str)
}

// intList reads a list of integers (see readList; a wrong item is kept
// as 0).
func (r *reader) intList(n *yaml.Node, path string, out *[]int) bool {
	return readList(r, n, path, out, r.integer)
}

// readList reads a list whose items item reads. A null list keeps out
// as it is. An item of the wrong type is reported and kept as the zero
// value, which validate does not report again.
func readList[V any](r *reader, n *yaml.Node, path string, out *[]V, item func(*yaml.Node, string, *V) bool) bool {
	if isNull(n) || resolve(n).Kind != yaml.SequenceNode {
		r.seq(n, path, nil) // reports anything but a list
		return false
	}
	list := []V{}
	r.seq(n, path, func(i int, it *yaml.Node, ip string) {
		var v V
		item(it, ip, &v)
		list = append(list, v)
	})
	*out = list
	return true
}
