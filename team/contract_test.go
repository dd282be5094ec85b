package team

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestContractState keeps docs/contract.md §4 in agreement with State:
// every field its sample shows is one `ctl state` prints.
func TestContractState(t *testing.T) {
	b, err := os.ReadFile("../docs/contract.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n## 4. ")
	if i < 0 {
		t.Fatal("docs/contract.md has no §4")
	}
	doc = doc[i:]
	start := strings.Index(doc, "```json\n")
	end := strings.Index(doc[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no JSON sample in docs/contract.md §4")
	}
	var sample map[string]any
	if err := json.Unmarshal([]byte(doc[start+8:start+8+end]), &sample); err != nil {
		t.Fatalf("the sample of §4 is not JSON: %v", err)
	}

	// A state with every optional part present.
	st := State{Active: "eth1", Members: []MemberState{{LACP: &LACPState{}}}, VNICs: []VNICState{{MACs: []string{""}, VLAN: &VLANState{Trunk: []int{10}, Native: 1}, FDB: []FDBEntry{{}}}}, FDB: []FDBEntry{{IPv4: "10.0.0.1", IPv6: []string{""}}},
		RxTranslation: &XlatState{Table: []XlatEntry{{}}}, Flowlets: &FlowletState{Pairs: []FlowletPair{{}}}}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var real map[string]any
	if err := json.Unmarshal(raw, &real); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, doc, got any)
	walk = func(path string, doc, got any) {
		switch d := doc.(type) {
		case map[string]any:
			g, ok := got.(map[string]any)
			if !ok {
				t.Errorf("%s: an object in the docs, %T in ctl state", path, got)
				return
			}
			for k, v := range d {
				gv, ok := g[k]
				if !ok {
					t.Errorf("%s.%s: in docs/contract.md §4, not in ctl state", path, k)
					continue
				}
				walk(path+"."+k, v, gv)
			}
		case []any:
			g, ok := got.([]any)
			if !ok || len(g) == 0 {
				t.Errorf("%s: a list in the docs, %T in ctl state", path, got)
				return
			}
			for _, v := range d {
				walk(path+"[]", v, g[0])
			}
		}
	}
	walk("state", sample, real)
}
