package config

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// contractBlock returns the first fenced block of the given language
// after heading in docs/contract.md.
func contractBlock(t *testing.T, heading, lang string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/contract.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("docs/contract.md has no heading %q", heading)
	}
	doc = doc[i:]
	start := strings.Index(doc, "```"+lang+"\n")
	if start < 0 {
		t.Fatalf("no ```%s block after %q", lang, heading)
	}
	doc = doc[start+len("```"+lang+"\n"):]
	end := strings.Index(doc, "```")
	if end < 0 {
		t.Fatalf("unterminated block after %q", heading)
	}
	return doc[:end]
}

// TestContractListsEveryKey keeps docs/contract.md §3 in agreement with
// the parser: its sample names every key the YAML format has, and no
// other.
func TestContractListsEveryKey(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(contractBlock(t, "## 3. Configuration", "yaml")), &root); err != nil {
		t.Fatalf("the sample of §3 is not YAML: %v", err)
	}
	var got []string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(n.Content[0], path)
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path+"[]")
			}
		case yaml.MappingNode:
			for i := 0; i < len(n.Content); i += 2 {
				k := join(path, n.Content[i].Value)
				if !slices.Contains(got, k) {
					got = append(got, k)
				}
				walk(n.Content[i+1], k)
			}
		}
	}
	walk(&root, "")
	var want []string
	for _, k := range topKeys {
		want = append(want, k)
		sub := map[string][]string{"members": memberKeys, "vnics": vnicKeys, "lacp": lacpKeys, "link_watch": lwKeys, "rx_translation": rxKeys}[k]
		prefix := k
		if k == "members" || k == "vnics" {
			prefix += "[]"
		}
		for _, s := range sub {
			want = append(want, prefix+"."+s)
			if k == "vnics" && s == "vlan" {
				for _, vk := range vlanKeys {
					want = append(want, prefix+".vlan."+vk)
				}
			}
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys of docs/contract.md §3 (-parser +docs):\n%s", diff)
	}
}
