// Package policies holds ricochet's Lua policies; this file tests each one
// with the policytest helper: its weights, the shares of its picks, and
// what happens when backends go down.
package policies

import (
	"path/filepath"
	"testing"

	"ricochet/internal/policy"
	"ricochet/internal/policytest"
	"ricochet/internal/sim"
)

const picks = 20000 // share tolerance 0.02 is over 5 standard errors

var (
	three = []policytest.Backend{{Name: "alpha", Latency: 0.010}, {Name: "beta", Latency: 0.020}, {Name: "gamma", Latency: 0.040}}
	// betaDown is three with beta failing its probe.
	betaDown = []policytest.Backend{{Name: "alpha", Latency: 0.010}, {Name: "beta"}, {Name: "gamma", Latency: 0.040}}
	allDown  = []policytest.Backend{{Name: "alpha"}, {Name: "beta"}}
)

func TestWeightedFastest(t *testing.T) {
	p := policytest.Load(t, "weighted-fastest.lua")
	tests := []struct {
		name  string
		round []policytest.Backend
		want  map[string]float64
	}{
		{"one", []policytest.Backend{{Name: "a", Latency: 0.5}}, map[string]float64{"a": 1}},
		{"two", []policytest.Backend{{Name: "a", Latency: 0.2}, {Name: "b", Latency: 0.1}}, map[string]float64{"a": 1, "b": 2}},
		{"three", three, map[string]float64{"alpha": 3, "beta": 2, "gamma": 1}},
		{"five", []policytest.Backend{{Name: "a", Latency: 5}, {Name: "b", Latency: 1}, {Name: "c", Latency: 4}, {Name: "d", Latency: 2}, {Name: "e", Latency: 3}},
			map[string]float64{"a": 1, "b": 5, "c": 2, "d": 4, "e": 3}},
		{"one down", betaDown, map[string]float64{"alpha": 2, "gamma": 1}},
		{"all down", allDown, map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policytest.AssertWeights(t, policytest.Weights(t, p, policytest.Round(tt.round...)), tt.want)
		})
	}
	policytest.AssertShares(t, policytest.Shares(t, p, policytest.Round(three...), picks, nil),
		map[string]float64{"alpha": 3.0 / 6, "beta": 2.0 / 6, "gamma": 1.0 / 6}, 0.02)
}

func TestFastest(t *testing.T) {
	p := policytest.Load(t, "fastest.lua")
	policytest.AssertWeights(t, policytest.Weights(t, p, policytest.Round(three...)), map[string]float64{"alpha": 1})
	policytest.AssertWeights(t, policytest.Weights(t, p, policytest.Round(
		policytest.Backend{Name: "b", Latency: 0.01}, policytest.Backend{Name: "a", Latency: 0.01})), map[string]float64{"a": 1})
	down := policytest.Round(policytest.Backend{Name: "alpha"}, policytest.Backend{Name: "beta", Latency: 0.02}, policytest.Backend{Name: "gamma", Latency: 0.04})
	policytest.AssertWeights(t, policytest.Weights(t, p, down), map[string]float64{"beta": 1})
	policytest.AssertWeights(t, policytest.Weights(t, p, policytest.Round(allDown...)), map[string]float64{})
	policytest.AssertShares(t, policytest.Shares(t, p, policytest.Round(three...), picks, nil), map[string]float64{"alpha": 1}, 0)
}

func TestInverseLatency(t *testing.T) {
	p := policytest.Load(t, "inverse-latency.lua")
	w := policytest.Weights(t, p, policytest.Round(three...))
	if w["alpha"] != 2*w["beta"] || w["beta"] != 2*w["gamma"] {
		t.Errorf("weights %v, want proportional to 1/latency", w)
	}
	policytest.AssertShares(t, policytest.Shares(t, p, policytest.Round(three...), picks, nil),
		map[string]float64{"alpha": 4.0 / 7, "beta": 2.0 / 7, "gamma": 1.0 / 7}, 0.02)
	policytest.AssertShares(t, policytest.Shares(t, p, policytest.Round(betaDown...), picks, nil),
		map[string]float64{"alpha": 0.8, "gamma": 0.2}, 0.02)
}

func TestRoundRobin(t *testing.T) {
	p := policytest.Load(t, "round-robin.lua")
	if !p.HasPick {
		t.Fatal("round-robin must define pick")
	}
	// One interpreter walks the backends exactly in turn.
	policytest.AssertShares(t, policytest.Shares(t, p, policytest.Round(three...), 3000, nil),
		map[string]float64{"alpha": 1.0 / 3, "beta": 1.0 / 3, "gamma": 1.0 / 3}, 0.001)
	policytest.AssertShares(t, policytest.Shares(t, p, policytest.Round(betaDown...), 3000, nil),
		map[string]float64{"alpha": 0.5, "gamma": 0.5}, 0.001)
}

