// Package pick chooses a backend for each request from an immutable table of
// weights, built once per probe round and swapped in atomically.
package pick

import (
	"math/rand/v2"
	"sort"
	"sync/atomic"
)

// Target is one backend as the front end needs it.
type Target struct {
	Name      string
	Origin    string         // base URL without a trailing slash
	Weight    float64        // as weigh returned it
	Redirects *atomic.Uint64 // shared with the engine; survives reloads
}

// Table is an immutable set of healthy targets with their weights. It is
// safe for concurrent use.
type Table struct {
	targets []Target  // every healthy target, weighted or not
	cum     []float64 // cumulative normalised weights of targets[i]
	byName  map[string]*Target
}

// New builds a table from healthy targets. Weights are normalised by the
// largest so huge values cannot overflow; targets with weight 0 can still be
// chosen by name (a policy's pick) but never at random.
func New(targets []Target) *Table {
	t := &Table{targets: append([]Target(nil), targets...), byName: make(map[string]*Target, len(targets))}
	sort.SliceStable(t.targets, func(i, j int) bool { return t.targets[i].Weight > t.targets[j].Weight })
	top := 0.0
	for _, x := range t.targets {
		top = max(top, x.Weight)
	}
	sum := 0.0
	for i := range t.targets {
		x := &t.targets[i]
		t.byName[x.Name] = x
		if top > 0 && x.Weight > 0 {
			sum += x.Weight / top
			t.cum = append(t.cum, sum)
		}
	}
	return t
}

// Len returns the number of targets that can be chosen at random.
func (t *Table) Len() int { return len(t.cum) }

// Random returns a target drawn with probability proportional to its weight,
// or nil when no target has weight. It is O(log n).
func (t *Table) Random() *Target {
	n := len(t.cum)
	if n == 0 {
		return nil
	}
	if n == 1 {
		return &t.targets[0]
	}
	r := rand.Float64() * t.cum[n-1]
	i := sort.SearchFloat64s(t.cum, r)
	if i < n && t.cum[i] == r {
		i++ // r is exactly a boundary: it belongs to the next interval
	}
	return &t.targets[min(i, n-1)]
}

// Lookup returns the healthy target called name, or nil.
func (t *Table) Lookup(name string) *Target { return t.byName[name] }
