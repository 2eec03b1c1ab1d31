// Package sim runs a policy on made-up probe results, without a network, so
// a user can see what it will do before the balancer loads it.
package sim

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"ricochet/internal/pick"
	"ricochet/internal/policy"
)

// Row is one backend's outcome.
type Row struct {
	Name     string
	Latency  float64 // seconds, 0 when down
	Healthy  bool
	Weight   float64
	Expected float64 // share its weight alone gives
	Picks    int
	Share    float64
}

// ParseLatencies parses "a=0.010,b=0.020" into names (in order) and seconds.
func ParseLatencies(s string) ([]string, map[string]float64, error) {
	var names []string
	lat := map[string]float64{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, v, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return nil, nil, fmt.Errorf("latency %q: want name=SECONDS", part)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return nil, nil, fmt.Errorf("latency %q: want a positive number of seconds", part)
		}
		if _, dup := lat[name]; dup {
			return nil, nil, fmt.Errorf("latency: %q given twice", name)
		}
		names = append(names, name)
		lat[name] = f
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("no latencies: want e.g. a=0.010,b=0.020")
	}
	return names, lat, nil
}

// Backends builds the policy input for names, with latencies in seconds and
// the names in down marked unhealthy.
func Backends(names []string, lat map[string]float64, down map[string]bool) []policy.Backend {
	bs := make([]policy.Backend, 0, len(names))
	for i, n := range names {
		b := policy.Backend{Name: n, URL: fmt.Sprintf("http://127.0.0.1:%d", 8001+i), Meta: map[string]string{}, Status: 200}
		if !down[n] {
			l := lat[n]
			b.Healthy, b.HasLatency, b.Latency, b.TTFB, b.EWMA, b.Samples, b.Bytes = true, true, l, l/2, l, 1, 65536
		} else {
			b.Error = "down (simulated)"
		}
		bs = append(bs, b)
	}
	return bs
}

// ClientIPs returns a request generator cycling through k client addresses
// (10.0.x.y), all asking for "/".
func ClientIPs(k int) func(i int) *policy.Request {
	k = max(k, 1)
	base := netip.MustParseAddr("10.0.0.1").As4()
	return func(i int) *policy.Request {
		ip := base
		j := i % k
		ip[2], ip[3] = byte(j>>8), byte(j)+1
		return &policy.Request{Method: "GET", Path: "/", Host: "balancer", ClientIP: netip.AddrFrom4(ip).String(),
			Header: func(string) string { return "" }}
	}
}

// Run weighs bs with pol and draws n picks as the balancer would: the
// policy's pick for req(i) when it defines one, falling back to the
// weights, and the weights alone otherwise.
func Run(pol *policy.Policy, bs []policy.Backend, n int, req func(i int) *policy.Request) ([]Row, error) {
	w, err := pol.Weigh(bs)
	if err != nil {
		return nil, err
	}
	var targets []pick.Target
	total := 0.0
	for _, b := range bs {
		if b.Healthy {
			targets = append(targets, pick.Target{Name: b.Name, Weight: w[b.Name], Redirects: new(atomic.Uint64)})
			total += w[b.Name]
		}
	}
	tab := pick.New(targets)
	if pol.HasPick {
		withW := append([]policy.Backend(nil), bs...)
		for i := range withW {
			if withW[i].Healthy {
				withW[i].Weight = w[withW[i].Name]
			}
		}
		pol.SetBackends(withW)
	}
	counts := map[string]int{}
	for i := range n {
		var t *pick.Target
		if pol.HasPick {
			name, err := pol.Pick(req(i))
			if err == nil && name != "" {
				t = tab.Lookup(name)
			}
		}
		if t == nil {
			t = tab.Random()
		}
		if t != nil {
			counts[t.Name]++
		}
	}
	rows := make([]Row, 0, len(bs))
	for _, b := range bs {
		r := Row{Name: b.Name, Latency: b.Latency, Healthy: b.Healthy, Picks: counts[b.Name]}
		if b.Healthy {
			r.Weight = w[b.Name]
			if total > 0 {
				r.Expected = r.Weight / total
			}
		}
		if n > 0 {
			r.Share = float64(r.Picks) / float64(n)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// Format renders rows as an aligned text table.
func Format(rows []Row, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s %10s %8s %10s %9s %8s\n", "backend", "latency", "weight", "expected", "picks", "share")
	sorted := append([]Row(nil), rows...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Share > sorted[j].Share })
	for _, r := range sorted {
		lat := "down"
		if r.Healthy {
			lat = fmt.Sprintf("%.1f ms", r.Latency*1000)
		}
		fmt.Fprintf(&b, "%-16s %10s %8s %9.1f%% %9d %7.1f%%\n", r.Name, lat, strconv.FormatFloat(r.Weight, 'g', 4, 64),
			r.Expected*100, r.Picks, r.Share*100)
	}
	fmt.Fprintf(&b, "%d picks\n", n)
	return b.String()
}
