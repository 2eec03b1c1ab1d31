// Package policytest helps test Lua policies: load one from policies/, feed
// it probe results, and assert its weights and the shares of its picks.
package policytest

import (
	"math"
	"path/filepath"
	"sort"
	"testing"

	"ricochet/internal/policy"
	"ricochet/internal/sim"
	"ricochet/internal/testbin"
)

// Load loads policies/NAME from the module root.
func Load(t testing.TB, name string) *policy.Policy {
	t.Helper()
	dir, err := testbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Load(filepath.Join(dir, "policies", name), policy.Options{Log: func(m string) { t.Log(m) }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Backend describes one backend of a test round: its latency in seconds,
// or 0 when it is down.
type Backend struct {
	Name    string
	Latency float64
	Meta    map[string]string
}

// Round builds the policy input for bs, in order.
func Round(bs ...Backend) []policy.Backend {
	names := make([]string, len(bs))
	lat := map[string]float64{}
	down := map[string]bool{}
	for i, b := range bs {
		names[i] = b.Name
		lat[b.Name] = b.Latency
		down[b.Name] = b.Latency <= 0
	}
	out := sim.Backends(names, lat, down)
	for i, b := range bs {
		if b.Meta != nil {
			out[i].Meta = b.Meta
		}
	}
	return out
}

// Weights runs weigh and fails the test on an error.
func Weights(t testing.TB, p *policy.Policy, round []policy.Backend) map[string]float64 {
	t.Helper()
	w, err := p.Weigh(round)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// AssertWeights checks weights exactly; names missing from want must have
// no weight.
func AssertWeights(t testing.TB, got, want map[string]float64) {
	t.Helper()
	for name := range union(got, want) {
		if got[name] != want[name] {
			t.Errorf("weights %v, want %v", got, want)
			return
		}
	}
}

// Shares draws n picks the way the balancer does (pick for req(i), falling
// back to the weights) and returns each backend's share.
func Shares(t testing.TB, p *policy.Policy, round []policy.Backend, n int, req func(i int) *policy.Request) map[string]float64 {
	t.Helper()
	if req == nil {
		req = sim.ClientIPs(1000)
	}
	rows, err := sim.Run(p, round, n, req)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, r := range rows {
		out[r.Name] = r.Share
	}
	return out
}

// AssertShares checks every share within tol of want (missing = 0).
func AssertShares(t testing.TB, got, want map[string]float64, tol float64) {
	t.Helper()
	names := make([]string, 0)
	for n := range union(got, want) {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if math.Abs(got[n]-want[n]) > tol {
			t.Errorf("%s: share %.4f, want %.4f ± %.3f (all: %v)", n, got[n], want[n], tol, got)
		}
	}
}

func union(a, b map[string]float64) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}
