package config

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/teamd-go/teamd-go/lb"
)

// TestBalancesAreLB: the balance names validation accepts are exactly the
// balancers package lb makes (the list here only fixes the order messages
// use).
func TestBalancesAreLB(t *testing.T) {
	got := slices.Sorted(slices.Values(balances))
	if diff := cmp.Diff(lb.Names(), got); diff != "" {
		t.Errorf("balances (-lb.Names +config):\n%s", diff)
	}
}