func TestSticky(t *testing.T) {
	p := policytest.Load(t, "sticky.lua")
	round := policytest.Round(three...)
	// The same client always lands on the same backend.
	req := sim.ClientIPs(2000)
	assign := func(round []policy.Backend) map[string]string {
		policytest.Weights(t, p, round)
		rows, err := sim.Run(p, round, 0, req) // publishes the round for pick
		if err != nil || rows == nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for i := range 2000 {
			r := req(i)
			name, err := p.Pick(r)
			if err != nil || name == "" {
				t.Fatalf("pick(%s) = %q, %v", r.ClientIP, name, err)
			}
			if prev, ok := out[r.ClientIP]; ok && prev != name {
				t.Fatalf("client %s moved from %s to %s", r.ClientIP, prev, name)
			}
			out[r.ClientIP] = name
		}
		return out
	}
	before := assign(round)
	policytest.AssertShares(t, policytest.Shares(t, p, round, 20000, req),
		map[string]float64{"alpha": 1.0 / 3, "beta": 1.0 / 3, "gamma": 1.0 / 3}, 0.04)
	// beta leaves: only beta's clients move.
	after := assign(policytest.Round(betaDown...))
	moved := 0
	for ip, was := range before {
		if was != "beta" && after[ip] != was {
			t.Fatalf("client %s moved from %s to %s though %s stayed up", ip, was, after[ip], was)
		}
		if was == "beta" {
			moved++
		}
	}
	if moved == 0 {
		t.Error("beta had no clients")
	}
	// meta.weight skews the split.
	heavy := policytest.Round(policytest.Backend{Name: "a", Latency: 0.01, Meta: map[string]string{"weight": "3"}},
		policytest.Backend{Name: "b", Latency: 0.01})
	policytest.AssertShares(t, policytest.Shares(t, p, heavy, 20000, req), map[string]float64{"a": 0.75, "b": 0.25}, 0.04)
}

func TestByPath(t *testing.T) {
	p := policytest.Load(t, "by-path.lua")
	byPath := func(path string) func(int) *policy.Request {
		return func(int) *policy.Request {
			return &policy.Request{Method: "GET", Path: path, ClientIP: "10.0.0.1", Header: func(string) string { return "" }}
		}
	}
	round := policytest.Round(three...)
	policytest.AssertShares(t, policytest.Shares(t, p, round, 1000, byPath("/video/cat.mp4")), map[string]float64{"alpha": 1}, 0)
	policytest.AssertShares(t, policytest.Shares(t, p, round, 1000, byPath("/static/app.js")), map[string]float64{"beta": 0.5, "gamma": 0.5}, 0.001)
	policytest.AssertShares(t, policytest.Shares(t, p, round, picks, byPath("/other")),
		map[string]float64{"alpha": 3.0 / 6, "beta": 2.0 / 6, "gamma": 1.0 / 6}, 0.02)
	// A route whose backends are down falls back to the weights.
	policytest.AssertShares(t, policytest.Shares(t, p, policytest.Round(betaDown...), 1000, byPath("/static/x")), map[string]float64{"gamma": 1}, 0)
	noAlpha := policytest.Round(policytest.Backend{Name: "alpha"}, policytest.Backend{Name: "beta", Latency: 0.02}, policytest.Backend{Name: "gamma", Latency: 0.04})
	policytest.AssertShares(t, policytest.Shares(t, p, noAlpha, picks, byPath("/video/x")), map[string]float64{"beta": 2.0 / 3, "gamma": 1.0 / 3}, 0.02)
}

func TestP2C(t *testing.T) {
	p := policytest.Load(t, "p2c.lua")
	// With three backends the fastest wins 2/3 of the pairs, the middle
	// one 1/3, the slowest none.
	policytest.AssertShares(t, policytest.Shares(t, p, policytest.Round(three...), picks, nil),
		map[string]float64{"alpha": 2.0 / 3, "beta": 1.0 / 3}, 0.02)
	policytest.AssertShares(t, policytest.Shares(t, p, policytest.Round(betaDown...), picks, nil), map[string]float64{"alpha": 1}, 0)
	alone := policytest.Round(policytest.Backend{Name: "gamma", Latency: 0.5})
	policytest.AssertShares(t, policytest.Shares(t, p, alone, 100, nil), map[string]float64{"gamma": 1}, 0)
}

// TestEveryPolicyHasATest fails when a policy file is added to the
// directory without a test above.
func TestEveryPolicyHasATest(t *testing.T) {
	tested := map[string]bool{"weighted-fastest.lua": true, "fastest.lua": true, "inverse-latency.lua": true,
		"round-robin.lua": true, "sticky.lua": true, "by-path.lua": true, "p2c.lua": true}
	files, err := filepath.Glob("*.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("no policies found: %v", err)
	}
	for _, f := range files {
		if !tested[f] {
			t.Errorf("%s has no test in policies_test.go", f)
		}
	}
}
