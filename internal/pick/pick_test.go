package pick

import (
	"math"
	"testing"
)

func TestRandomFollowsWeights(t *testing.T) {
	tests := []struct {
		name    string
		weights map[string]float64
	}{
		{"seed 3-2-1", map[string]float64{"a": 3, "b": 2, "c": 1}},
		{"one", map[string]float64{"a": 1}},
		{"zero excluded", map[string]float64{"a": 1, "b": 0, "c": 1}},
		{"fractions", map[string]float64{"a": 0.001, "b": 0.004}},
		{"huge", map[string]float64{"a": math.MaxFloat64, "b": math.MaxFloat64}},
	}
	const n = 200_000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ts []Target
			total := 0.0
			for name, w := range tt.weights {
				ts = append(ts, Target{Name: name, Weight: w})
				total += w / 1e300 // avoid overflow in the expectation
			}
			tab := New(ts)
			counts := map[string]int{}
			for range n {
				counts[tab.Random().Name]++
			}
			for name, w := range tt.weights {
				want := (w / 1e300) / total
				got := float64(counts[name]) / n
				// 200k draws: the standard error is below 0.0012; 0.01 cannot flake.
				if math.Abs(got-want) > 0.01 {
					t.Errorf("%s: share %.4f, want %.4f", name, got, want)
				}
			}
		})
	}
}

func TestEmptyAndLookup(t *testing.T) {
	if New(nil).Random() != nil {
		t.Error("empty table returned a target")
	}
	tab := New([]Target{{Name: "a", Weight: 0}, {Name: "b", Weight: 2}})
	if tab.Len() != 1 || tab.Lookup("a") == nil || tab.Lookup("z") != nil {
		t.Errorf("Len %d, Lookup a %v", tab.Len(), tab.Lookup("a"))
	}
	zero := New([]Target{{Name: "a"}})
	if zero.Random() != nil || zero.Lookup("a") == nil {
		t.Error("all-zero table: Random must be nil, Lookup must find a")
	}
}

func BenchmarkRandom(b *testing.B) {
	tab := New([]Target{{Name: "a", Weight: 3}, {Name: "b", Weight: 2}, {Name: "c", Weight: 1}})
	for b.Loop() {
		tab.Random()
	}
}
