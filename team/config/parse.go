package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Load reads, defaults and validates the configuration in the file at
// path; see Parse.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	// One byte more than allowed tells Parse the file is too large,
	// without reading all of it (a device, a runaway generator).
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > MaxFileSize {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			return nil, fileTooLarge(path, st.Size())
		}
		return nil, fileTooLarge(path, -1)
	}
	return Parse(data, path)
}

// fileTooLarge is the error for a file over MaxFileSize (size -1:
// unknown, not a regular file).
func fileTooLarge(path string, size int64) error {
	what := "more than 1 MiB"
	if size >= 0 {
		what = fmt.Sprintf("%d bytes", size)
	}
	var ps problems
	ps.add(0, "", "the file is %s; a configuration is at most %d bytes (1 MiB)", what, MaxFileSize)
	return ps.err(path)
}

// Parse reads a configuration: YAML as in docs/contract.md §3, or teamd's
// JSON (docs/contract.md §3.2) when the first byte that is not white space is
// '{'. It fills in the defaults and validates the result. path only names the
// file in messages and in Config.Path.
//
// Every problem found is reported at once, as an *Error whose Problems
// name the line and the key. Host checks (do the interfaces exist?) are
// separate: see CheckHost.
func Parse(data []byte, path string) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, fileTooLarge(path, int64(len(data)))
	}
	var (
		c     *Config
		ps    problems
		warns problems
		src   *source
	)
	if isJSON(data) {
		c, ps, warns, src = parseTeamd(data)
	} else {
		c, ps, src = parseYAML(data)
	}
	if c != nil {
		vps := validate(c)
		ps.more += vps.more
		for _, p := range vps.list {
			line, key := src.locate(p.Key)
			if ps.has(key) {
				continue // already reported where it was read
			}
			ps.add(line, key, "%s", p.Msg)
		}
	}
	if err := ps.err(path); err != nil {
		return nil, err
	}
	normalize(c)
	c.Path = path
	for _, w := range sortedProblems(warns) {
		c.Warnings = append(c.Warnings, formatProblem(path, w))
	}
	if warns.more > 0 {
		c.Warnings = append(c.Warnings, formatProblem(path, Problem{Msg: fmt.Sprintf("... and %d more warnings", warns.more)}))
	}
	return c, nil
}

// isJSON reports whether data is teamd JSON: its first byte that is not
// white space is '{'. (A YAML flow mapping also starts with '{';
// docs/contract.md §3.2 reads such a file as JSON, and the syntax error
// says so.)
func isJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// source maps a Config key path ("members[1].standby") to where it was
// read from, so that problems found by validate name the line and the
// key as the user wrote them. For YAML both keys are the same; teamd
// JSON records its own ("members[1]" came from "ports.eth2").
type source struct {
	at map[string]origin
}

type origin struct {
	line int
	key  string
	null bool // the key was there without a value
}

func newSource() *source {
	return &source{at: make(map[string]origin)}
}

func (s *source) record(cfgKey string, line int, fileKey string) {
	s.at[cfgKey] = origin{line: line, key: fileKey}
}

// given reports whether cfgKey was in the file with a value.
func (s *source) given(cfgKey string) bool {
	o, ok := s.at[cfgKey]
	return ok && !o.null
}

// present reports whether cfgKey was in the file, with or without a
// value.
func (s *source) present(cfgKey string) bool {
	_, ok := s.at[cfgKey]
	return ok
}

// locate returns the line and the displayed key for cfgKey. A key not
// in the file (a default, or a required key that is missing) takes the
// line of the nearest enclosing key that is, and is displayed below it:
// "link_watch.target_host" below teamd's "ports.eth1.link_watch".
func (s *source) locate(cfgKey string) (int, string) {
	for k := cfgKey; k != ""; k = parentKey(k) {
		if o, ok := s.at[k]; ok {
			return o.line, o.key + cfgKey[len(k):]
		}
	}
	return 0, cfgKey
}

// parentKey strips the last component of a key path:
// "members[1].name" -> "members[1]" -> "members" -> "".
func parentKey(k string) string {
	for i := len(k) - 1; i >= 0; i-- {
		switch k[i] {
		case '.':
			return k[:i]
		case '[':
			return k[:i]
		}
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// yamlLine finds the line in yaml.v3's syntax errors ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML decodes a YAML file into a defaulted Config. The Config is
// nil only when the file could not be read as YAML at all.
func parseYAML(data []byte) (c *Config, ps problems, src *source) {
	src = newSource()
	root, err := decodeYAML(data)
	if err != nil {
		msg := err.Error()
		line := 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		ps.add(line, "", "%s", msg)
		return nil, ps, src
	}
	if root == nil {
		ps.add(0, "", "the file is empty; want at least team: and members:")
		return nil, ps, src
	}
	r := &reader{probs: &ps}
	c = defaults()
	d := &yamlDecoder{reader: r, src: src}
	if !d.config(root, c) {
		return nil, ps, src
	}
	return c, ps, src
}

// decodeYAML returns the root of the file's only document, or nil if
// the file has none.
func decodeYAML(data []byte) (root *yaml.Node, err error) {
	// A daemon must survive any file at reload (docs/contract.md §3: a bad
	// file keeps the old configuration), so a panic in the third-party parser
	// becomes an error instead of a crash.
	defer func() {
		if p := recover(); p != nil {
			root, err = nil, fmt.Errorf("yaml: the YAML parser failed on this file: %v", p)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, fmt.Errorf("yaml: line %d: a second YAML document (---); a file holds one team", max(next.Line, 1))
	} else if !errors.Is(err, io.EOF) {
		return nil, err
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return nil, nil
}

// yamlDecoder reads the YAML format into a Config, recording where
// every key was.
type yamlDecoder struct {
	*reader
	src *source
}

// fields walks a YAML mapping, recording each key's line.
func (d *yamlDecoder) fields(n *yaml.Node, path string, known []string, fn func(key string, v *yaml.Node, kpath string)) {
	d.each(n, path, known, func(key string, k, v *yaml.Node) {
		kpath := join(path, key)
		d.src.at[kpath] = origin{line: k.Line, key: kpath, null: isNull(v)}
		fn(key, v, kpath)
	})
}

// config reads the file into c; false if it is not a mapping at all.
// The keys are read as the tables in keys.go describe them; finish
// applies the defaults that depend on what the file gave.
func (d *yamlDecoder) config(root *yaml.Node, c *Config) bool {
	if resolve(root).Kind != yaml.MappingNode {
		d.probs.add(root.Line, "", "want a mapping of keys (team:, members:, ...), got %s", d.describe(root))
		return false
	}
	readBlock(d, root, "", topYAML, c)
	d.finish(c)
	return true
}

// readBlock reads the YAML mapping n (at path) into x, each key as its
// entry of keys says; a key that has none is reported.
func readBlock[T any](d *yamlDecoder, n *yaml.Node, path string, keys []yamlKey[T], x *T) {
	d.fields(n, path, keyNames(keys), func(key string, v *yaml.Node, kp string) {
		readKey(d, keys, key, v, kp, x)
	})
}

// readKey reads the value v of key (at path kp) into x as its entry of
// keys says; false if keys has no such key.
func readKey[T any](d *yamlDecoder, keys []yamlKey[T], key string, v *yaml.Node, kp string, x *T) bool {
	for _, k := range keys {
		if k.name == key {
			k.read(d, v, kp, x)
			return true
		}
	}
	return false
}

// tooLong reports a list of more than max items, before any of them is
// read; the list is then left empty (and validate says nothing more).
func (d *yamlDecoder) tooLong(v *yaml.Node, path string, max int, what, why string) bool {
	n := resolve(v)
	if n == nil || n.Kind != yaml.SequenceNode || len(n.Content) <= max {
		return false
	}
	d.probs.add(d.src.at[path].line, path, "%s", tooMany(len(n.Content), max, what, why))
	return true
}

// flowletGap reads flowlet_gap: auto, or a duration.
func (d *yamlDecoder) flowletGap(v *yaml.Node, kp string, c *Config) {
	if n := resolve(v); n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && n.Value == FlowletGapAuto {
		c.FlowletGapAuto, c.FlowletGap = true, DefaultFlowletGap
	} else if d.duration(v, kp, &c.FlowletGap) {
		c.FlowletGapAuto = false
	}
}

func (d *yamlDecoder) busyPoll(v *yaml.Node, kp string, c *Config) {
	n := resolve(v)
	word := n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str"
	switch {
	case word && n.Value == BusyPollAuto:
		c.BusyPollAuto, c.BusyPoll = true, DefaultBusyPoll
	case word && n.Value == BusyPollOff:
		c.BusyPollAuto, c.BusyPoll = false, 0
	default:
		if d.duration(v, kp, &c.BusyPoll) {
			c.BusyPollAuto = false
		}
	}
}

// vlan reads a vnic's vlan: block. What only the file shows is reported
// here: an empty block, and an explicit 0 (which the Config cannot tell
// from "not set").
func (d *yamlDecoder) vlan(n *yaml.Node, path string, vn *VNIC) {
	if isNull(resolve(n)) {
		d.probs.add(d.src.at[path].line, path, "want access: N or trunk: [N, ...] (with native: N for untagged frames), got nothing; remove the key for a VLAN-transparent vnic")
		return
	}
	readBlock(d, n, path, vlanYAML, &vn.VLAN)
	if m := resolve(n); m.Kind == yaml.MappingNode && len(m.Content) == 0 {
		d.probs.add(d.src.at[path].line, path, "empty: want access: N or trunk: [N, ...] (with native: N for untagged frames); remove the key for a VLAN-transparent vnic")
	}
}

// vlanID reads a VLAN id of access: or native:, where an explicit 0 is
// an error the Config cannot show.
func (d *yamlDecoder) vlanID(v *yaml.Node, kp string, id *int) bool {
	if d.integer(v, kp, id) && *id == 0 {
		d.probs.add(d.src.at[kp].line, kp, "0 is out of range: want a VLAN id %d to %d", MinVLAN, MaxVLAN)
	}
	return true
}

// finish fills in the defaults that depend on other keys and reports
// the one mistake only the file shows.
func (d *yamlDecoder) finish(c *Config) {
	if c.Balance == "" && !d.probs.has("balance") {
		c.Balance = defaultBalance(c)
	}
	setPingDefaults(&c.LinkWatch, func(k string) bool { return d.src.given("link_watch." + k) })
	for i := range c.Members {
		inheritDelays(&c.Members[i], c.LinkWatch, func(k string) bool { return d.src.given(join(index("members", i), k)) })
	}

	// A lacp: block is only meaningful in mode lacp: the parsed
	// values are kept either way, so only the file shows the mistake.
	if d.src.present("lacp") && c.Mode != ModeLACP && contains(modes, c.Mode) {
		line, _ := d.src.locate("lacp")
		d.probs.add(line, "lacp", "only with mode: lacp (this team is mode: %s); remove the block or set mode: lacp", c.Mode)
	}
}

// itemIsName reports whether a list item is a mapping; a bare name
// ("- eth1") gets a message showing the right form.
func (d *yamlDecoder) itemIsName(item *yaml.Node, path string) bool {
	if item.Kind == yaml.ScalarNode && !isNull(item) {
		d.probs.add(item.Line, path, "want a mapping with a name, got %s (write \"- name: %s\")", d.describe(item), item.Value)
		return false
	}
	return true
}
